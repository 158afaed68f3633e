//! [`Trainer::fit`]: checks its arguments (`checks.rs`), then trains epoch after epoch, each a
//! run of steps (forward, metrics, loss, backward, optimizer step) over [`Batches`] of any
//! [`DataSource`], into a [`History`], calling the trainer's [`Callback`]s on the way.

use crate::data::{Batch, Batches, DataSource};
use crate::error::Result;
use crate::layer::{Layer, Mode, TrainingPlan};
use crate::loss::Loss;
use crate::optim::Optimizer;
use crate::train::callback::{Callback, Context};
use crate::train::error::TrainError;
use crate::train::history::{EpochRecord, History, MetricValues};
use crate::train::progress::Progress;
use crate::train::trainer::{starting_rates, Trainer};
use std::time::Instant;

impl<O: Optimizer, L: Loss> Trainer<O, L> {
    /// Trains `net` on `train`, validating on `valid` after each epoch, and returns one record
    /// per epoch trained. Any [`DataSource`] works: a [`crate::data::Dataset`], or your own.
    ///
    /// Fails before anything trains if [`Trainer::initial_epoch`] is beyond the epochs, if the
    /// training set yields no batch, if the validation set is empty or its inputs differ in
    /// shape, if early stopping is on without a validation set, or if a set's targets do not fit
    /// the loss or a metric ([`TrainError::TargetMismatch`]); during training if a batch cannot
    /// be read, if the loss becomes NaN or infinite ([`TrainError::NonFiniteLoss`], naming the
    /// epoch and batch; no step is taken on that loss, so the model keeps the weights that
    /// produced it), or if an optimizer step fails.
    pub fn fit(
        &mut self,
        net: &mut dyn Layer,
        train: &dyn DataSource,
        valid: Option<&dyn DataSource>,
    ) -> Result<History> {
        let mut batches = self.check(net, train, valid)?;
        self.optimizer.check_model(net)?;
        self.start(valid.is_some())?;
        let mut progress = Progress::new(self.verbosity, self.epochs);
        let trained = self.train_epochs(net, &mut batches, valid, &mut progress);
        // Outside `fit`, the network computes every gradient again, whatever happened.
        TrainingPlan::full().apply(net);
        trained?;
        Ok(self.history.clone())
    }

    /// Gets `control` and the history ready for a `fit`: a new history, or the epochs a
    /// checkpoint restored; the starting rates of groups added since the trainer was built.
    fn start(&mut self, has_validation: bool) -> Result<()> {
        let history = History::with_metrics(self.loss.name(), self.metric_names());
        self.history = match self.resumed.take() {
            Some(resumed) => resumed,
            None => history,
        };
        let rates = starting_rates(&self.optimizer);
        if self.control.base_lrs.len() != rates.len() {
            let known = self.control.base_lrs.len().min(rates.len());
            self.control.base_lrs.truncate(known);
            self.control.base_lrs.extend_from_slice(&rates[known..]);
        }
        self.control.epochs = self.epochs;
        self.control.initial_epoch = self.initial_epoch;
        self.control.epoch = self.initial_epoch;
        self.control.has_validation = has_validation;
        self.control.stop = None;
        Ok(())
    }

    /// The epochs of a `fit`, between the callbacks' `on_train_begin` and `on_train_end`.
    fn train_epochs(
        &mut self,
        net: &mut dyn Layer,
        batches: &mut Batches<'_>,
        valid: Option<&dyn DataSource>,
        progress: &mut Progress,
    ) -> Result<()> {
        self.hooks(net, progress, |cb, ctx| cb.on_train_begin(ctx))?;
        for epoch in self.initial_epoch..self.epochs {
            let record = self.train_epoch(net, batches, epoch, valid, progress)?;
            self.end_epoch(net, record, progress)?;
            if let Some(reason) = &self.control.stop {
                progress.note(reason);
                break;
            }
        }
        self.hooks(net, progress, |cb, ctx| cb.on_train_end(ctx))
    }

    /// The training batches of `train`, in the trainer's order.
    pub(super) fn training_batches<'d>(&self, train: &'d dyn DataSource) -> Batches<'d> {
        let batches = Batches::new(train, self.batch_size)
            .training(true)
            .drop_last(self.drop_last);
        if self.shuffle {
            batches.shuffled(self.seed)
        } else {
            batches
        }
    }

    /// Trains epoch `epoch` (0-based) over `batches`, then validates on `valid`: its record.
    fn train_epoch(
        &mut self,
        net: &mut dyn Layer,
        batches: &mut Batches<'_>,
        epoch: usize,
        valid: Option<&dyn DataSource>,
        progress: &mut Progress,
    ) -> Result<EpochRecord> {
        let started = Instant::now();
        self.begin_epoch(net, epoch, progress)?;
        let lr = self.optimizer.learning_rate();
        let mut totals = Totals {
            epoch: epoch + 1,
            epochs: self.epochs,
            batches: batches.batches_per_epoch(),
            lr,
            ..Totals::default()
        };
        self.metrics.iter_mut().for_each(|m| m.reset());
        progress.start_epoch(totals.epoch, totals.batches, self.batch_size);
        batches.set_epoch(epoch);
        while let Some(batch) = batches.next_batch()? {
            let loss = self.step(net, batch, &mut totals)?;
            progress.batch_done(totals.mean_loss());
            if !self.callbacks.is_empty() {
                let step = totals.steps;
                self.hooks(net, progress, |cb, ctx| cb.on_batch_end(ctx, step, loss))?;
                if self.control.stop.is_some() {
                    break;
                }
            }
        }
        let train_metrics = self.metric_values();
        let validation = valid.map(|v| self.run_evaluation(net, v)).transpose()?;
        let (valid_loss, valid_metrics) = match validation {
            Some(v) => (Some(v.loss), v.metrics),
            None => (None, MetricValues::new()),
        };
        let record = EpochRecord {
            epoch: totals.epoch,
            train_loss: totals.mean_loss(),
            train_metrics,
            valid_loss,
            valid_metrics,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        progress.end_epoch(&record);
        Ok(record)
    }

    /// Gets epoch `epoch` (0-based) ready: every group's rate from the schedule, the layers'
    /// [`TrainingPlan`] (which gradients they compute, the epoch for dropout), then the callbacks.
    fn begin_epoch(&mut self, net: &mut dyn Layer, epoch: usize, progress: &Progress) -> Result<()> {
        let (schedule, bases) = (self.schedule, &self.control.base_lrs);
        self.optimizer.set_learning_rate(schedule.lr_at(bases[0], epoch));
        for (group, &base) in bases[1..].iter().enumerate() {
            self.optimizer
                .set_group_learning_rate(group, schedule.lr_at(base, epoch));
        }
        let optimizer = &self.optimizer;
        let frozen = |name: &str| optimizer.is_frozen(name);
        TrainingPlan::new(&frozen)
            .with_epoch(epoch)
            .with_norm_stats_frozen(self.norm_stats_frozen)
            .apply(net);
        self.control.epoch = epoch + 1;
        self.hooks(net, progress, |cb, ctx| cb.on_epoch_begin(ctx))
    }

    /// One training step on `batch`, in the order a batch flows: forward in Train mode, the
    /// metrics, the loss, its gradient, backward through the net, the optimizer step, the
    /// epoch's totals. Takes no step on a NaN or infinite loss; returns the batch's loss.
    fn step(&mut self, net: &mut dyn Layer, batch: &mut Batch, totals: &mut Totals) -> Result<f32> {
        let output = net.forward(std::mem::take(&mut batch.inputs), Mode::Train);
        let targets = batch.targets();
        for metric in &mut self.metrics {
            metric.update(&output, targets);
        }
        let mut loss = self.loss.forward(output, targets);
        let penalty = self.optimizer.l2_penalty(net);
        if penalty != 0.0 {
            loss += penalty;
        }
        if !loss.is_finite() {
            return Err(totals.diverged(loss).into());
        }
        let grad = self.loss.backward();
        // The input gradient has the inputs' shape: the next fill writes into it.
        batch.inputs = net.backward(grad);
        self.optimizer.step(net)?;
        totals.add(loss, batch.len());
        Ok(loss)
    }

    /// After an epoch: its record into the history, the callbacks' `on_epoch_end`, then the
    /// checkpoints they asked for (so that each holds every callback's state after the epoch).
    fn end_epoch(&mut self, net: &mut dyn Layer, record: EpochRecord, progress: &Progress) -> Result<()> {
        self.history.push(record.clone());
        self.control.checkpoints.clear();
        self.hooks(net, progress, |cb, ctx| cb.on_epoch_end(ctx, &record))?;
        for dir in std::mem::take(&mut self.control.checkpoints) {
            self.save_checkpoint(net, &dir)?;
        }
        Ok(())
    }

    /// Runs `hook` on every callback, in order, each with a [`Context`] of the run.
    fn hooks(
        &mut self,
        net: &mut dyn Layer,
        progress: &Progress,
        mut hook: impl FnMut(&mut dyn Callback, &mut Context<'_>) -> Result<()>,
    ) -> Result<()> {
        let Trainer {
            callbacks,
            optimizer,
            control,
            history,
            ..
        } = self;
        for callback in callbacks.iter_mut() {
            let mut ctx = Context {
                net: &mut *net,
                optimizer: &mut *optimizer,
                control: &mut *control,
                history: &mut *history,
                progress,
            };
            hook(callback.as_mut(), &mut ctx)?;
        }
        Ok(())
    }

    /// Every metric's value since its last reset.
    pub(super) fn metric_values(&self) -> MetricValues {
        self.metrics.iter().map(|m| (m.name(), m.value())).collect()
    }
}

/// One epoch's running sums, and where it is (for the divergence error).
#[derive(Default)]
struct Totals {
    /// The epoch, counting from 1, of `epochs`.
    epoch: usize,
    pub(super) epochs: usize,
    /// Batches per epoch, and the steps taken so far.
    batches: usize,
    steps: usize,
    lr: f32,
    /// Sum over the steps of the batch loss times the batch size.
    loss_sum: f64,
    seen: usize,
}

impl Totals {
    fn add(&mut self, loss: f32, size: usize) {
        self.loss_sum += f64::from(loss) * size as f64;
        self.seen += size;
        self.steps += 1;
    }

    /// The mean training loss over the samples seen so far.
    fn mean_loss(&self) -> f32 {
        (self.loss_sum / self.seen as f64) as f32
    }

    /// The error for a non-finite `loss` at the next batch.
    fn diverged(&self, loss: f32) -> TrainError {
        TrainError::NonFiniteLoss {
            loss,
            epoch: self.epoch,
            epochs: self.epochs,
            batch: self.steps + 1,
            batches: self.batches,
            lr: self.lr,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checkpoint::Snapshot;
    use crate::data::Dataset;
    use crate::init::Init;
    use crate::layers::Linear;
    use crate::loss::SoftmaxCrossEntropy;
    use crate::optim::Sgd;
    use crate::rng::seeded;
    use crate::tensor::Tensor;

    /// 40 samples of 3 features in 2 classes.
    pub(crate) fn data() -> Dataset {
        let x = Tensor::from_shape_fn(vec![40, 3], |i| ((i[0] * 3 + i[1]) % 7) as f32 / 7.0 - 0.4);
        Dataset::from_tensor(x, (0..40).map(|i| i % 2).collect(), 2).unwrap()
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
    fn training_follows_the_batches_order_for_each_epoch() {
        // One epoch of plain SGD in batches of 8 in the order of `Dataset::batches` with the
        // trainer's seed, written out by hand: fit must land on the same weights, bit for bit.
        let data = data();
        let mut by_hand = Linear::new(3, 2, Init::Std(1.0), &mut seeded(1));
        let mut opt = Sgd::new(0.1);
        let mut loss = SoftmaxCrossEntropy::new();
        let mut batches = data.batches(8, 9);
        batches.set_epoch(1);
        while let Some(b) = batches.next_batch().unwrap() {
            let logits = by_hand.forward(std::mem::take(&mut b.inputs), Mode::Train);
            loss.forward(logits, b.targets());
            by_hand.backward(loss.backward());
            opt.step(&mut by_hand).unwrap();
        }
        let mut fitted = Linear::new(3, 2, Init::Std(1.0), &mut seeded(1));
        // Resumed after one epoch, so that the epoch trained is the second (index 1).
        let mut t = Trainer::new(Sgd::new(0.1))
            .epochs(2)
            .initial_epoch(1)
            .batch_size(8)
            .seed(9)
            .silent();
        t.fit(&mut fitted, &data, None).unwrap();
        let weights = |net: &mut Linear| Snapshot::capture(net).get("weight").unwrap().clone();
        assert_eq!(weights(&mut fitted), weights(&mut by_hand));
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
        let before = Snapshot::capture(&mut net);
        let err = t.fit(&mut net, &data(), Some(&empty)).unwrap_err().to_string();
        assert_eq!(
            err,
            "the validation set gives no batch: 0 samples; fix: pass a non-empty dataset"
        );
        assert_eq!(before.get("weight"), Snapshot::capture(&mut net).get("weight"));
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
    }
}
