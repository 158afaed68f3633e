//! The training loop: mini-batches through the model, softmax cross-entropy, backward, optimizer
//! step; per-epoch metrics into a [`History`]; validation, evaluation and prediction in Eval mode.

use crate::checkpoint::Snapshot;
use crate::data::{Batch, Dataset};
use crate::error::Result;
use crate::layer::{Layer, Mode};
use crate::loss::{SoftmaxCrossEntropy, Targets};
use crate::metrics::count_correct;
use crate::optim::Optimizer;
use crate::rng;
use crate::tensor::Tensor;
use crate::train::progress::{Progress, Verbosity};
use crate::train::{EarlyStopping, EpochRecord, History, LrSchedule, Verdict};
use ndarray::Axis;
use rand::seq::SliceRandom;
use std::fmt;
use std::time::Instant;

/// Trains a classifier with softmax cross-entropy, Keras-style: configure with the builder
/// methods, then [`Trainer::fit`].
///
/// ```
/// use nn_core::{data::Dataset, layers::Linear, seeded, train::Trainer, Adam, Init, Tensor};
/// // Two well separated classes in two dimensions.
/// let x = Tensor::from_shape_fn(vec![64, 2], |i| if (i[0] % 2 == 0) == (i[1] == 0) { 1.0 } else { -1.0 });
/// let labels = (0..64).map(|i| i % 2).collect();
/// let data = Dataset::from_tensor(x, labels, 2)?;
/// let mut net = Linear::new(2, 2, Init::Xavier, &mut seeded(1));
/// let mut trainer = Trainer::new(Adam::new(0.05)).epochs(20).batch_size(16).silent();
/// let history = trainer.fit(&mut net, &data, None)?;
/// assert_eq!(history.last().unwrap().train_acc, 1.0);
/// assert_eq!(trainer.evaluate(&mut net, &data)?.accuracy, 1.0);
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// # What is measured
/// - Training loss: the mean over the epoch's samples of the batch losses, each taken in Train
///   mode with the weights the batch saw before its step (as Keras and the progress bar report
///   it). With L2 weight decay on the optimizer, each batch's loss includes
///   [`Optimizer::l2_penalty`] at that batch's weights: the objective the step minimises.
/// - Training accuracy: correct predictions over all samples of the epoch (exact, whatever the
///   size of the last batch), from the same Train-mode forward passes.
/// - Validation loss and accuracy: [`Trainer::evaluate`] after the epoch, in Eval mode.
///
/// # Determinism
/// The shuffle of epoch `e` is drawn from an RNG seeded with the trainer's seed and `e` alone, so
/// the same seed (and the same model and optimizer) gives the same history bit for bit, and a run
/// resumed with [`Trainer::initial_epoch`] sees the same batches an uninterrupted run would have.
/// Randomness inside the model (dropout masks) comes from the model's own seeded RNGs.
///
/// # No allocation per step
/// The trainer keeps one [`Batch`] and one index vector for its whole life; each step moves the
/// batch's images into `forward` and puts the input gradient `backward` returns (same shape)
/// back, so that the next fill reuses that buffer. Layers and the loss recycle their buffers too.
pub struct Trainer<O: Optimizer> {
    optimizer: O,
    /// The optimizer's learning rate when the trainer was built: what schedules scale.
    base_lr: f32,
    epochs: usize,
    initial_epoch: usize,
    batch_size: usize,
    seed: u64,
    shuffle: bool,
    drop_last: bool,
    schedule: LrSchedule,
    early_stopping: Option<EarlyStopping>,
    verbosity: Verbosity,
    loss: SoftmaxCrossEntropy,
    batch: Batch,
    order: Vec<usize>,
    best: Snapshot,
    /// The epochs of the current or last `fit`, kept when it fails.
    history: History,
}

/// The loss and accuracy of a model on a dataset, from [`Trainer::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean softmax cross-entropy over the samples, plus `l2_penalty`.
    pub loss: f32,
    /// Fraction of samples whose largest score is at their label.
    pub accuracy: f32,
    /// The optimizer's L2 penalty at the current weights, included in `loss` (0 without weight
    /// decay).
    pub l2_penalty: f32,
    /// The number of samples evaluated.
    pub samples: usize,
}

impl<O: Optimizer> Trainer<O> {
    /// A trainer for `optimizer` with 10 epochs, batches of 100 (the seed notebook's), seed
    /// [`rng::DEFAULT_SEED`], shuffling, a constant learning rate, no early stopping, and a
    /// progress display.
    pub fn new(optimizer: O) -> Self {
        Trainer {
            base_lr: optimizer.learning_rate(),
            optimizer,
            epochs: 10,
            initial_epoch: 0,
            batch_size: 100,
            seed: rng::DEFAULT_SEED,
            shuffle: true,
            drop_last: false,
            schedule: LrSchedule::Constant,
            early_stopping: None,
            verbosity: Verbosity::Progress,
            loss: SoftmaxCrossEntropy::new(),
            batch: Batch::new(),
            order: Vec::new(),
            best: Snapshot::default(),
            history: History::new(),
        }
    }

    /// The number of epochs `fit` trains to (counting epochs already done, see
    /// [`Trainer::initial_epoch`]).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Samples per mini-batch, for training and for evaluation.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        assert!(batch_size > 0, "Trainer::batch_size: must be at least 1");
        self.batch_size = batch_size;
        self
    }

    /// The seed of the per-epoch shuffles.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Whether to reshuffle the training set every epoch (default `true`); `false` keeps dataset
    /// order.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Whether to skip an epoch's last batch when it is smaller than the batch size (default
    /// `false`). With BatchNorm, a tiny last batch gives noisy batch statistics.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The learning-rate schedule, applied to the optimizer's rate at [`Trainer::new`] before
    /// each epoch.
    pub fn schedule(mut self, schedule: LrSchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Stops when the validation loss has not improved for the patience, and at the end of `fit`
    /// restores the weights (and buffers) of the best validation epoch. Needs a validation set.
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// How much to print (default [`Verbosity::Progress`]).
    pub fn verbosity(mut self, verbosity: Verbosity) -> Self {
        self.verbosity = verbosity;
        self
    }

    /// Prints nothing: [`Verbosity::Silent`].
    pub fn silent(self) -> Self {
        self.verbosity(Verbosity::Silent)
    }

    /// For resuming: the number of epochs already trained (at most [`Trainer::epochs`], else
    /// `fit` fails). `fit` then trains epochs `initial_epoch + 1 ..= epochs`, with the shuffles and learning rates those epochs have in
    /// an uninterrupted run. Restore the model (`checkpoint::load`) and the optimizer
    /// ([`Optimizer::load_state`] through [`Trainer::optimizer_mut`]) first; early stopping
    /// starts afresh.
    pub fn initial_epoch(mut self, epochs_done: usize) -> Self {
        self.initial_epoch = epochs_done;
        self
    }

    /// The optimizer (for its state, to save beside a checkpoint).
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }

    /// The optimizer, mutably (to restore its state when resuming).
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.optimizer
    }

    /// The epochs the last [`Trainer::fit`] completed, also when it failed: after a diverging
    /// loss, the curve up to the divergence (to save with [`History::save_csv`]).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Gives the optimizer back.
    pub fn into_optimizer(self) -> O {
        self.optimizer
    }

    /// Trains `net` on `train`, validating on `valid` after each epoch, and returns one record
    /// per epoch trained.
    ///
    /// Fails if [`Trainer::initial_epoch`] is beyond the epochs, if the training set yields no batch, if the validation set is empty, if early stopping is on without a validation
    /// set, if the loss becomes NaN or infinite ([`TrainError::NonFiniteLoss`], naming the epoch
    /// and batch; no step is taken on that loss, so the model keeps the weights that produced it),
    /// or if an optimizer step fails.
    pub fn fit(&mut self, net: &mut dyn Layer, train: &Dataset, valid: Option<&Dataset>) -> Result<History> {
        let n = train.len();
        let batches = if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        };
        if batches == 0 {
            return Err(TrainError::NoBatches {
                set: "training",
                samples: n,
                batch_size: self.batch_size,
                drop_last: self.drop_last,
            }
            .into());
        }
        if self.initial_epoch > self.epochs {
            return Err(TrainError::ResumedPastTheEnd {
                initial_epoch: self.initial_epoch,
                epochs: self.epochs,
            }
            .into());
        }
        // Checked now rather than by `evaluate` after the first epoch has trained.
        if valid.is_some_and(Dataset::is_empty) {
            return Err(TrainError::NoBatches {
                set: "validation",
                samples: 0,
                batch_size: self.batch_size,
                drop_last: false,
            }
            .into());
        }
        if self.early_stopping.is_some() && valid.is_none() {
            return Err(TrainError::EarlyStoppingWithoutValidation.into());
        }
        if let Some(es) = &mut self.early_stopping {
            es.reset();
        }
        self.history = History::new();
        let mut progress = Progress::new(self.verbosity, self.epochs);
        let mut best_epoch = None;
        let decay = self.optimizer.weight_decay() > 0.0;

        for epoch in self.initial_epoch..self.epochs {
            let started = Instant::now();
            let lr = self.schedule.lr_at(self.base_lr, epoch);
            self.optimizer.set_learning_rate(lr);
            self.shuffle_for(epoch, n);
            progress.start_epoch(epoch + 1, batches, self.batch_size);

            let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
            for b in 0..batches {
                let end = ((b + 1) * self.batch_size).min(n);
                train.fill_batch(&self.order[b * self.batch_size..end], &mut self.batch);
                let size = self.batch.len();

                let logits = net.forward(std::mem::take(&mut self.batch.images), Mode::Train);
                correct += count_correct(&logits, Targets::Classes(&self.batch.labels));
                let mut loss = self.loss.forward(logits, Targets::Classes(&self.batch.labels));
                if decay {
                    loss += self.optimizer.l2_penalty(net);
                }
                if !loss.is_finite() {
                    return Err(TrainError::NonFiniteLoss {
                        loss,
                        epoch: epoch + 1,
                        epochs: self.epochs,
                        batch: b + 1,
                        batches,
                        lr,
                    }
                    .into());
                }
                // The input gradient has the images' shape: the next fill writes into it.
                self.batch.images = net.backward(self.loss.backward());
                self.optimizer.step(net)?;

                loss_sum += f64::from(loss) * size as f64;
                seen += size;
                progress.batch_done((loss_sum / seen as f64) as f32);
            }

            let validation = match valid {
                Some(v) => Some(self.evaluate(net, v)?),
                None => None,
            };
            let record = EpochRecord {
                epoch: epoch + 1,
                train_loss: (loss_sum / seen as f64) as f32,
                train_acc: (correct as f64 / seen as f64) as f32,
                valid_loss: validation.map(|v| v.loss),
                valid_acc: validation.map(|v| v.accuracy),
                lr,
                seconds: started.elapsed().as_secs_f64(),
            };
            progress.end_epoch(&record);
            self.history.push(record);

            if let (Some(es), Some(v)) = (&mut self.early_stopping, validation) {
                match es.observe(epoch + 1, v.loss) {
                    Verdict::Improved => {
                        self.best.recapture(net);
                        best_epoch = Some(epoch + 1);
                    }
                    Verdict::Waiting { .. } => {}
                    Verdict::Stop => {
                        progress.note(&format!(
                            "early stopping: validation loss has not improved for {} epochs",
                            es.patience() + 1
                        ));
                        break;
                    }
                }
            }
        }

        if let Some(best) = best_epoch {
            if self.history.last().map(|r| r.epoch) != Some(best) {
                self.best.restore(net)?;
                let loss = self.history.records()[best - 1 - self.initial_epoch]
                    .valid_loss
                    .unwrap_or(f32::NAN);
                progress.note(&format!(
                    "restored the weights of epoch {best} (best valid_loss={loss:.4})"
                ));
            }
        }
        Ok(self.history.clone())
    }

    /// The loss and accuracy of `net` on `data`, in Eval mode, in batches of the trainer's batch
    /// size. The loss includes the optimizer's L2 penalty at the current weights, as the training
    /// loss does (see [`Evaluation::l2_penalty`]).
    ///
    /// Fails if `data` is empty. A diverged model gives a NaN loss here, not an error.
    pub fn evaluate(&mut self, net: &mut dyn Layer, data: &Dataset) -> Result<Evaluation> {
        if data.is_empty() {
            return Err(TrainError::NoBatches {
                set: "evaluation",
                samples: 0,
                batch_size: self.batch_size,
                drop_last: false,
            }
            .into());
        }
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        let mut batches = data.batches_in_order(self.batch_size);
        while let Some(batch) = batches.next_batch() {
            let logits = net.forward(std::mem::take(&mut batch.images), Mode::Eval);
            correct += count_correct(&logits, Targets::Classes(&batch.labels));
            let loss = self.loss.forward(logits, Targets::Classes(&batch.labels));
            loss_sum += f64::from(loss) * batch.len() as f64;
        }
        let l2_penalty = self.optimizer.l2_penalty(net);
        let samples = data.len();
        Ok(Evaluation {
            loss: (loss_sum / samples as f64) as f32 + l2_penalty,
            accuracy: (correct as f64 / samples as f64) as f32,
            l2_penalty,
            samples,
        })
    }

    /// The class probabilities `net` gives each sample of `data`, `[N, classes]` in dataset
    /// order (softmax of the Eval-mode outputs, computed in batches). Probabilities rather than
    /// class indices, so that a caller can also see how sure the model is; the predicted class
    /// of each row is its argmax ([`Trainer::predict_classes`], [`crate::metrics::argmax`]).
    pub fn predict(&mut self, net: &mut dyn Layer, data: &Dataset) -> Tensor {
        let mut parts = Vec::with_capacity(data.len().div_ceil(self.batch_size));
        let mut batches = data.batches_in_order(self.batch_size);
        while let Some(batch) = batches.next_batch() {
            let mut logits = net.forward(std::mem::take(&mut batch.images), Mode::Eval);
            softmax_rows(&mut logits);
            parts.push(logits);
        }
        if parts.is_empty() {
            return Tensor::zeros(vec![0, data.classes()]);
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views).expect("every batch has the same number of classes")
    }

    /// The predicted class of each sample of `data` (the argmax of [`Trainer::predict`]'s rows).
    pub fn predict_classes(&mut self, net: &mut dyn Layer, data: &Dataset) -> Vec<usize> {
        let p = self.predict(net, data);
        p.rows().into_iter().map(crate::metrics::argmax).collect()
    }

    /// Fills `self.order` with the sample order of `epoch` (0-based): the identity, shuffled by
    /// an RNG that depends only on the seed and the epoch.
    fn shuffle_for(&mut self, epoch: usize, n: usize) {
        self.order.clear();
        self.order.extend(0..n);
        if self.shuffle {
            // A different stream per epoch; the odd constant (2^64 / golden ratio) spreads
            // consecutive epochs far apart so that (seed, epoch) pairs do not collide.
            let mix = self.seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            self.order.shuffle(&mut rng::seeded(mix));
        }
    }
}

/// Softmax of each row of a `[N, classes]` tensor, in place, shifted by the row maximum.
fn softmax_rows(t: &mut Tensor) {
    for mut row in t.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0f32;
        row.mapv_inplace(|v| {
            let e = (v - max).exp();
            sum += e;
            e
        });
        row /= sum;
    }
}

/// Why training could not go on.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TrainError {
    /// The loss of a training batch was NaN or infinite: training diverged.
    NonFiniteLoss {
        /// The loss value (NaN, inf or -inf).
        loss: f32,
        /// The epoch, counting from 1.
        epoch: usize,
        /// The number of epochs of the run.
        epochs: usize,
        /// The batch within the epoch, counting from 1.
        batch: usize,
        /// Batches per epoch.
        batches: usize,
        /// The learning rate of the epoch.
        lr: f32,
    },
    /// A dataset gives no batch to work on.
    NoBatches {
        /// "training", "validation" or "evaluation".
        set: &'static str,
        /// Samples in the set.
        samples: usize,
        /// The batch size.
        batch_size: usize,
        /// Whether a short last batch is dropped.
        drop_last: bool,
    },
    /// Early stopping was configured but `fit` got no validation set to watch.
    EarlyStoppingWithoutValidation,
    /// [`Trainer::initial_epoch`] is beyond [`Trainer::epochs`], which counts the epochs already
    /// done too: there is nothing to train.
    ResumedPastTheEnd {
        /// Epochs already done.
        initial_epoch: usize,
        /// The total the run should reach.
        epochs: usize,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::NonFiniteLoss {
                loss,
                epoch,
                epochs,
                batch,
                batches,
                lr,
            } => write!(
                f,
                "training diverged: the loss is {loss} at epoch {epoch}/{epochs}, batch \
                 {batch}/{batches} (learning rate {}); fix: lower the learning rate (e.g. to \
                 {:e}), or clip gradients with `with_clip_grad_norm`",
                Readable(*lr),
                lr / 10.0
            ),
            TrainError::NoBatches {
                set,
                samples,
                batch_size,
                drop_last,
            } => {
                write!(f, "the {set} set gives no batch: {samples} samples")?;
                if *drop_last {
                    write!(
                        f,
                        ", fewer than one batch of {batch_size} with drop_last on; fix: a smaller \
                         batch size, or drop_last(false)"
                    )
                } else {
                    write!(f, "; fix: pass a non-empty dataset")
                }
            }
            TrainError::ResumedPastTheEnd {
                initial_epoch,
                epochs,
            } => write!(
                f,
                "the run resumes after epoch {initial_epoch} but is set to end at epoch {epochs}; \
                 fix: `epochs` counts the epochs already done, so set it to the total (above \
                 {initial_epoch})"
            ),
            TrainError::EarlyStoppingWithoutValidation => write!(
                f,
                "early stopping watches the validation loss, but fit got no validation set; fix: \
                 pass Some(&valid) to fit (e.g. from Dataset::split_valid), or drop early_stopping"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

/// A rate as typed when it is of a usual size (`0.5`, `0.001`), in exponent form otherwise
/// (`1e30` rather than thirty-one digits).
struct Readable(f32);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0.abs();
        if v == 0.0 || !v.is_finite() || (1e-4..1e4).contains(&v) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::layers::Linear;
    use crate::optim::Sgd;
    use crate::rng::seeded;

    /// 40 samples of 3 features in 2 classes.
    fn data() -> Dataset {
        let x = Tensor::from_shape_fn(vec![40, 3], |i| ((i[0] * 3 + i[1]) % 7) as f32 / 7.0 - 0.4);
        Dataset::from_tensor(x, (0..40).map(|i| i % 2).collect(), 2).unwrap()
    }

    #[test]
    fn each_epochs_order_is_a_permutation_fixed_by_seed_and_epoch() {
        let mut t = Trainer::new(Sgd::new(0.1)).seed(5);
        let order = |t: &mut Trainer<Sgd>, epoch| {
            t.shuffle_for(epoch, 50);
            t.order.clone()
        };
        let e0 = order(&mut t, 0);
        let e1 = order(&mut t, 1);
        let mut sorted = e0.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        // Epoch 1's order does not depend on epoch 0 having been drawn first.
        let mut fresh = Trainer::new(Sgd::new(0.1)).seed(5);
        assert_eq!(order(&mut fresh, 1), e1);
        let mut other_seed = Trainer::new(Sgd::new(0.1)).seed(6);
        assert_ne!(order(&mut other_seed, 0), e0);
        let mut in_order = Trainer::new(Sgd::new(0.1)).seed(5).shuffle(false);
        assert_eq!(order(&mut in_order, 3), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn reported_losses_include_the_weight_decay_penalty() {
        // Learning rate 0: the weights stay put, so each batch's loss is the Eval loss of its
        // samples (a Linear has no Train/Eval difference) and the penalty is the same throughout.
        let run = |lambda: f32| {
            let mut net = Linear::new(3, 2, Init::Std(1.0), &mut seeded(1));
            let mut t = Trainer::new(Sgd::new(0.0).with_weight_decay(lambda))
                .epochs(1)
                .batch_size(8)
                .silent();
            let h = t.fit(&mut net, &data(), None).unwrap();
            let e = t.evaluate(&mut net, &data()).unwrap();
            (h.records()[0].train_loss, e)
        };
        let (plain, plain_eval) = run(0.0);
        let (decayed, decayed_eval) = run(0.5);
        assert_eq!(plain_eval.l2_penalty, 0.0);
        let penalty = decayed_eval.l2_penalty;
        assert!(penalty > 0.1, "{penalty}");
        assert!(
            (decayed - (plain + penalty)).abs() < 1e-5,
            "{decayed} vs {plain} + {penalty}"
        );
        assert!((decayed_eval.loss - (plain_eval.loss + penalty)).abs() < 1e-6);
        assert!(
            (plain - plain_eval.loss).abs() < 1e-5,
            "{plain} vs {}",
            plain_eval.loss
        );
    }

    #[test]
    fn evaluation_accuracy_is_exact_over_a_short_last_batch() {
        // 40 samples in batches of 16: 16 + 16 + 8. A mean of batch accuracies would weigh the
        // last 8 samples double.
        let mut net = Linear::new(3, 2, Init::Std(1.0), &mut seeded(3));
        let mut t = Trainer::new(Sgd::new(0.1)).batch_size(16).silent();
        let e = t.evaluate(&mut net, &data()).unwrap();
        let p = t.predict_classes(&mut net, &data());
        let hits: Vec<bool> = p.iter().zip(data().labels()).map(|(a, b)| a == b).collect();
        let correct = hits.iter().filter(|&&h| h).count();
        assert_eq!(e.accuracy, correct as f32 / 40.0);
        // The naive mean of the three batch accuracies differs here, so the check has teeth.
        let batch_acc = |r: std::ops::Range<usize>| {
            let n = r.len() as f32;
            hits[r].iter().filter(|&&h| h).count() as f32 / n
        };
        let naive = (batch_acc(0..16) + batch_acc(16..32) + batch_acc(32..40)) / 3.0;
        assert_ne!(naive, e.accuracy);
        assert_eq!(e.samples, 40);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_the_order() {
        let mut t = Tensor::from_shape_vec(vec![2, 3], vec![1.0, 2.0, 3.0, 1000.0, 0.0, -1000.0]).unwrap();
        softmax_rows(&mut t);
        for row in t.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
        assert!(t[[0, 2]] > t[[0, 1]] && t[[0, 1]] > t[[0, 0]]);
        assert_eq!(t[[1, 0]], 1.0);
    }

    #[test]
    fn empty_sets_are_errors_that_say_why() {
        let mut net = Linear::new(3, 2, Init::Std(1.0), &mut seeded(1));
        let empty = data().subset(&[]).unwrap();
        let mut t = Trainer::new(Sgd::new(0.1)).silent();
        let err = t.fit(&mut net, &empty, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "the training set gives no batch: 0 samples; fix: pass a non-empty dataset"
        );
        // An empty validation set fails before any training, not after the first epoch.
        let before = crate::checkpoint::Snapshot::capture(&mut net);
        let err = t.fit(&mut net, &data(), Some(&empty)).unwrap_err().to_string();
        assert_eq!(
            err,
            "the validation set gives no batch: 0 samples; fix: pass a non-empty dataset"
        );
        assert_eq!(
            before.get("weight"),
            crate::checkpoint::Snapshot::capture(&mut net).get("weight")
        );
        let err = t.evaluate(&mut net, &empty).unwrap_err().to_string();
        // Resuming after epoch 5 of a run set to 3 epochs trains nothing: an error, not an
        // empty history. Resuming a finished run (5 of 5) is a no-op.
        let mut resumed = Trainer::new(Sgd::new(0.1)).epochs(3).initial_epoch(5).silent();
        let resume_err = resumed.fit(&mut net, &data(), None).unwrap_err().to_string();
        assert!(
            resume_err.contains("resumes after epoch 5 but is set to end at epoch 3"),
            "{resume_err}"
        );
        let mut finished = Trainer::new(Sgd::new(0.1)).epochs(5).initial_epoch(5).silent();
        assert!(finished.fit(&mut net, &data(), None).unwrap().is_empty());
        assert!(err.starts_with("the evaluation set gives no batch"), "{err}");
        assert_eq!(t.predict(&mut net, &empty).shape(), &[0, 2]);
    }

    #[test]
    fn the_divergence_message_names_where_and_suggests_a_lower_rate() {
        let e = TrainError::NonFiniteLoss {
            loss: f32::NAN,
            epoch: 3,
            epochs: 15,
            batch: 57,
            batches: 600,
            lr: 0.5,
        };
        assert_eq!(
            e.to_string(),
            "training diverged: the loss is NaN at epoch 3/15, batch 57/600 (learning rate 0.5); \
             fix: lower the learning rate (e.g. to 5e-2), or clip gradients with `with_clip_grad_norm`"
        );
        let huge = TrainError::NonFiniteLoss {
            loss: f32::INFINITY,
            epoch: 1,
            epochs: 1,
            batch: 1,
            batches: 1,
            lr: 1e36,
        };
        assert!(huge.to_string().contains("(learning rate 1e36)"), "{huge}");
    }
}
