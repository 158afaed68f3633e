//! [`ModelCheckpoint`]: writes a checkpoint to disk every few epochs, or whenever a monitored
//! value reaches a new best.

use crate::error::Result;
use crate::train::callback::{Callback, Context};
use crate::train::error::TrainError;
use crate::train::history::EpochRecord;
use crate::train::monitor::Monitor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// Writes a checkpoint into a directory during training (Keras' `ModelCheckpoint`): after every
/// `n` epochs, or after each epoch whose monitored value is the best so far (`save_best_only`).
///
/// The directory receives `model.safetensors` (the weights, for [`crate::checkpoint::load`]) and
/// `training.json` (the optimizer's state with its groups, the schedule's rates, every
/// callback's state and the history so far), each written to a temporary file and renamed, so
/// that [`Trainer::resume`](crate::train::Trainer::resume) continues the run exactly; see
/// [`Trainer::save_checkpoint`](crate::train::Trainer::save_checkpoint).
///
/// ```
/// use nn_core::train::{ModelCheckpoint, Trainer};
/// use nn_core::Adam;
/// let trainer = Trainer::new(Adam::new(1e-3))
///     .callback(ModelCheckpoint::every(1, "out/last"))
///     .callback(ModelCheckpoint::best("valid_acc", "out/best"));
/// ```
#[derive(Clone, Debug)]
pub struct ModelCheckpoint {
    dir: PathBuf,
    trigger: Trigger,
    /// The best monitored value so far (`Best` only).
    best: Option<f32>,
}

#[derive(Clone, Debug)]
enum Trigger {
    Every(usize),
    Best(Monitor),
}

/// What [`ModelCheckpoint`] remembers between epochs.
#[derive(Serialize, Deserialize)]
struct CheckpointState {
    best: Option<f32>,
}

impl ModelCheckpoint {
    /// A checkpoint into `dir` after every `n` epochs (epochs `n`, `2n`, …), replacing the
    /// previous one.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn every(n: usize, dir: impl Into<PathBuf>) -> Self {
        assert!(n > 0, "ModelCheckpoint::every: n must be at least 1");
        ModelCheckpoint {
            dir: dir.into(),
            trigger: Trigger::Every(n),
            best: None,
        }
    }

    /// A checkpoint into `dir` after each epoch whose `monitor` (a history column such as
    /// `valid_acc` or `valid_loss`, or a [`Monitor`]) beats every earlier epoch's.
    pub fn best(monitor: impl Into<Monitor>, dir: impl Into<PathBuf>) -> Self {
        ModelCheckpoint {
            dir: dir.into(),
            trigger: Trigger::Best(monitor.into()),
            best: None,
        }
    }

    /// The directory checkpoints go to.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The best monitored value so far (`best` checkpoints only).
    pub fn best_value(&self) -> Option<f32> {
        self.best
    }
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        match &self.trigger {
            Trigger::Best(monitor) => monitor.check("ModelCheckpoint", ctx),
            Trigger::Every(_) => Ok(()),
        }
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, record: &EpochRecord) -> Result<()> {
        let save = match &self.trigger {
            Trigger::Every(n) => record.epoch.is_multiple_of(*n),
            Trigger::Best(monitor) => match monitor.value(record) {
                Some(v) if monitor.improves(v, self.best.unwrap_or(monitor.worst()), 0.0, false) => {
                    self.best = Some(v);
                    true
                }
                _ => false,
            },
        };
        if save {
            ctx.save_checkpoint(self.dir.clone());
        }
        Ok(())
    }

    fn state(&self) -> Option<Value> {
        match self.trigger {
            Trigger::Best(_) => {
                Some(serde_json::to_value(CheckpointState { best: self.best }).expect("serialises"))
            }
            Trigger::Every(_) => None,
        }
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        let invalid = |message: String| TrainError::CallbackState {
            callback: self.name(),
            message,
        };
        match self.trigger {
            Trigger::Best(_) => {
                let s = CheckpointState::deserialize(state).map_err(|e| invalid(e.to_string()))?;
                self.best = s.best;
                Ok(())
            }
            Trigger::Every(_) => Err(invalid(format!(
                "an every-n-epochs checkpoint keeps no state, but the checkpoint holds {state}"
            ))
            .into()),
        }
    }
}
