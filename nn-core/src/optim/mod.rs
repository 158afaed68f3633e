//! Optimizers: the [`Optimizer`] trait with [`Sgd`], [`Momentum`], [`Nesterov`], [`AdaGrad`],
//! [`RmsProp`], [`Adam`] and [`AdamW`], L2 weight decay and gradient clipping by global norm.
//!
//! An optimizer updates every trainable parameter of a model from the gradients the last
//! backward left. Buffers (BatchNorm running statistics) are never visited.
//!
//! # The gradient an optimizer uses
//! For a parameter `W` with gradient `g`, every optimizer updates with
//!
//! ```text
//! g' = c * (g + lambda * W)     lambda * W only for ParamKind::Weight (L2 weight decay)
//! c  = min(1, max_norm / ||g + lambda * W||)   global norm over all parameters (clipping)
//! ```
//!
//! in that order: weight decay first, so that clipping bounds the gradient actually applied, then
//! clipping, then the algorithm's rule. `lambda` is 0 and `c` is 1 unless
//! [`Optimizer::set_weight_decay`] and [`Optimizer::set_clip_grad_norm`] (or the `with_*`
//! builders) switch them on. The stored gradients are read, never modified, so calling `step`
//! twice after one backward applies the same gradient twice and does not add the decay twice.
//! The L2 term the decay stands for, `0.5 * lambda * sum W^2`, belongs in the reported loss; see
//! [`l2_penalty`] and [`Optimizer::l2_penalty`].
//!
//! # Per-parameter state
//! Velocities, squared-gradient sums, Adam moments and the step count live in a map keyed by the
//! parameter's full name (`fc1.weight`), created lazily with the parameter's shape on the first
//! step that sees it. Two parameters never share state, and reordering parameters does not mix
//! it up. A parameter whose shape changes under the same name is an [`OptimError`] naming it,
//! and nothing is updated. After the first step, `step` allocates nothing: state is looked up
//! by `&str`.
//!
//! # Saving and resuming
//! [`Optimizer::state`] returns an [`OptimizerState`] (serde, with a JSON file form) holding the
//! hyper-parameters, including the current learning rate, and every parameter's state;
//! [`Optimizer::load_state`] restores it, so that the next step is the one an uninterrupted run
//! would have taken.
//!
//! ```
//! use nn_core::optim::{Adam, Optimizer};
//! let mut opt = Adam::new(1e-3).with_weight_decay(1e-4).with_clip_grad_norm(5.0);
//! opt.set_learning_rate(5e-4);
//! assert_eq!(opt.learning_rate(), 5e-4);
//! assert_eq!(opt.name(), "Adam");
//! ```

mod adagrad;
mod adam;
mod momentum;
mod nesterov;
mod regularization;
mod rmsprop;
mod sgd;
mod state;

#[cfg(test)]
mod tests;

pub use adagrad::AdaGrad;
pub use adam::{Adam, AdamW};
pub use momentum::Momentum;
pub use nesterov::Nesterov;
pub use regularization::{global_grad_norm, l2_penalty};
pub use rmsprop::RmsProp;
pub use sgd::Sgd;
pub use state::{OptimizerState, ParamRecord};

use crate::error::Result;
use crate::layer::{for_each_param, param_names, Layer};
use crate::tensor::{Tensor, TensorView, TensorViewMut};
use ndarray::IxDyn;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;

/// Updates a model's parameters from the gradients its last backward left.
///
/// Object safe: a `Box<dyn Optimizer>` is an optimizer too, so a program can choose the
/// algorithm at run time.
pub trait Optimizer {
    /// The algorithm's name as saved in [`OptimizerState`]: `"Sgd"`, `"Adam"`, `"AdamW"`, …
    fn name(&self) -> &'static str;

    /// Updates every trainable parameter of `model` once.
    ///
    /// Fails, without changing any parameter, if a parameter's shape differs from the shape its
    /// state was created with, if a gradient's shape differs from its parameter's, if two
    /// parameters share a name, if clipping is on and a gradient is not finite, or if the
    /// model's parameter names differ from those of a state restored with
    /// [`Optimizer::load_state`].
    fn step(&mut self, model: &mut dyn Layer) -> Result<()>;

    /// The learning rate the next step will use.
    fn learning_rate(&self) -> f32;

    /// Sets the learning rate for the following steps (schedules call this between steps).
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    fn set_learning_rate(&mut self, lr: f32);

    /// The L2 weight decay coefficient `lambda` (0 when off).
    fn weight_decay(&self) -> f32;

    /// Sets the L2 weight decay coefficient: `g += lambda * W` for weights (not biases, not
    /// normalisation parameters), standing for the loss term `0.5 * lambda * sum W^2`.
    ///
    /// # Panics
    /// If `lambda` is negative or not finite.
    fn set_weight_decay(&mut self, lambda: f32);

    /// The maximum global gradient norm, or `None` when clipping is off.
    fn clip_grad_norm(&self) -> Option<f32>;

    /// Clips the gradients by their global norm to at most `max_norm` before each step (after
    /// weight decay is added); `None` switches clipping off.
    ///
    /// # Panics
    /// If `max_norm` is not positive and finite.
    fn set_clip_grad_norm(&mut self, max_norm: Option<f32>);

    /// A snapshot of the hyper-parameters and every parameter's state, for resuming later.
    fn state(&self) -> OptimizerState;

    /// Restores a snapshot taken with [`Optimizer::state`] of the same algorithm, including the
    /// learning rate and other hyper-parameters it holds.
    ///
    /// The snapshot is checked for consistency (algorithm, hyper-parameters, slot sizes against
    /// shapes) here, and against the model on the next [`Optimizer::step`], which fails if the
    /// model's parameter names or shapes differ from the snapshot's. On error nothing changes.
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;

    /// Forgets every parameter's state (as if no step had been taken), keeping hyper-parameters.
    fn reset(&mut self);

    /// The L2 penalty `0.5 * lambda * sum W^2` over `model`'s weights for this optimizer's weight
    /// decay, to add to the reported loss (0 when weight decay is off).
    fn l2_penalty(&self, model: &mut dyn Layer) -> f32 {
        l2_penalty(model, self.weight_decay())
    }
}

impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn step(&mut self, model: &mut dyn Layer) -> Result<()> {
        (**self).step(model)
    }
    fn learning_rate(&self) -> f32 {
        (**self).learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        (**self).set_learning_rate(lr)
    }
    fn weight_decay(&self) -> f32 {
        (**self).weight_decay()
    }
    fn set_weight_decay(&mut self, lambda: f32) {
        (**self).set_weight_decay(lambda)
    }
    fn clip_grad_norm(&self) -> Option<f32> {
        (**self).clip_grad_norm()
    }
    fn set_clip_grad_norm(&mut self, max_norm: Option<f32>) {
        (**self).set_clip_grad_norm(max_norm)
    }
    fn state(&self) -> OptimizerState {
        (**self).state()
    }
    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        (**self).load_state(state)
    }
    fn reset(&mut self) {
        (**self).reset()
    }
}

/// Why an optimizer step, or restoring optimizer state, failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OptimError {
    /// A parameter's shape differs from the shape its optimizer state was created with.
    ShapeChanged {
        /// The parameter's full name.
        name: String,
        /// The shape of its state (the shape it had on earlier steps, or in the restored state).
        expected: Vec<usize>,
        /// Its shape now.
        found: Vec<usize>,
    },
    /// Clipping found a NaN or infinite gradient.
    NonFiniteGradient {
        /// The first parameter, in visiting order, whose gradient is not finite.
        name: String,
    },
    /// Two parameters of the model are reported under the same name, so they would share state.
    DuplicateName {
        /// The name reported twice.
        name: String,
    },
    /// Restored state names parameters the model lacks, or lacks some the model has.
    ParamNames {
        /// Model parameters the restored state has no entry for.
        missing: Vec<String>,
        /// Restored entries the model has no parameter for.
        unexpected: Vec<String>,
    },
    /// The state was saved by another algorithm.
    WrongAlgorithm {
        /// This optimizer's algorithm.
        expected: &'static str,
        /// The algorithm named in the state.
        found: String,
    },
    /// The state is inconsistent: a missing or invalid hyper-parameter, a slot of the wrong size.
    InvalidState {
        /// What is wrong, naming the hyper-parameter or parameter.
        message: String,
    },
    /// A state file could not be parsed (or state could not be serialised).
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

fn fmt_names(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::ShapeChanged {
                name,
                expected,
                found,
            } => write!(
                f,
                "parameter `{name}` has shape {found:?} but its optimizer state has shape {expected:?}; \
                 a parameter must keep its shape between steps (call `reset()` on the optimizer, or \
                 build a new one, after changing the model)"
            ),
            OptimError::NonFiniteGradient { name } => write!(
                f,
                "the gradient of parameter `{name}` contains NaN or infinity; training diverged \
                 (try a lower learning rate)"
            ),
            OptimError::DuplicateName { name } => write!(
                f,
                "two parameters are both named `{name}`, so they would share optimizer state; \
                 give each parameter a distinct name in its layer's `visit`"
            ),
            OptimError::ParamNames { missing, unexpected } => {
                write!(
                    f,
                    "the restored optimizer state does not match the model's parameters"
                )?;
                if !missing.is_empty() {
                    write!(f, "; the state has no entry for {}", fmt_names(missing))?;
                }
                if !unexpected.is_empty() {
                    write!(f, "; the model has no parameter {}", fmt_names(unexpected))?;
                }
                write!(f, " (was the state saved for another model?)")
            }
            OptimError::WrongAlgorithm { expected, found } => write!(
                f,
                "optimizer state was saved by {found}, cannot restore it into {expected}; build a \
                 {found} optimizer to resume"
            ),
            OptimError::InvalidState { message } => write!(f, "invalid optimizer state: {message}"),
            OptimError::Format { path, message } => {
                write!(f, "optimizer state file {}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for OptimError {}

/// The effective-gradient transform shared by all algorithms: `c * (g + l2 * w)`.
#[derive(Clone, Copy, Debug)]
struct EffGrad {
    /// The L2 coefficient for this parameter: `lambda` for weights, 0 otherwise.
    l2: f32,
    /// The clipping factor, 1 when clipping is off or the norm is within bounds.
    scale: f32,
}

impl EffGrad {
    #[inline(always)]
    fn at(self, g: f32, w: f32) -> f32 {
        self.scale * (g + self.l2 * w)
    }
}

/// One parameter's update, handed to an algorithm's [`Rule::update`].
struct Update<'a> {
    value: TensorViewMut<'a>,
    grad: TensorView<'a>,
    /// The algorithm's state tensors, in [`Rule::slots`] order, each of the parameter's shape.
    slots: &'a mut [Tensor],
    lr: f32,
    /// The number of steps this parameter has taken, this one included (1 on the first).
    step: u64,
    grad_fn: EffGrad,
    /// Whether the parameter is a weight (L2 and decoupled weight decay apply).
    decays: bool,
}

/// What distinguishes one algorithm from another: its state slots, hyper-parameters and update.
trait Rule: Clone {
    /// The algorithm's name, as [`Optimizer::name`].
    fn algorithm(&self) -> &'static str;
    /// The names of the per-parameter state tensors (e.g. `["m", "v"]`).
    fn slots(&self) -> &'static [&'static str];
    /// The names of the algorithm's own hyper-parameters (beyond learning rate, weight decay
    /// and clipping).
    fn hyper_names(&self) -> &'static [&'static str];
    /// The value of the hyper-parameter `name` (one of [`Rule::hyper_names`]).
    fn hyper(&self, name: &str) -> f32;
    /// Sets the hyper-parameter `name`, or says why `value` is invalid.
    fn set_hyper(&mut self, name: &str, value: f32) -> std::result::Result<(), String>;
    /// Applies one step to one parameter.
    fn update(&self, u: Update<'_>);
}

/// Checks `0 <= value < 1` (momentum, betas, decay rates).
fn check_unit(name: &str, value: f32) -> std::result::Result<f32, String> {
    if (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{name} must be in [0, 1), got {value}"))
    }
}

/// Checks `value > 0` and finite (epsilons, clipping norms).
fn check_positive(name: &str, value: f32) -> std::result::Result<f32, String> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{name} must be positive and finite, got {value}"))
    }
}

/// Checks `value >= 0` and finite (learning rates, weight decay).
fn check_non_negative(name: &str, value: f32) -> std::result::Result<f32, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("{name} must be finite and >= 0, got {value}"))
    }
}

/// Panics with `algorithm: message` for an invalid hyper-parameter given in code.
fn expect_valid<T>(algorithm: &str, r: std::result::Result<T, String>) -> T {
    r.unwrap_or_else(|message| panic!("{algorithm}: {message}"))
}

/// The state of one parameter: its shape when first seen, its step count and its slots.
#[derive(Clone, Debug)]
struct ParamState {
    shape: Vec<usize>,
    step: u64,
    slots: Vec<Tensor>,
    /// The [`Core::epoch`] of the last check that saw this name, to catch two parameters
    /// reported under one name without allocating a set of names every step.
    seen: u64,
}

/// Hyper-parameter names every optimizer has.
const LEARNING_RATE: &str = "learning_rate";
const WEIGHT_DECAY: &str = "weight_decay";
const CLIP_GRAD_NORM: &str = "clip_grad_norm";

/// What every optimizer shares: learning rate, weight decay, clipping and the state map, with
/// the step driver. Each algorithm pairs a `Core` with its [`Rule`].
#[derive(Clone, Debug)]
struct Core {
    lr: f32,
    weight_decay: f32,
    clip_grad_norm: Option<f32>,
    states: HashMap<String, ParamState>,
    /// Set by `load_state`: the next step checks that the model's names are the state's.
    check_names: bool,
    /// Counts checking passes; see [`ParamState::seen`].
    epoch: u64,
}

impl Core {
    fn new(algorithm: &str, lr: f32) -> Self {
        Core {
            lr: expect_valid(algorithm, check_non_negative("learning rate", lr)),
            weight_decay: 0.0,
            clip_grad_norm: None,
            states: HashMap::new(),
            check_names: false,
            epoch: 0,
        }
    }

    fn set_learning_rate(&mut self, algorithm: &str, lr: f32) {
        self.lr = expect_valid(algorithm, check_non_negative("learning rate", lr));
    }

    fn set_weight_decay(&mut self, algorithm: &str, lambda: f32) {
        self.weight_decay = expect_valid(algorithm, check_non_negative("weight decay", lambda));
    }

    fn set_clip_grad_norm(&mut self, algorithm: &str, max_norm: Option<f32>) {
        self.clip_grad_norm = max_norm.map(|m| expect_valid(algorithm, check_positive("clip_grad_norm", m)));
    }

    fn reset(&mut self) {
        self.states.clear();
        self.check_names = false;
    }

    /// One optimizer step: a checking pass that also measures the global norm, then the update
    /// pass. Checking first means an error leaves every parameter as it was.
    fn step<R: Rule>(&mut self, model: &mut dyn Layer, rule: &R) -> Result<()> {
        let scale = self.check(model)?;
        let Core {
            lr,
            weight_decay,
            states,
            ..
        } = self;
        let (lr, weight_decay) = (*lr, *weight_decay);
        let n_slots = rule.slots().len();
        for_each_param(model, |name, p| {
            if !states.contains_key(name) {
                // First sight of this parameter: the only allocation of its lifetime.
                let slots = (0..n_slots).map(|_| Tensor::zeros(p.value.raw_dim())).collect();
                let shape = p.value.shape().to_vec();
                states.insert(
                    name.to_owned(),
                    ParamState {
                        shape,
                        step: 0,
                        slots,
                        seen: 0,
                    },
                );
            }
            let state = states.get_mut(name).expect("state inserted above");
            state.step += 1;
            let decays = p.kind.decays();
            rule.update(Update {
                value: p.value,
                grad: p.grad.view(),
                slots: &mut state.slots,
                lr,
                step: state.step,
                grad_fn: EffGrad {
                    l2: if decays { weight_decay } else { 0.0 },
                    scale,
                },
                decays,
            });
        });
        self.check_names = false;
        Ok(())
    }

    /// Checks every parameter's state shape, that no two parameters share a
    /// name (and, after `load_state`, that the names are the state's), and returns the clipping
    /// factor.
    fn check(&mut self, model: &mut dyn Layer) -> Result<f32, OptimError> {
        self.epoch += 1;
        let epoch = self.epoch;
        let mut error = None;
        let mut sum_sq = 0.0f64;
        let mut matched = 0usize;
        let mut missing = Vec::new();
        // Names without state yet; allocates only on steps that meet new parameters.
        let mut new_names = HashSet::new();
        for_each_param(model, |name, p| {
            if error.is_some() {
                return;
            }
            let duplicate = || OptimError::DuplicateName {
                name: name.to_owned(),
            };
            match self.states.get_mut(name) {
                Some(state) if state.seen == epoch => {
                    error = Some(duplicate());
                    return;
                }
                Some(state) if state.shape != p.value.shape() => {
                    error = Some(OptimError::ShapeChanged {
                        name: name.to_owned(),
                        expected: state.shape.clone(),
                        found: p.value.shape().to_vec(),
                    });
                    return;
                }
                Some(state) => {
                    state.seen = epoch;
                    matched += 1;
                }
                None if !new_names.insert(name.to_owned()) => {
                    error = Some(duplicate());
                    return;
                }
                None if self.check_names => missing.push(name.to_owned()),
                None => {}
            }
            if self.clip_grad_norm.is_some() {
                let l2 = if p.kind.decays() { self.weight_decay } else { 0.0 };
                let sq = regularization::sum_sq_eff_grad(p.value.view(), p.grad.view(), l2);
                if !sq.is_finite() {
                    error = Some(OptimError::NonFiniteGradient {
                        name: name.to_owned(),
                    });
                    return;
                }
                sum_sq += sq;
            }
        });
        if let Some(error) = error {
            return Err(error);
        }
        if self.check_names && (!missing.is_empty() || matched != self.states.len()) {
            let names = param_names(model);
            let mut unexpected: Vec<String> = self
                .states
                .keys()
                .filter(|k| !names.contains(k))
                .cloned()
                .collect();
            unexpected.sort();
            return Err(OptimError::ParamNames { missing, unexpected });
        }
        Ok(match self.clip_grad_norm {
            Some(max_norm) => {
                let norm = sum_sq.sqrt();
                if norm > max_norm as f64 {
                    (max_norm as f64 / norm) as f32
                } else {
                    1.0
                }
            }
            None => 1.0,
        })
    }

    fn state<R: Rule>(&self, rule: &R) -> OptimizerState {
        let mut hyperparameters = BTreeMap::new();
        hyperparameters.insert(LEARNING_RATE.to_string(), self.lr);
        hyperparameters.insert(WEIGHT_DECAY.to_string(), self.weight_decay);
        if let Some(max_norm) = self.clip_grad_norm {
            hyperparameters.insert(CLIP_GRAD_NORM.to_string(), max_norm);
        }
        for &name in rule.hyper_names() {
            hyperparameters.insert(name.to_string(), rule.hyper(name));
        }
        let params = self
            .states
            .iter()
            .map(|(name, s)| {
                let slots = rule
                    .slots()
                    .iter()
                    .zip(&s.slots)
                    .map(|(slot, t)| (slot.to_string(), t.iter().copied().collect()))
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
            algorithm: rule.algorithm().to_string(),
            hyperparameters,
            params,
        }
    }

    /// Validates `state` completely before changing anything, then replaces hyper-parameters
    /// and per-parameter state.
    fn load_state<R: Rule>(&mut self, rule: &mut R, state: &OptimizerState) -> Result<(), OptimError> {
        let algorithm = rule.algorithm();
        if state.algorithm != algorithm {
            return Err(OptimError::WrongAlgorithm {
                expected: algorithm,
                found: state.algorithm.clone(),
            });
        }
        let invalid = |message: String| OptimError::InvalidState { message };
        let hyper = &state.hyperparameters;
        let get = |name: &str| {
            hyper
                .get(name)
                .copied()
                .ok_or_else(|| invalid(format!("{algorithm} state lacks hyper-parameter `{name}`")))
        };
        let lr = check_non_negative(LEARNING_RATE, get(LEARNING_RATE)?).map_err(invalid)?;
        let weight_decay = check_non_negative(WEIGHT_DECAY, get(WEIGHT_DECAY)?).map_err(invalid)?;
        let clip_grad_norm = match hyper.get(CLIP_GRAD_NORM) {
            Some(&m) => Some(check_positive(CLIP_GRAD_NORM, m).map_err(invalid)?),
            None => None,
        };
        let mut new_rule = rule.clone();
        for &name in rule.hyper_names() {
            new_rule.set_hyper(name, get(name)?).map_err(invalid)?;
        }
        let known = |k: &str| {
            [LEARNING_RATE, WEIGHT_DECAY, CLIP_GRAD_NORM].contains(&k) || rule.hyper_names().contains(&k)
        };
        if let Some(k) = hyper.keys().find(|k| !known(k)) {
            return Err(invalid(format!("{algorithm} has no hyper-parameter `{k}`")));
        }

        let mut states = HashMap::with_capacity(state.params.len());
        // `seen` restarts at 0; epochs only grow, so no restored entry looks seen.
        for (name, record) in &state.params {
            // A shape read from a file may be corrupt: its size must not overflow.
            let Some(n) = record.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
                return Err(invalid(format!(
                    "parameter `{name}` has shape {:?}, too large to exist",
                    record.shape
                )));
            };
            if record.slots.len() != rule.slots().len()
                || !rule.slots().iter().all(|s| record.slots.contains_key(*s))
            {
                let found: Vec<&String> = record.slots.keys().collect();
                return Err(invalid(format!(
                    "parameter `{name}` has state slots {found:?}, {algorithm} expects {:?}",
                    rule.slots()
                )));
            }
            let mut slots = Vec::with_capacity(rule.slots().len());
            for &slot in rule.slots() {
                let data = &record.slots[slot];
                if data.len() != n {
                    return Err(invalid(format!(
                        "slot `{slot}` of parameter `{name}` has {} values, its shape {:?} needs {n}",
                        data.len(),
                        record.shape
                    )));
                }
                let tensor = Tensor::from_shape_vec(IxDyn(&record.shape), data.clone())
                    .expect("length checked against the shape");
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

        *rule = new_rule;
        self.lr = lr;
        self.weight_decay = weight_decay;
        self.clip_grad_norm = clip_grad_norm;
        self.check_names = !states.is_empty();
        self.states = states;
        Ok(())
    }
}

/// Implements [`Optimizer`] and the shared builders for an algorithm struct holding
/// `core: Core` and `rule: impl Rule`.
macro_rules! optimizer_common {
    ($ty:ident) => {
        impl $ty {
            /// Adds L2 weight decay `lambda`: `g += lambda * W` on weights only (see
            /// [`Optimizer::set_weight_decay`](crate::optim::Optimizer::set_weight_decay)).
            ///
            /// # Panics
            /// If `lambda` is negative or not finite.
            pub fn with_weight_decay(mut self, lambda: f32) -> Self {
                $crate::optim::Optimizer::set_weight_decay(&mut self, lambda);
                self
            }

            /// Clips gradients to a global norm of at most `max_norm` before each step (see
            /// [`Optimizer::set_clip_grad_norm`](crate::optim::Optimizer::set_clip_grad_norm)).
            ///
            /// # Panics
            /// If `max_norm` is not positive and finite.
            pub fn with_clip_grad_norm(mut self, max_norm: f32) -> Self {
                $crate::optim::Optimizer::set_clip_grad_norm(&mut self, Some(max_norm));
                self
            }
        }

        impl $crate::optim::Optimizer for $ty {
            fn name(&self) -> &'static str {
                $crate::optim::Rule::algorithm(&self.rule)
            }
            fn step(&mut self, model: &mut dyn $crate::layer::Layer) -> $crate::error::Result<()> {
                self.core.step(model, &self.rule)
            }
            fn learning_rate(&self) -> f32 {
                self.core.lr
            }
            fn set_learning_rate(&mut self, lr: f32) {
                let name = self.name();
                self.core.set_learning_rate(name, lr)
            }
            fn weight_decay(&self) -> f32 {
                self.core.weight_decay
            }
            fn set_weight_decay(&mut self, lambda: f32) {
                let name = self.name();
                self.core.set_weight_decay(name, lambda)
            }
            fn clip_grad_norm(&self) -> Option<f32> {
                self.core.clip_grad_norm
            }
            fn set_clip_grad_norm(&mut self, max_norm: Option<f32>) {
                let name = self.name();
                self.core.set_clip_grad_norm(name, max_norm)
            }
            fn state(&self) -> $crate::optim::OptimizerState {
                self.core.state(&self.rule)
            }
            fn load_state(&mut self, state: &$crate::optim::OptimizerState) -> $crate::error::Result<()> {
                Ok(self.core.load_state(&mut self.rule, state)?)
            }
            fn reset(&mut self) {
                self.core.reset()
            }
        }
    };
}
use optimizer_common;
