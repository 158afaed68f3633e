//! The step driver every optimizer shares: [`Optim<R>`] runs an [`UpdateRule`] with learning
//! rate, weight decay, clipping, parameter groups and per-parameter state, checking everything
//! before it updates.

use super::error::OptimError;
use super::group::{group_of, ParamGroup};
use super::regularization::l2_penalty;
use super::rule::{check_non_negative, check_positive, EffectiveGrad, Update, UpdateRule};
use super::state::{rule_to_map, OptimizerState};
use super::Optimizer;
use crate::error::Result;
use crate::layer::{for_each_param, Layer, ParamKind};
use crate::tensor::{Tensor, TensorView, TensorViewMut};
use std::collections::HashMap;

/// An [`Optimizer`] made of an [`UpdateRule`] and what every algorithm shares: the learning
/// rate, L2 weight decay, clipping by global norm, parameter groups (each with its rate and
/// decay, or frozen) and per-parameter state by name.
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
    pub(super) epoch: u64,
    /// The parameter groups beside the default one, in the order added.
    pub(super) groups: Vec<ParamGroup>,
    /// The names each group claimed when last checked against a model (or, after `load_state`,
    /// when the state was saved), in visiting order.
    pub(super) members: Vec<Vec<String>>,
    /// Whether `members` must be checked against the model at the next step: groups were added
    /// or state restored since the last check.
    pub(super) check_groups: bool,
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
    scale: f32,
}

/// The learning rate and weight decay of one parameter's group.
#[derive(Clone, Copy)]
struct Setting {
    lr: f32,
    weight_decay: f32,
}

impl<R: UpdateRule> Shared<'_, R> {
    /// One step of parameter `name` (`value`, with `grad`) and its `state`.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        name: &str,
        value: TensorViewMut<'_>,
        grad: TensorView<'_>,
        kind: ParamKind,
        setting: Setting,
        state: &mut ParamState,
    ) {
        // Cannot overflow: `check` refused counts at MAX_STEP, and restored ones are below.
        state.step += 1;
        let decays = kind.decays();
        self.rule.update(Update {
            value,
            grad,
            effective: EffectiveGrad {
                l2: if decays { setting.weight_decay } else { 0.0 },
                scale: self.scale,
            },
            slots: &mut state.slots,
            lr: setting.lr,
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
            scale,
        };
        let mut outcome = Vec::new();
        let mut error = None;
        for_each_param(model, |name, p| {
            let Some(setting) = self.setting(name) else {
                return;
            };
            if error.is_some() {
                return;
            }
            let mut value = p.value.to_owned();
            let mut state = match self.states.get(name) {
                Some(state) => state.clone(),
                None => ParamState::new::<R>(p.value.shape()),
            };
            shared.update(name, value.view_mut(), p.grad.view(), p.kind, setting, &mut state);
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
        let groups = &self.groups;
        for_each_param(model, |name, mut p| {
            if group_of(groups, name).is_some_and(|g| groups[g].is_frozen()) {
                return;
            }
            let (value, state) = outcome.next().expect("one outcome per trained parameter");
            p.value.assign(&value);
            self.states.insert(name.to_owned(), state);
        });
        Ok(())
    }
}

/// The rate and decay of the parameter called `name` (`lr` and `weight_decay` if no group claims
/// it), `None` if it is frozen.
fn setting_of(groups: &[ParamGroup], lr: f32, weight_decay: f32, name: &str) -> Option<Setting> {
    match group_of(groups, name).map(|g| &groups[g]) {
        None => Some(Setting { lr, weight_decay }),
        Some(g) if g.is_frozen() => None,
        Some(g) => Some(Setting {
            lr: g.learning_rate(),
            weight_decay: g.decay(),
        }),
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
            groups: Vec::new(),
            members: Vec::new(),
            check_groups: false,
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

    /// Adds a parameter group (see [`Optimizer::add_param_group`]).
    ///
    /// # Panics
    /// If a group of the same name exists.
    pub fn group(mut self, group: ParamGroup) -> Self {
        self.add_param_group(group);
        self
    }

    /// Freezes the parameters at or under the layer path `path` (`"fc1"`, `"block.conv1"`): a
    /// frozen [`ParamGroup::prefix`] group.
    pub fn freeze(self, path: &str) -> Self {
        self.group(ParamGroup::prefix(path).frozen())
    }

    /// Freezes the parameters `select` says yes to, by full name: a frozen
    /// [`ParamGroup::matching`] group called `name`.
    pub fn freeze_where(self, name: &str, select: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.group(ParamGroup::matching(name, select).frozen())
    }

    /// The rate and decay of the parameter called `name`, `None` if it is frozen.
    fn setting(&self, name: &str) -> Option<Setting> {
        setting_of(&self.groups, self.lr, self.weight_decay, name)
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
        let scale = self.check(model, true)?;
        if self.trial {
            self.trial_step(model, scale)?;
        } else {
            let Optim {
                rule,
                lr,
                weight_decay,
                states,
                groups,
                ..
            } = self;
            let shared = Shared { rule: &*rule, scale };
            for_each_param(model, |name, p| {
                // Frozen: no state, no update (and its gradient may not have been computed).
                let Some(setting) = setting_of(groups, *lr, *weight_decay, name) else {
                    return;
                };
                if !states.contains_key(name) {
                    // First sight of this parameter: the only allocation of its lifetime.
                    states.insert(name.to_owned(), ParamState::new::<R>(p.value.shape()));
                }
                let state = states.get_mut(name).expect("state inserted above");
                shared.update(name, p.value, p.grad.view(), p.kind, setting, state);
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

    /// Over trained parameters only, each with its group's decay.
    fn l2_penalty(&self, model: &mut dyn Layer) -> f32 {
        if self.groups.is_empty() {
            return l2_penalty(model, self.weight_decay);
        }
        if self.weight_decay == 0.0 && self.groups.iter().all(|g| g.decay() == 0.0 || g.is_frozen()) {
            return 0.0;
        }
        let mut sum = 0.0f64;
        for_each_param(model, |name, p| {
            if let Some(s) = self.setting(name).filter(|_| p.kind.decays()) {
                let sq: f64 = p.value.iter().map(|&w| f64::from(w) * f64::from(w)).sum();
                sum += f64::from(s.weight_decay) * sq;
            }
        });
        (0.5 * sum) as f32
    }

    fn param_groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    fn add_param_group(&mut self, group: ParamGroup) {
        assert!(
            self.groups.iter().all(|g| g.name() != group.name()),
            "{}: a parameter group called `{}` exists already",
            R::NAME,
            group.name()
        );
        self.groups.push(group.resolve(self.lr, self.weight_decay));
        self.members.push(Vec::new());
        self.check_groups = true;
    }

    fn set_group_learning_rate(&mut self, index: usize, lr: f32) {
        expect_valid(R::NAME, check_non_negative("learning rate", lr));
        let count = self.groups.len();
        let group = self
            .groups
            .get_mut(index)
            .unwrap_or_else(|| panic!("{}: no parameter group {index} (there are {count})", R::NAME));
        group.set_lr(lr);
    }

    fn check_model(&mut self, model: &mut dyn Layer) -> Result<()> {
        // Without new groups or restored state, the first step has nothing more to find.
        if self.check_groups || self.check_names {
            self.check(model, false)?;
        }
        Ok(())
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
