//! [`Callback`]: hooks into [`Trainer::fit`](crate::train::Trainer::fit) at the start and end
//! of training, of each epoch and of each batch, and the [`Context`] they see (the network, the
//! optimizer, the learning rates, the history), through which they can stop training or ask for
//! a checkpoint.

use crate::checkpoint::Snapshot;
use crate::error::Result;
use crate::layer::Layer;
use crate::optim::Optimizer;
use crate::train::history::{EpochRecord, History};
use crate::train::progress::Progress;
use serde_json::Value;
use std::path::PathBuf;

/// Code run by [`Trainer::fit`](crate::train::Trainer::fit) at fixed points of training, as
/// Keras' callbacks and burn's learner hooks: every method has a default that does nothing, so a
/// callback implements only the hooks it needs. Add one with
/// [`Trainer::callback`](crate::train::Trainer::callback); callbacks run in the order added.
///
/// A hook that fails stops `fit` with its error (the epochs already done stay in
/// [`Trainer::history`](crate::train::Trainer::history)). To stop training early without an
/// error, call [`Context::stop`].
///
/// A callback whose behaviour depends on what it saw in earlier epochs (a best value, a count)
/// saves that in [`Callback::state`] and restores it in [`Callback::load_state`], so that a run
/// resumed from a checkpoint ([`Trainer::resume`](crate::train::Trainer::resume)) goes on as
/// if it had never stopped.
///
/// ```
/// use nn_core::train::{Callback, Context, EpochRecord};
/// use std::{cell::RefCell, rc::Rc};
///
/// /// Records the learning rate each epoch trained at.
/// struct LrLog(Rc<RefCell<Vec<f32>>>);
///
/// impl Callback for LrLog {
///     fn on_epoch_end(&mut self, _: &mut Context<'_>, record: &EpochRecord) -> nn_core::Result<()> {
///         self.0.borrow_mut().push(record.lr);
///         Ok(())
///     }
/// }
/// ```
pub trait Callback {
    /// The callback's name in messages and in a checkpoint's training state; its type's name
    /// unless overridden.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_string()
    }

    /// Before the first epoch, after `fit` has checked its arguments. Fail here if what the
    /// callback needs is missing (a validation set, a metric), so that nothing trains.
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// At the start of each epoch, after the epoch's learning rates are set.
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// After each training step, with the batch's number in the epoch (from 1) and its loss.
    /// Runs once per step: it should not allocate.
    fn on_batch_end(&mut self, ctx: &mut Context<'_>, batch: usize, loss: f32) -> Result<()> {
        let _ = (ctx, batch, loss);
        Ok(())
    }

    /// After each epoch, with its record (validation included); the record is already in
    /// [`Context::history`].
    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, record: &EpochRecord) -> Result<()> {
        let _ = (ctx, record);
        Ok(())
    }

    /// After the last epoch (or the one training stopped at).
    fn on_train_end(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Weights the callback keeps in memory (early stopping's best epoch's), if any: a
    /// checkpoint saves them beside the callback's state and a resume restores them.
    fn weights(&mut self) -> Option<&mut Snapshot> {
        None
    }

    /// What the callback must remember across a resume, as JSON; `None` (the default) for a
    /// callback that keeps nothing between epochs.
    fn state(&self) -> Option<Value> {
        None
    }

    /// Restores a [`Callback::state`]. Checks everything before changing anything: on error the
    /// callback is as it was. The default accepts no state, as the default `state` saves none.
    fn load_state(&mut self, state: &Value) -> Result<()> {
        Err(crate::train::TrainError::CallbackState {
            callback: self.name(),
            message: format!("it keeps no state, but the checkpoint holds {state}"),
        }
        .into())
    }
}

/// What a [`Callback`] sees and can change: the network, the optimizer, the rates the schedule
/// starts from, the history so far; and the requests it can make (stop, write a checkpoint).
pub struct Context<'a> {
    pub(super) net: &'a mut dyn Layer,
    pub(super) optimizer: &'a mut dyn Optimizer,
    pub(super) control: &'a mut Control,
    pub(super) history: &'a mut History,
    pub(super) progress: &'a Progress,
}

/// What the trainer keeps for its callbacks during `fit`: where training is, the rates the
/// schedule starts from, and the callbacks' requests.
#[derive(Clone, Debug, Default)]
pub(crate) struct Control {
    /// The epoch under way or just ended, counting from 1 (0 before the first).
    pub(crate) epoch: usize,
    /// The epoch `fit` ends at, counting the epochs of an earlier run it resumes.
    pub(crate) epochs: usize,
    /// The epochs done before this `fit` (a resumed run's).
    pub(crate) initial_epoch: usize,
    /// The schedule's starting rates: the default group's, then each parameter group's.
    pub(crate) base_lrs: Vec<f32>,
    /// Whether `fit` got a validation set.
    pub(crate) has_validation: bool,
    /// Why a callback asked to stop, once one did.
    pub(crate) stop: Option<String>,
    /// Directories a callback asked a checkpoint to be written to, after this epoch's hooks.
    pub(crate) checkpoints: Vec<PathBuf>,
}

impl Context<'_> {
    /// The network being trained (to inspect, or to save its weights).
    pub fn net(&mut self) -> &mut dyn Layer {
        self.net
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer
    }

    /// The optimizer, mutably: a rate set here holds until the next epoch's schedule sets the
    /// rates again (change [`Context::base_learning_rates_mut`] for a lasting change).
    pub fn optimizer_mut(&mut self) -> &mut dyn Optimizer {
        self.optimizer
    }

    /// The learning rate the optimizer's default group trains at now.
    pub fn learning_rate(&self) -> f32 {
        self.optimizer.learning_rate()
    }

    /// The rates the schedule starts from, the optimizer's default group first and then each of
    /// [`Optimizer::param_groups`]: each epoch trains at `schedule.lr_at(base, epoch)`. Lowering
    /// them lowers every following epoch's rates, which is what
    /// [`ReduceLROnPlateau`](crate::train::ReduceLROnPlateau) does.
    pub fn base_learning_rates_mut(&mut self) -> &mut [f32] {
        &mut self.control.base_lrs
    }

    /// The rates the schedule starts from (see [`Context::base_learning_rates_mut`]).
    pub fn base_learning_rates(&self) -> &[f32] {
        &self.control.base_lrs
    }

    /// The epoch under way, or just ended in [`Callback::on_epoch_end`], counting from 1.
    pub fn epoch(&self) -> usize {
        self.control.epoch
    }

    /// The epoch training ends at (counting the epochs of a run it resumes).
    pub fn epochs(&self) -> usize {
        self.control.epochs
    }

    /// The epochs done before this `fit`: 0, or the epoch a resumed run continues after.
    pub fn initial_epoch(&self) -> usize {
        self.control.initial_epoch
    }

    /// Whether `fit` validates after each epoch (got a validation set).
    pub fn has_validation(&self) -> bool {
        self.control.has_validation
    }

    /// The epochs recorded so far (a resumed run's earlier epochs included), and the columns
    /// every record has ([`History::csv_header`]).
    pub fn history(&self) -> &History {
        self.history
    }

    /// Records the epoch whose weights the model ends with (early stopping's best).
    pub(crate) fn set_best_epoch(&mut self, epoch: Option<usize>) {
        self.history.set_best_epoch(epoch);
    }

    /// Asks training to stop: after this batch from [`Callback::on_batch_end`] (the epoch ends
    /// there and is recorded), after this epoch otherwise. `reason` is printed, unless silent.
    pub fn stop(&mut self, reason: impl Into<String>) {
        if self.control.stop.is_none() {
            self.control.stop = Some(reason.into());
        }
    }

    /// Whether a callback has asked to stop.
    pub fn stopping(&self) -> bool {
        self.control.stop.is_some()
    }

    /// Asks for a checkpoint from which training can resume to be written into `dir` once every
    /// callback's `on_epoch_end` has run (so that their state is the epoch's):
    /// [`Trainer::save_checkpoint`](crate::train::Trainer::save_checkpoint). Only from
    /// [`Callback::on_epoch_end`].
    pub fn save_checkpoint(&mut self, dir: impl Into<PathBuf>) {
        self.control.checkpoints.push(dir.into());
    }

    /// Prints `text` on a line of its own, unless the trainer is silent.
    pub fn note(&self, text: &str) {
        self.progress.note(text);
    }
}
