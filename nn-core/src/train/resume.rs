//! Checkpoints a run can resume from: [`Trainer::save_checkpoint`] writes the weights and the
//! training state (optimizer, schedule rates, callbacks, history) into a directory, and
//! [`Trainer::resume`] restores them all, or nothing.

use crate::checkpoint::{self, Snapshot};
use crate::error::{Error, Result};
use crate::fsutil::atomic_write_bytes;
use crate::layer::{for_each_buffer, for_each_param, Layer};
use crate::loss::Loss;
use crate::optim::{Optimizer, OptimizerState};
use crate::tensor::TensorView;
use crate::train::error::TrainError;
use crate::train::history::History;
use crate::train::trainer::Trainer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The weights' file in a checkpoint directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// The training state's file in a checkpoint directory.
pub const STATE_FILE: &str = "training.json";

/// The version of [`TrainingState`]'s layout.
const FORMAT: u32 = 1;

/// Everything beyond the weights that a resumed run needs to go on as if never interrupted.
#[derive(Serialize, Deserialize)]
struct TrainingState {
    format: u32,
    /// Epochs done.
    epoch: usize,
    /// What fixes the batches: a resumed run must draw the same ones.
    batch_size: usize,
    seed: u64,
    shuffle: bool,
    drop_last: bool,
    loss: String,
    metrics: Vec<String>,
    /// A digest of the weights and buffers written beside, to catch a directory whose two files
    /// come from different epochs (a save interrupted between them).
    weights: String,
    /// The schedule's starting rates: the optimizer's default group, then each parameter group.
    base_learning_rates: Vec<f32>,
    optimizer: OptimizerState,
    callbacks: Vec<CallbackState>,
    /// The epochs done, as [`History::to_csv`] writes them.
    history: String,
}

/// One callback's saved state, under its name.
#[derive(Serialize, Deserialize)]
struct CallbackState {
    name: String,
    state: Option<Value>,
}

impl<O: Optimizer, L: Loss> Trainer<O, L> {
    /// Writes a checkpoint of `net` and of this trainer into the directory `dir` (created if
    /// needed): `model.safetensors`, the weights and buffers ([`crate::checkpoint::save`]), and
    /// `training.json`, the epochs done, the optimizer's state with its groups and frozen
    /// parameters, each group's starting rate for the schedule, every callback's state and the
    /// history so far (and `callback<i>.safetensors`, weights a callback keeps, such as early
    /// stopping's best epoch's). Each file is written to a temporary name and renamed, the
    /// training state last;
    /// [`Trainer::resume`] refuses a directory whose two files do not belong together.
    /// [`crate::train::ModelCheckpoint`] calls this during `fit`.
    pub fn save_checkpoint(&mut self, net: &mut dyn Layer, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating the checkpoint directory", dir, e))?;
        let state_path = dir.join(STATE_FILE);
        let optimizer = self.optimizer.state();
        optimizer.check_finite(&state_path)?;
        let state = TrainingState {
            format: FORMAT,
            epoch: self.history.last().map_or(self.initial_epoch, |r| r.epoch),
            batch_size: self.batch_size,
            seed: self.seed,
            shuffle: self.shuffle,
            drop_last: self.drop_last,
            loss: self.loss.name(),
            metrics: self.metric_names(),
            weights: digest(net),
            base_learning_rates: self.control.base_lrs.clone(),
            optimizer,
            callbacks: self
                .callbacks
                .iter()
                .map(|c| CallbackState {
                    name: c.name(),
                    state: c.state(),
                })
                .collect(),
            history: self.history.to_csv(),
        };
        checkpoint::save(net, dir.join(MODEL_FILE))?;
        for (i, callback) in self.callbacks.iter_mut().enumerate() {
            let path = dir.join(weights_file(i));
            match callback.weights() {
                Some(weights) if !weights.is_empty() => weights.save(&path)?,
                // No stale file from an earlier save may pass for this one's.
                _ => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::io("removing", path, e));
                    }
                    _ => {}
                },
            }
        }
        let json = serde_json::to_vec_pretty(&state).expect("a training state serialises");
        atomic_write_bytes(&state_path, &json)
    }

    /// Restores a checkpoint written by [`Trainer::save_checkpoint`] (or a
    /// [`crate::train::ModelCheckpoint`]) into `net` and this trainer, so that the next
    /// [`Trainer::fit`] continues after the checkpoint's epoch exactly as the interrupted run
    /// would have: the weights and buffers, the optimizer's state, the schedule's rates, every
    /// callback's state and the history (which `fit` returns whole, earlier epochs included).
    ///
    /// Build the network, the trainer and its callbacks as for the original run first. Fails,
    /// changing nothing, if the checkpoint does not fit them: another network (names, shapes),
    /// another optimizer or group layout, other callbacks, another batch size, seed, loss or
    /// metrics, a checkpoint after [`Trainer::epochs`], or files from different epochs.
    pub fn resume(&mut self, net: &mut dyn Layer, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let state = self.read_state(dir)?;
        let history = self.check_state(dir, &state)?;
        let mut weights = self.read_weights(net, dir)?;
        let undo = Snapshot::capture(net);
        checkpoint::load(net, dir.join(MODEL_FILE))?;
        let restored = self.restore(net, dir, &state);
        if restored.is_err() {
            undo.restore(net)?;
        }
        restored?;
        for (callback, saved) in self.callbacks.iter_mut().zip(&mut weights) {
            if let (Some(kept), Some(saved)) = (callback.weights(), saved.take()) {
                *kept = saved;
            }
        }
        self.initial_epoch = state.epoch;
        self.control.base_lrs = state.base_learning_rates;
        self.resumed = Some(history);
        Ok(())
    }

    /// `training.json` of the checkpoint in `dir`, parsed.
    fn read_state(&self, dir: &Path) -> Result<TrainingState> {
        let path = dir.join(STATE_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("reading the training state", &path, e))?;
        let state: TrainingState = serde_json::from_slice(&bytes).map_err(|e| {
            resume_error(
                dir,
                format!("{STATE_FILE} is not a training state written by Trainer::save_checkpoint ({e})"),
            )
        })?;
        if state.format != FORMAT {
            return Err(resume_error(
                dir,
                format!(
                    "{STATE_FILE} has format {}, this version of nn reads format {FORMAT}",
                    state.format
                ),
            ));
        }
        Ok(state)
    }

    /// The weights each callback kept, read from `dir` into snapshots shaped as `net`.
    fn read_weights(&mut self, net: &mut dyn Layer, dir: &Path) -> Result<Vec<Option<Snapshot>>> {
        let mut all = Vec::with_capacity(self.callbacks.len());
        for (i, callback) in self.callbacks.iter_mut().enumerate() {
            let path = dir.join(weights_file(i));
            if !path.exists() {
                all.push(None);
                continue;
            }
            if callback.weights().is_none() {
                return Err(resume_error(
                    dir,
                    format!(
                        "{} holds weights for {}, which keeps none",
                        weights_file(i),
                        callback.name()
                    ),
                ));
            }
            let mut weights = Snapshot::capture(net);
            weights.load(&path)?;
            all.push(Some(weights));
        }
        Ok(all)
    }

    /// Checks the trainer's settings and callbacks against `state`; gives its history.
    fn check_state(&self, dir: &Path, state: &TrainingState) -> Result<History> {
        let fail = |message: String| resume_error(dir, message);
        let settings: [(&str, String, String); 6] = [
            (
                "batch_size",
                state.batch_size.to_string(),
                self.batch_size.to_string(),
            ),
            ("seed", state.seed.to_string(), self.seed.to_string()),
            ("shuffle", state.shuffle.to_string(), self.shuffle.to_string()),
            (
                "drop_last",
                state.drop_last.to_string(),
                self.drop_last.to_string(),
            ),
            ("loss", state.loss.clone(), self.loss.name()),
            (
                "metrics",
                format!("{:?}", state.metrics),
                format!("{:?}", self.metric_names()),
            ),
        ];
        for (name, saved, here) in settings {
            if saved != here {
                return Err(fail(format!(
                    "the run was trained with {name} {saved}, this trainer has {here}; resuming \
                     with another would not continue that run (build the trainer with {name} \
                     {saved}, or start a new run from its weights with nn::load)"
                )));
            }
        }
        if state.epoch > self.epochs {
            return Err(fail(format!(
                "the checkpoint is after epoch {}, but the trainer ends at epoch {}; set epochs \
                 to the total (above {})",
                state.epoch, self.epochs, state.epoch
            )));
        }
        let saved: Vec<&str> = state.callbacks.iter().map(|c| c.name.as_str()).collect();
        let here: Vec<String> = self.callbacks.iter().map(|c| c.name()).collect();
        if saved != here {
            return Err(fail(format!(
                "the run had the callbacks {saved:?}, this trainer has {here:?}; add the same \
                 callbacks in the same order"
            )));
        }
        let groups = 1 + self.optimizer.param_groups().len();
        if state.base_learning_rates.len() != groups {
            return Err(fail(format!(
                "the run's optimizer had {} parameter groups (its default group included), this \
                 one has {groups}",
                state.base_learning_rates.len()
            )));
        }
        let read = History::from_csv(&state.history).map_err(|e| fail(format!("its history: {e}")))?;
        let mut history = History::with_metrics(self.loss.name(), self.metric_names());
        for record in read.records() {
            history.push(record.clone());
        }
        Ok(history)
    }

    /// The checksum, the optimizer and the callbacks from `state`, all or none: on error each
    /// part restored is put back.
    fn restore(&mut self, net: &mut dyn Layer, dir: &Path, state: &TrainingState) -> Result<()> {
        if digest(net) != state.weights {
            return Err(resume_error(
                dir,
                format!(
                    "{MODEL_FILE} does not hold the weights {STATE_FILE} was saved with (were they \
                     written by different epochs, a save interrupted between the two?)"
                ),
            ));
        }
        let previous = self.optimizer.state();
        self.optimizer.load_state(&state.optimizer)?;
        if let Err(e) = self.optimizer.check_model(net) {
            self.optimizer.load_state(&previous)?;
            return Err(e);
        }
        let mut done = Vec::with_capacity(self.callbacks.len());
        for (callback, saved) in self.callbacks.iter_mut().zip(&state.callbacks) {
            let before = callback.state();
            let loaded = match (&saved.state, &before) {
                (Some(s), _) => callback.load_state(s),
                (None, None) => Ok(()),
                (None, Some(_)) => Err(TrainError::CallbackState {
                    callback: callback.name(),
                    message: "the checkpoint holds no state for it".into(),
                }
                .into()),
            };
            if let Err(e) = loaded {
                for (callback, before) in self.callbacks.iter_mut().zip(done) {
                    if let Some(before) = before {
                        callback.load_state(&before)?;
                    }
                }
                self.optimizer.load_state(&previous)?;
                return Err(e);
            }
            done.push(before);
        }
        Ok(())
    }
}

/// The file of the weights callback `index` keeps.
fn weights_file(index: usize) -> String {
    format!("callback{index}.safetensors")
}

fn resume_error(dir: &Path, message: String) -> Error {
    TrainError::Resume {
        dir: PathBuf::from(dir),
        message,
    }
    .into()
}

/// A 64-bit FNV-1a digest of every parameter and buffer of `net` (names, shapes and value bits),
/// in hex.
fn digest(net: &mut dyn Layer) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut tensor = |name: &str, value: TensorView<'_>| {
        eat(name.as_bytes());
        for &d in value.shape() {
            eat(&(d as u64).to_le_bytes());
        }
        for &v in value.iter() {
            eat(&v.to_bits().to_le_bytes());
        }
    };
    for_each_param(net, |name, p| tensor(name, p.value.view()));
    for_each_buffer(net, |name, b| tensor(name, b.view()));
    format!("{h:016x}")
}
