//! The step driver every optimizer shares: [`Optim<R>`] runs an [`UpdateRule`] with learning
//! rate, weight decay, clipping and per-parameter state, checking everything before it updates.

use super::error::OptimError;
use super::regularization::sum_sq_eff_grad;
use super::rule::{check_non_negative, check_positive, EffectiveGrad, Update, UpdateRule, MAX_STEP};
use super::state::{rule_to_map, OptimizerState};
use super::Optimizer;
use crate::error::Result;
use crate::layer::{for_each_param, param_names, Layer, ParamKind};
use crate::tensor::{Tensor, TensorView, TensorViewMut};
use std::collections::{HashMap, HashSet};

/// An [`Optimizer`] made of an [`UpdateRule`] and what every algorithm shares: the learning
/// rate, L2 weight decay, clipping by global norm, and per-parameter state by name.
///
/// The built-in optimizers are this type with their rule (`Adam` is `Optim<AdamRule>`); a new
/// algorithm is a rule, wrapped with [`Optim::from_rule`].
#[derive(Clone, Debug)]
pub struct Optim<R> {
    pub(super) rule: R,
    pub(super) lr: f32,
    pub(super) weight_decay: f32,
    pub(super) clip_grad_norm: Option<f32>,
    pub(super) states: HashMap<String, ParamState>,
    /// Set by `load_state`: the next step checks that the model's names are the state's.
    pub(super) check_names: bool,
    /// Set by `load_state`: the next step is computed on copies first and refused, changing
    /// nothing, if it would leave a parameter or a slot NaN or infinite (see [`Optim::step`]).
    pub(super) trial: bool,
    /// Counts checking passes; see [`ParamState::seen`].
    epoch: u64,
}

/// The state of one parameter: its shape when first seen, its step count and its slots.
#[derive(Clone, Debug)]
pub(super) struct ParamState {
    pub(super) shape: Vec<usize>,
    pub(super) step: u64,
    /// The rule's slots, in [`UpdateRule::SLOTS`] order, each of `shape`.
    pub(super) slots: Vec<Tensor>,
    /// The [`Optim::epoch`] of the last check that saw this name, to catch two parameters
    /// reported under one name without allocating a set of names every step.
    pub(super) seen: u64,
}

impl ParamState {
    /// The state of a parameter of `shape` before its first step: zero slots.
    fn new<R: UpdateRule>(shape: &[usize]) -> Self {
        ParamState {
            shape: shape.to_vec(),
            step: 0,
            slots: R::SLOTS.iter().map(|_| Tensor::zeros(shape)).collect(),
            seen: 0,
        }
    }
}

/// What one step applies to every parameter.
struct Shared<'a, R> {
    rule: &'a R,
    lr: f32,
    weight_decay: f32,
    scale: f32,
}

impl<R: UpdateRule> Shared<'_, R> {
    /// One step of parameter `name` (`value`, with `grad`) and its `state`.
    fn update(
        &self,
        name: &str,
        value: TensorViewMut<'_>,
        grad: TensorView<'_>,
        kind: ParamKind,
        state: &mut ParamState,
    ) {
        // Cannot overflow: `check` refused counts at MAX_STEP, and restored ones are below.
        state.step += 1;
        let decays = kind.decays();
        self.rule.update(Update {
            value,
            grad,
            effective: EffectiveGrad {
                l2: if decays { self.weight_decay } else { 0.0 },
                scale: self.scale,
            },
            slots: &mut state.slots,
            lr: self.lr,
            step: state.step,
            decays,
        });
        for (slot, t) in R::SLOTS.iter().zip(&state.slots) {
            assert!(
                t.shape() == state.shape,
                "{}: update changed slot `{}` of `{name}` from shape {:?} to {:?}",
                R::NAME,
                slot.name(),
                state.shape,
                t.shape()
            );
        }
    }
}

impl<R: UpdateRule> Optim<R> {
    /// The step after a restore: every update computed on copies, all written only if every
    /// value and slot stays finite (see [`Optimizer::step`]'s implementation notes).
    fn trial_step(&mut self, model: &mut dyn Layer, scale: f32) -> Result<(), OptimError> {
        let shared = Shared {
            rule: &self.rule,
            lr: self.lr,
            weight_decay: self.weight_decay,
            scale,
        };
        let mut outcome = Vec::new();
        let mut error = None;
        for_each_param(model, |name, p| {
            if error.is_some() {
                return;
            }
            let mut value = p.value.to_owned();
            let mut state = match self.states.get(name) {
                Some(state) => state.clone(),
                None => ParamState::new::<R>(p.value.shape()),
            };
            shared.update(name, value.view_mut(), p.grad.view(), p.kind, &mut state);
            let slots = R::SLOTS.iter().zip(&state.slots);
            let broken = std::iter::once(("its value".to_string(), &value))
                .chain(slots.map(|(slot, t)| (format!("its slot `{}`", slot.name()), t)))
                .find(|(_, t)| t.iter().any(|v| !v.is_finite()));
            match broken {
                Some((what, _)) => {
                    error = Some(OptimError::NonFiniteUpdate {
                        name: name.to_owned(),
                        what,
                        optimizer: R::NAME,
                    })
                }
                None => outcome.push((value, state)),
            }
        });
        if let Some(error) = error {
            return Err(error);
        }
        let mut outcome = outcome.into_iter();
        for_each_param(model, |name, mut p| {
            let (value, state) = outcome.next().expect("one outcome per parameter");
            p.value.assign(&value);
            self.states.insert(name.to_owned(), state);
        });
        Ok(())
    }
}

/// Panics with `algorithm: message` for an invalid setting given in code.
fn expect_valid(algorithm: &str, r: std::result::Result<(), String>) {
    if let Err(message) = r {
        panic!("{algorithm}: {message}")
    }
}

impl<R: UpdateRule> Optim<R> {
    /// An optimizer running `rule` at learning rate `lr`, without weight decay or clipping.
    ///
    /// # Panics
    /// If `lr` is negative or not finite, if [`UpdateRule::validate`] refuses the rule, or if
    /// the rule does not serialise as a struct with named fields, or has a field called
    /// `learning_rate`, `weight_decay` or `clip_grad_norm` (names the saved state gives the
    /// optimizer's own settings).
    pub fn from_rule(rule: R, lr: f32) -> Self {
        rule_to_map(&rule);
        expect_valid(R::NAME, rule.validate());
        let mut opt = Optim {
            rule,
            lr: 0.0,
            weight_decay: 0.0,
            clip_grad_norm: None,
            states: HashMap::new(),
            check_names: false,
            trial: false,
            epoch: 0,
        };
        opt.set_learning_rate(lr);
        opt
    }

    /// The rule and its hyper-parameters.
    pub fn rule(&self) -> &R {
        &self.rule
    }

    /// Changes the rule's hyper-parameters with `change`, then validates them.
    ///
    /// # Panics
    /// If [`UpdateRule::validate`] refuses the changed rule.
    pub fn with_rule(mut self, change: impl FnOnce(&mut R)) -> Self {
        change(&mut self.rule);
        expect_valid(R::NAME, self.rule.validate());
        self
    }

    /// Adds L2 weight decay `lambda`: `g += lambda * W` on weights only (see
    /// [`Optimizer::set_weight_decay`]).
    ///
    /// # Panics
    /// If `lambda` is negative or not finite.
    pub fn with_weight_decay(mut self, lambda: f32) -> Self {
        self.set_weight_decay(lambda);
        self
    }

    /// Clips gradients to a global norm of at most `max_norm` before each step (see
    /// [`Optimizer::set_clip_grad_norm`]).
    ///
    /// # Panics
    /// If `max_norm` is not positive and finite.
    pub fn with_clip_grad_norm(mut self, max_norm: f32) -> Self {
        self.set_clip_grad_norm(Some(max_norm));
        self
    }

    /// Checks every parameter's state shape and step count, that no two parameters share a name
    /// (and, after `load_state`, that the names are the state's), and returns the clipping
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
                Some(state) if state.step >= MAX_STEP => {
                    error = Some(OptimError::StepLimit {
                        name: name.to_owned(),
                        limit: MAX_STEP,
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
                let sq = sum_sq_eff_grad(p.value.view(), p.grad.view(), l2);
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
}

impl<R: UpdateRule> Optimizer for Optim<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    /// A checking pass that also measures the global norm, then the update pass: checking
    /// first means an error leaves every parameter as it was.
    ///
    /// The first step after [`Optimizer::load_state`] is a trial: every parameter's update is
    /// computed on copies of its value and slots, and written only if none is NaN or infinite.
    /// A restored state can hold finite values that overflow on their first use (a velocity of
    /// 3e38, moments of 1e30 for a parameter whose gradient is tiny); refusing them here, with
    /// the parameter named and nothing changed, tests the state against the settings, the model
    /// and the gradients it will actually meet, which no bound checked at load could.
    fn step(&mut self, model: &mut dyn Layer) -> Result<()> {
        let scale = self.check(model)?;
        if self.trial {
            self.trial_step(model, scale)?;
        } else {
            let Optim {
                rule,
                lr,
                weight_decay,
                states,
                ..
            } = self;
            let shared = Shared {
                rule: &*rule,
                lr: *lr,
                weight_decay: *weight_decay,
                scale,
            };
            for_each_param(model, |name, p| {
                if !states.contains_key(name) {
                    // First sight of this parameter: the only allocation of its lifetime.
                    states.insert(name.to_owned(), ParamState::new::<R>(p.value.shape()));
                }
                let state = states.get_mut(name).expect("state inserted above");
                shared.update(name, p.value, p.grad.view(), p.kind, state);
            });
        }
        self.check_names = false;
        self.trial = false;
        Ok(())
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        expect_valid(R::NAME, check_non_negative("learning rate", lr));
        self.lr = lr;
    }

    fn weight_decay(&self) -> f32 {
        self.weight_decay
    }

    fn set_weight_decay(&mut self, lambda: f32) {
        expect_valid(R::NAME, check_non_negative("weight decay", lambda));
        self.weight_decay = lambda;
    }

    fn clip_grad_norm(&self) -> Option<f32> {
        self.clip_grad_norm
    }

    fn set_clip_grad_norm(&mut self, max_norm: Option<f32>) {
        if let Some(m) = max_norm {
            expect_valid(R::NAME, check_positive("clip_grad_norm", m));
        }
        self.clip_grad_norm = max_norm;
    }

    fn state(&self) -> OptimizerState {
        self.snapshot()
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        Ok(self.restore(state)?)
    }

    fn reset(&mut self) {
        self.states.clear();
        self.check_names = false;
        self.trial = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::ParamKind;
    use crate::optim::rule::Slot;
    use crate::optim::tests::Toy;
    use serde::{Deserialize, Serialize};

    /// A broken rule: it replaces its slot with one of another shape.
    #[derive(Serialize, Deserialize)]
    struct Reshapes;

    impl UpdateRule for Reshapes {
        const NAME: &'static str = "Reshapes";
        const SLOTS: &'static [Slot] = &[Slot::new("s")];
        fn update(&self, u: Update<'_>) {
            u.slots[0] = Tensor::zeros(ndarray::IxDyn(&[3]));
        }
    }

    #[test]
    #[should_panic(expected = "Reshapes: update changed slot `s` of `w` from shape [2] to [3]")]
    fn a_rule_that_reshapes_a_slot_is_a_bug_named_by_the_driver() {
        let mut model = Toy::new().with("w", ParamKind::Weight, &[1.0, 2.0]);
        let _ = Optim::from_rule(Reshapes, 0.1).step(&mut model);
    }

    #[test]
    fn a_unit_struct_rule_saves_and_restores_without_hyper_parameters() {
        let state = Optim::from_rule(Reshapes, 0.1).state();
        let keys: Vec<&String> = state.hyperparameters.keys().collect();
        assert_eq!(keys, ["learning_rate", "weight_decay"]);
        let mut opt = Optim::from_rule(Reshapes, 0.5);
        opt.load_state(&state).unwrap();
        assert_eq!(opt.learning_rate(), 0.1);
    }

    #[derive(Serialize, Deserialize)]
    struct ClaimsLearningRate {
        learning_rate: f32,
    }

    impl UpdateRule for ClaimsLearningRate {
        const NAME: &'static str = "Claims";
        const SLOTS: &'static [Slot] = &[];
        fn update(&self, _: Update<'_>) {}
    }

    #[test]
    #[should_panic(expected = "Claims: a rule may not have a field `learning_rate`")]
    fn a_rule_field_named_like_a_shared_setting_is_refused_when_built() {
        let _ = Optim::from_rule(ClaimsLearningRate { learning_rate: 1.0 }, 0.1);
    }

    #[derive(Serialize, Deserialize)]
    struct Tuple(f32);

    impl UpdateRule for Tuple {
        const NAME: &'static str = "Tuple";
        const SLOTS: &'static [Slot] = &[];
        fn update(&self, _: Update<'_>) {}
    }

    #[test]
    #[should_panic(expected = "Tuple: a rule must serialise as a struct with named fields, not as `0.5`")]
    fn a_rule_without_named_fields_is_refused_when_built() {
        let _ = Optim::from_rule(Tuple(0.5), 0.1);
    }
}
