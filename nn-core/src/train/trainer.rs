//! The [`Trainer`]: what to train with (optimizer, loss, metrics, epochs, batches, schedule,
//! callbacks), set by builder methods. Its [`Trainer::fit`] is in `fit.rs`.

use crate::loss::{Loss, SoftmaxCrossEntropy};
use crate::metrics::{self, Metric};
use crate::optim::Optimizer;
use crate::rng;
use crate::train::callback::{Callback, Control};
use crate::train::early_stopping::EarlyStopping;
use crate::train::history::History;
use crate::train::progress::Verbosity;
use crate::train::schedule::LrSchedule;

/// Trains a network with a loss (softmax cross-entropy unless [`Trainer::loss`] says otherwise)
/// and records metrics (accuracy for a classifier unless [`Trainer::metrics`] says otherwise),
/// Keras-style: configure with the builder methods, then [`Trainer::fit`].
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
/// assert_eq!(history.last().unwrap().train_metric("acc"), Some(1.0));
/// assert_eq!(trainer.evaluate(&mut net, &data)?.metric("acc"), Some(1.0));
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// Regression is the same with another loss and metrics:
///
/// ```
/// use nn_core::{loss::MseLoss, seeded, train::Trainer, Adam, Dataset, Init, Linear, Tensor};
/// let x = Tensor::from_shape_fn(vec![64, 1], |i| i[0] as f32 / 32.0 - 1.0);
/// let y = x.mapv(|v| 3.0 * v - 0.5); // y = 3x - 0.5
/// let data = Dataset::from_tensors(x, y)?;
/// let mut net = Linear::new(1, 1, Init::Xavier, &mut seeded(1));
/// let mut trainer = Trainer::new(Adam::new(0.1)).loss(MseLoss::new()).metrics(["mae"]).epochs(60).silent();
/// let history = trainer.fit(&mut net, &data, None)?;
/// assert!(history.last().unwrap().train_metric("mae").unwrap() < 0.05);
/// assert_eq!(history.last().unwrap().train_metric("acc"), None);
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// # What is measured
/// - Training loss: the mean over the epoch's samples of the batch losses, each taken in Train
///   mode with the weights the batch saw before its step (as Keras and the progress bar report
///   it). With L2 weight decay on the optimizer, each batch's loss includes
///   [`Optimizer::l2_penalty`] at that batch's weights: the objective the step minimises.
/// - Training metrics: over all samples of the epoch (exact, whatever the size of the last
///   batch), from the same Train-mode forward passes.
/// - Validation loss and metrics: [`Trainer::evaluate`] after the epoch, in Eval mode.
///
/// # Checked before the first step
/// `fit` runs the network once in Eval mode on one sample of zeros (as `summary` does) to learn
/// the shape of its output, and checks every dataset's targets against the loss and each metric
/// ([`Loss::check`], [`Metric::check`]): class indices given to `MseLoss`, values of the wrong
/// width, or more classes than the network has outputs are a [`TrainError::TargetMismatch`](crate::train::TrainError::TargetMismatch)
/// naming the loss or metric, the set and both shapes, before anything trains.
///
/// # Determinism
/// Training draws its batches from [`DataSource::batches`](crate::data::DataSource::batches) with the trainer's seed: the order of
/// epoch `e` depends on the seed and `e` alone, so the same seed (and the same model and
/// optimizer) gives the same history bit for bit, and a run resumed with
/// [`Trainer::initial_epoch`] sees the same batches an uninterrupted run would have. Randomness
/// inside the model comes from the model's own seeded RNGs; dropout draws each epoch's masks from
/// its seed and the epoch (told through [`Layer::prepare`](crate::layer::Layer::prepare)), so a run resumed from a checkpoint
/// ([`Trainer::resume`]) ends with the same weights, bit for bit, as one never interrupted.
///
/// # Freezing and parameter groups
/// Parameters the optimizer freezes ([`crate::optim::ParamGroup`]) are not updated, and before
/// each epoch the trainer tells every layer ([`TrainingPlan`](crate::layer::TrainingPlan)) which gradients are needed: a
/// frozen layer skips its parameter gradients, and the frozen start of a network (whose input
/// needs no gradient) skips backward altogether. Each group's rate follows the schedule from its
/// own starting rate.
///
/// # Callbacks
/// [`Trainer::callback`] adds a [`Callback`]: code run at the start and end of training, of each
/// epoch and of each batch, which can stop training or ask for a checkpoint
/// ([`crate::train::ModelCheckpoint`], [`crate::train::ReduceLROnPlateau`],
/// [`crate::train::CsvLogger`], [`EarlyStopping`]).
///
/// # No allocation per step
/// Each step moves the batch's inputs into `forward` and puts the input gradient `backward`
/// returns (same shape) back, so that the next fill of the [`Batches`](crate::data::Batches) buffer reuses it. Layers,
/// the loss and the metrics recycle their buffers too.
pub struct Trainer<O: Optimizer, L: Loss = SoftmaxCrossEntropy> {
    pub(super) optimizer: O,
    pub(super) epochs: usize,
    pub(super) initial_epoch: usize,
    pub(super) batch_size: usize,
    pub(super) seed: u64,
    pub(super) shuffle: bool,
    pub(super) drop_last: bool,
    pub(super) schedule: LrSchedule,
    /// Whether BatchNorm layers with frozen parameters keep their running statistics.
    pub(super) norm_stats_frozen: bool,
    pub(super) verbosity: Verbosity,
    pub(super) loss: L,
    pub(super) metrics: Vec<Box<dyn Metric>>,
    /// Whether the metrics were chosen (else they follow the loss's defaults).
    pub(super) metrics_chosen: bool,
    pub(super) callbacks: Vec<Box<dyn Callback>>,
    /// Where training is, the schedule's starting rates, the callbacks' requests.
    pub(super) control: Control,
    /// The epochs a checkpoint restored with [`Trainer::resume`], which `fit` continues.
    pub(super) resumed: Option<History>,
    /// The epochs of the current or last `fit`, kept when it fails.
    pub(super) history: History,
}

impl<O: Optimizer> Trainer<O> {
    /// A trainer for `optimizer` with softmax cross-entropy and accuracy, 10 epochs, batches of
    /// 100 (the seed notebook's), seed [`rng::DEFAULT_SEED`], shuffling, a constant learning
    /// rate, no early stopping, and a progress display.
    pub fn new(optimizer: O) -> Self {
        let loss = SoftmaxCrossEntropy::new();
        Trainer {
            control: Control {
                base_lrs: starting_rates(&optimizer),
                ..Control::default()
            },
            optimizer,
            epochs: 10,
            initial_epoch: 0,
            batch_size: 100,
            seed: rng::DEFAULT_SEED,
            shuffle: true,
            drop_last: false,
            schedule: LrSchedule::Constant,
            norm_stats_frozen: false,
            verbosity: Verbosity::Progress,
            metrics: defaults(&loss),
            metrics_chosen: false,
            loss,
            callbacks: Vec::new(),
            resumed: None,
            history: History::new(),
        }
    }
}

/// The optimizer's rates now: its default group's, then each parameter group's.
pub(super) fn starting_rates(optimizer: &dyn Optimizer) -> Vec<f32> {
    let groups = optimizer.param_groups().iter().map(|g| g.learning_rate());
    std::iter::once(optimizer.learning_rate()).chain(groups).collect()
}

/// The built-in metrics `loss` asks for.
fn defaults(loss: &dyn Loss) -> Vec<Box<dyn Metric>> {
    loss.default_metrics()
        .iter()
        .map(|name| {
            metrics::by_name(name).unwrap_or_else(|| panic!("{}: no metric called {name}", loss.name()))
        })
        .collect()
}

impl<O: Optimizer, L: Loss> Trainer<O, L> {
    /// Trains with `loss` instead (PyTorch's `criterion`): [`crate::loss::MseLoss`] for
    /// regression, [`crate::loss::BceWithLogitsLoss`] for multi-label outputs, any [`Loss`]. The
    /// metrics become the new loss's defaults (none for the regression losses) unless
    /// [`Trainer::metrics`] or [`Trainer::metric`] chose them.
    pub fn loss<L2: Loss>(self, loss: L2) -> Trainer<O, L2> {
        let metrics = if self.metrics_chosen {
            self.metrics
        } else {
            defaults(&loss)
        };
        Trainer {
            optimizer: self.optimizer,
            epochs: self.epochs,
            initial_epoch: self.initial_epoch,
            batch_size: self.batch_size,
            seed: self.seed,
            shuffle: self.shuffle,
            drop_last: self.drop_last,
            schedule: self.schedule,
            norm_stats_frozen: self.norm_stats_frozen,
            verbosity: self.verbosity,
            loss,
            metrics,
            metrics_chosen: self.metrics_chosen,
            callbacks: self.callbacks,
            control: self.control,
            resumed: self.resumed,
            history: self.history,
        }
    }

    /// The metrics to record, by name, replacing the loss's defaults (Keras'
    /// `metrics=[...]`): `acc`, `top<k>_acc` (e.g. `top5_acc`), `mae`, `rmse`. Each becomes
    /// the `train_<name>` and `valid_<name>` columns of the history.
    ///
    /// # Panics
    /// On a name that is not a built-in metric, or one given twice.
    pub fn metrics<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.metrics.clear();
        self.metrics_chosen = true;
        for name in names {
            let name = name.as_ref();
            let metric = metrics::by_name(name).unwrap_or_else(|| {
                panic!(
                    "Trainer::metrics: no built-in metric is called '{name}'; the built-ins are {} \
                     (add your own with Trainer::metric)",
                    metrics::BUILT_IN
                )
            });
            self = self.metric_boxed(metric);
        }
        self
    }

    /// Records `metric` too, after the others: a metric of your own, or a built-in by value
    /// (`TopKAccuracy::new(3)`).
    ///
    /// # Panics
    /// If a metric of the same name is already recorded.
    pub fn metric(self, metric: impl Metric + 'static) -> Self {
        self.metric_boxed(Box::new(metric))
    }

    fn metric_boxed(mut self, metric: Box<dyn Metric>) -> Self {
        assert!(
            self.metrics.iter().all(|m| m.name() != metric.name()),
            "Trainer::metric: a metric called '{}' is already recorded",
            metric.name()
        );
        self.metrics_chosen = true;
        self.metrics.push(metric);
        self
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

    /// Whether to reshuffle the training set every epoch (default `true`); `false` keeps the
    /// source's order.
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

    /// The learning-rate schedule, applied before each epoch to each parameter group's starting
    /// rate (the optimizer's rates when the trainer was built, or when a group was added).
    pub fn schedule(mut self, schedule: LrSchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Stops once the validation loss has not improved for `patience` epochs in a row (as in
    /// Keras, see [`EarlyStopping`]), and at the end of `fit` restores the weights (and buffers)
    /// of early stopping's best epoch, which the returned [`History::best_epoch`] names. Needs a
    /// validation set. The same as `.callback(early_stopping)`.
    pub fn early_stopping(self, early_stopping: EarlyStopping) -> Self {
        self.callback(early_stopping)
    }

    /// Adds `callback`, run after those added before it (see [`Callback`]).
    pub fn callback(mut self, callback: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// With `true`, BatchNorm layers whose parameters are all frozen normalise with their
    /// running statistics in training too and leave them unchanged, as fine-tuning with a frozen
    /// body usually wants (PyTorch's `module.eval()` on the frozen part). Default `false`: they
    /// use batch statistics and update their running statistics, as any BatchNorm in training.
    pub fn freeze_norm_stats(mut self, frozen: bool) -> Self {
        self.norm_stats_frozen = frozen;
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
    /// `fit` fails). `fit` then trains epochs `initial_epoch + 1 ..= epochs`, with the shuffles
    /// and learning rates those epochs have in an uninterrupted run. Restore the model
    /// (`checkpoint::load`) and the optimizer ([`Optimizer::load_state`] through
    /// [`Trainer::optimizer_mut`]) first. [`Trainer::resume`] does all of this from a checkpoint
    /// written during training, callbacks' state and history included.
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

    /// The loss.
    pub fn loss_fn(&self) -> &L {
        &self.loss
    }

    /// The names of the metrics recorded, in order.
    pub fn metric_names(&self) -> Vec<String> {
        self.metrics.iter().map(|m| m.name().to_string()).collect()
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
}
