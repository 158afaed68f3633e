//! The saved form of an optimizer ([`OptimizerState`]: hyper-parameters and per-parameter
//! state, with a JSON file form written atomically), and turning an [`Optim`] into it and back.

use super::driver::{Optim, ParamState};
use super::error::OptimError;
use super::rule::{check_non_negative, check_positive, UpdateRule, MAX_STEP};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use ndarray::IxDyn;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
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
    /// `learning_rate`, `weight_decay`, `clip_grad_norm` (absent when off) and the fields of the
    /// algorithm's [`UpdateRule`] (`momentum`, `beta1`, …), side by side.
    pub hyperparameters: BTreeMap<String, Value>,
    /// Per-parameter state by full parameter name. Parameters the optimizer has not stepped yet
    /// have no entry.
    pub params: BTreeMap<String, ParamRecord>,
}

/// The saved state of one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamRecord {
    /// The parameter's shape.
    pub shape: Vec<usize>,
    /// How many steps updated it (Adam's bias correction depends on it); below
    /// [`MAX_STEP`] to be restored.
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
    /// Fails if a slot value is NaN or infinite (JSON cannot hold them, and such state comes
    /// from a diverged run that should not be resumed), or on an I/O error.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        for (name, record) in &self.params {
            if let Some((slot, _)) = record
                .slots
                .iter()
                .find(|(_, v)| v.iter().any(|x| !x.is_finite()))
            {
                return Err(OptimError::NotFinite {
                    path: path.to_path_buf(),
                    what: format!("slot `{slot}` of parameter `{name}`"),
                }
                .into());
            }
        }
        let text = serde_json::to_vec(self).expect("an OptimizerState serialises: its keys are strings");
        crate::fsutil::atomic_write_bytes(path, &text)
    }

    /// Reads a state written by [`OptimizerState::save_json`]. The state is checked further when
    /// loaded into an optimizer.
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| {
            OptimError::Format {
                path: path.to_path_buf(),
                source,
            }
            .into()
        })
    }
}

/// Hyper-parameter names every optimizer has; a rule's fields may not use them.
const LEARNING_RATE: &str = "learning_rate";
const WEIGHT_DECAY: &str = "weight_decay";
const CLIP_GRAD_NORM: &str = "clip_grad_norm";
const SHARED: [&str; 3] = [LEARNING_RATE, WEIGHT_DECAY, CLIP_GRAD_NORM];

/// `value` as a JSON value, through JSON text: `serde_json::to_value` would widen an `f32` to
/// the `f64` nearest it, which prints as 0.8999999761581421 where the file should say 0.9.
fn to_json<T: Serialize + ?Sized>(value: &T) -> std::result::Result<Value, serde_json::Error> {
    serde_json::from_str(&serde_json::to_string(value)?)
}

/// The rule's hyper-parameters by field name (nothing for a unit struct).
///
/// # Panics
/// If the rule cannot be serialised, is not a struct with named fields, or has a field named
/// like a shared hyper-parameter: programmer errors of the rule's author.
pub(super) fn rule_to_map<R: UpdateRule>(rule: &R) -> Map<String, Value> {
    let name = R::NAME;
    let map = match to_json(rule) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Null) => Map::new(),
        Ok(other) => panic!("{name}: a rule must serialise as a struct with named fields, not as `{other}`"),
        Err(e) => panic!("{name}: the rule's hyper-parameters cannot be serialised: {e}"),
    };
    if let Some(field) = SHARED.iter().find(|k| map.contains_key(**k)) {
        panic!("{name}: a rule may not have a field `{field}`, the optimizer's own setting; rename it");
    }
    map
}

/// The number of values of an array of `shape`, or `None` for a shape ndarray refuses (a corrupt
/// file's): the product of the non-zero axis lengths must fit in `isize`, even when another axis
/// is zero and the array empty.
fn element_count(shape: &[usize]) -> Option<usize> {
    let nonzero = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |n, &d| n.checked_mul(d))?;
    isize::try_from(nonzero).ok()?;
    Some(if shape.contains(&0) { 0 } else { nonzero })
}

impl<R: UpdateRule> Optim<R> {
    /// The state [`Optimizer::state`](super::Optimizer::state) returns.
    pub(super) fn snapshot(&self) -> OptimizerState {
        let number = |x: f32| to_json(&x).expect("an f32 serialises");
        let mut hyperparameters = BTreeMap::new();
        hyperparameters.insert(LEARNING_RATE.to_string(), number(self.lr));
        hyperparameters.insert(WEIGHT_DECAY.to_string(), number(self.weight_decay));
        if let Some(max_norm) = self.clip_grad_norm {
            hyperparameters.insert(CLIP_GRAD_NORM.to_string(), number(max_norm));
        }
        hyperparameters.extend(rule_to_map(&self.rule));
        let params = self
            .states
            .iter()
            .map(|(name, s)| {
                let slots = R::SLOTS
                    .iter()
                    .zip(&s.slots)
                    .map(|(slot, t)| (slot.name().to_string(), t.iter().copied().collect()))
                    .collect();
                let record = ParamRecord {
                    shape: s.shape.clone(),
                    step: s.step,
                    slots,
                };
                (name.clone(), record)
            })
            .collect();
        OptimizerState {
            algorithm: R::NAME.to_string(),
            hyperparameters,
            params,
        }
    }

    /// Validates `state` completely before changing anything, then replaces hyper-parameters
    /// and per-parameter state.
    pub(super) fn restore(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let algorithm = R::NAME;
        if state.algorithm != algorithm {
            return Err(OptimError::WrongAlgorithm {
                expected: algorithm,
                found: state.algorithm.clone(),
            });
        }
        let invalid = |message: String| OptimError::InvalidState { message };
        let hyper = &state.hyperparameters;
        let number = |name: &str| -> Result<Option<f32>, OptimError> {
            hyper
                .get(name)
                .map(|v| {
                    f32::deserialize(v)
                        .map_err(|e| invalid(format!("{algorithm} hyper-parameter `{name}`: {e}")))
                })
                .transpose()
        };
        let required = |name: &str| {
            number(name)?.ok_or_else(|| invalid(format!("{algorithm} state lacks hyper-parameter `{name}`")))
        };
        let lr = required(LEARNING_RATE)?;
        check_non_negative(LEARNING_RATE, lr).map_err(invalid)?;
        let weight_decay = required(WEIGHT_DECAY)?;
        check_non_negative(WEIGHT_DECAY, weight_decay).map_err(invalid)?;
        let clip_grad_norm = number(CLIP_GRAD_NORM)?;
        if let Some(m) = clip_grad_norm {
            check_positive(CLIP_GRAD_NORM, m).map_err(invalid)?;
        }

        let own: Map<String, Value> = hyper
            .iter()
            .filter(|(k, _)| !SHARED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let rule = R::deserialize(&Value::Object(own.clone()))
            // A unit struct reads only from `null`.
            .or_else(|e| match own.is_empty() {
                true => R::deserialize(&Value::Null).map_err(|_| e),
                false => Err(e),
            })
            .map_err(|e| invalid(format!("{algorithm} hyper-parameters: {e}")))?;
        rule.validate().map_err(invalid)?;
        // Serde skips fields a struct does not know: an unknown name would be silently lost.
        let known = rule_to_map(&rule);
        if let Some(k) = own.keys().find(|k| !known.contains_key(*k)) {
            return Err(invalid(format!("{algorithm} has no hyper-parameter `{k}`")));
        }

        let mut states = HashMap::with_capacity(state.params.len());
        // `seen` restarts at 0; epochs only grow, so no restored entry looks seen.
        for (name, record) in &state.params {
            let Some(n) = element_count(&record.shape) else {
                return Err(invalid(format!(
                    "parameter `{name}` has shape {:?}, too large to exist (the product of its \
                     non-zero axis lengths exceeds {})",
                    record.shape,
                    isize::MAX
                )));
            };
            if record.step >= MAX_STEP {
                return Err(invalid(format!(
                    "parameter `{name}` has step count {}, which no run reaches: a count to \
                     continue from is below {MAX_STEP} (2^53, the most steps an optimizer counts)",
                    record.step
                )));
            }
            let names = R::SLOTS.iter().map(|s| s.name());
            if record.slots.len() != R::SLOTS.len() || !names.clone().all(|s| record.slots.contains_key(s)) {
                let found: Vec<&String> = record.slots.keys().collect();
                let expected: Vec<&str> = names.collect();
                return Err(invalid(format!(
                    "parameter `{name}` has state slots {found:?}, {algorithm} expects {expected:?}"
                )));
            }
            let mut slots = Vec::with_capacity(R::SLOTS.len());
            for slot in R::SLOTS {
                let data = &record.slots[slot.name()];
                if data.len() != n {
                    return Err(invalid(format!(
                        "slot `{}` of parameter `{name}` has {} values, its shape {:?} needs {n}",
                        slot.name(),
                        data.len(),
                        record.shape
                    )));
                }
                if let Some((i, v, allowed)) = data
                    .iter()
                    .enumerate()
                    .find_map(|(i, &v)| slot.refuses(v).map(|allowed| (i, v, allowed)))
                {
                    return Err(invalid(format!(
                        "slot `{}` of parameter `{name}` holds {v} at index {i}, but {algorithm}'s \
                         `{}` must be {allowed}; a run never writes that, so the state is corrupt \
                         (restore another copy, or start without it)",
                        slot.name(),
                        slot.name()
                    )));
                }
                let tensor = Tensor::from_shape_vec(IxDyn(&record.shape), data.clone())
                    .map_err(|e| invalid(format!("parameter `{name}` has shape {:?}: {e}", record.shape)))?;
                slots.push(tensor);
            }
            states.insert(
                name.clone(),
                ParamState {
                    shape: record.shape.clone(),
                    step: record.step,
                    slots,
                    seen: 0,
                },
            );
        }

        self.rule = rule;
        self.lr = lr;
        self.weight_decay = weight_decay;
        self.clip_grad_norm = clip_grad_norm;
        self.check_names = !states.is_empty();
        // The restored values, and the settings, meet the model on the next step: a trial.
        self.trial = true;
        self.states = states;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_counts_follow_ndarray_s_limit() {
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[3, 4]), Some(12));
        assert_eq!(element_count(&[0, isize::MAX as usize]), Some(0));
        assert_eq!(element_count(&[0, isize::MAX as usize + 1]), None);
        assert_eq!(element_count(&[2, isize::MAX as usize / 2 + 1]), None);
        assert_eq!(element_count(&[usize::MAX, 2]), None);
        // At the limit, ndarray agrees.
        let shape = [0, 3, isize::MAX as usize / 3];
        assert_eq!(element_count(&shape), Some(0));
        assert!(Tensor::from_shape_vec(IxDyn(&shape), vec![]).is_ok());
    }
}
