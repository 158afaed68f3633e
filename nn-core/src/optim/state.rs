//! The saved form of an optimizer: hyper-parameters and per-parameter state, serde-serialisable,
//! with a JSON file form written atomically.

use super::OptimError;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A snapshot of an optimizer, from [`Optimizer::state`](super::Optimizer::state), to restore
/// with [`Optimizer::load_state`](super::Optimizer::load_state).
///
/// Maps are ordered by name, so the same optimizer always serialises to the same bytes. In JSON:
///
/// ```json
/// { "algorithm": "Momentum",
///   "hyperparameters": { "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0 },
///   "params": { "fc1.bias": { "shape": [128], "step": 600, "slots": { "velocity": [ ... ] } } } }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The algorithm that saved it, as [`Optimizer::name`](super::Optimizer::name).
    pub algorithm: String,
    /// Learning rate, `weight_decay`, `clip_grad_norm` (absent when off) and the algorithm's own
    /// hyper-parameters (`momentum`, `beta1`, …).
    pub hyperparameters: BTreeMap<String, f32>,
    /// Per-parameter state by full parameter name. Parameters the optimizer has not stepped yet
    /// have no entry.
    pub params: BTreeMap<String, ParamRecord>,
}

/// The saved state of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamRecord {
    /// The parameter's shape.
    pub shape: Vec<usize>,
    /// How many steps updated it (Adam's bias correction depends on it).
    pub step: u64,
    /// The algorithm's state tensors by slot name (`velocity`, `h`, `m`, `v`), flattened in
    /// row-major order.
    pub slots: BTreeMap<String, Vec<f32>>,
}

impl OptimizerState {
    /// Writes the state as JSON to `path` with [`crate::fsutil::atomic_write`] (a uniquely named
    /// temporary file, synced, then renamed into place), so that an interrupted save never
    /// leaves a truncated file under `path`.
    ///
    /// Fails if a state value is NaN or infinite (JSON cannot hold them, and such state comes from
    /// a diverged run that should not be resumed), or on an I/O error.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        for (name, record) in &self.params {
            if let Some((slot, _)) = record
                .slots
                .iter()
                .find(|(_, v)| v.iter().any(|x| !x.is_finite()))
            {
                return Err(OptimError::Format {
                    path: path.to_path_buf(),
                    message: format!(
                        "slot `{slot}` of parameter `{name}` contains NaN or infinity (training \
                         diverged); not saved"
                    ),
                }
                .into());
            }
        }
        if let Some((name, _)) = self.hyperparameters.iter().find(|(_, v)| !v.is_finite()) {
            return Err(OptimError::Format {
                path: path.to_path_buf(),
                message: format!("hyper-parameter `{name}` is not finite; not saved"),
            }
            .into());
        }
        let text = serde_json::to_vec(self).map_err(|e| OptimError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        crate::fsutil::atomic_write_bytes(path, &text)
    }

    /// Reads a state written by [`OptimizerState::save_json`]. The state is checked further when
    /// loaded into an optimizer.
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            OptimError::Format {
                path: path.to_path_buf(),
                message: format!("not a valid optimizer state ({e}); was it written by `save_json`?"),
            }
            .into()
        })
    }
}
