//! Optimizers: the [`Optimizer`] trait with [`Sgd`], [`Momentum`], [`Nesterov`], [`AdaGrad`],
//! [`RmsProp`], [`Adam`] and [`AdamW`], L2 weight decay and gradient clipping by global norm.
//!
//! An optimizer updates every trainable parameter of a model from the gradients the last
//! backward left. Buffers (BatchNorm running statistics) are never visited.
//!
//! # Writing an optimizer
//! An algorithm is an [`UpdateRule`]: a serde struct of hyper-parameters naming its state
//! [`Slot`]s and updating one parameter at a time from an [`Update`]. [`Optim<R>`] runs it with
//! everything below (weight decay, clipping, per-parameter state, saving and resuming); every
//! built-in is one (`Adam` is `Optim<AdamRule>`). The files of this module: `mod.rs` the trait,
//! `rule.rs` the extension point, `driver.rs` the step (`checks.rs` what it checks first),
//! `state.rs` the saved form, `error.rs`, `regularization.rs` (L2 penalty, global norm), and one
//! file per algorithm.
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
mod adamw;
mod checks;
mod driver;
mod error;
mod group;
mod momentum;
mod nesterov;
mod regularization;
mod rmsprop;
mod rule;
mod sgd;
mod state;

#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod tests;

pub use adagrad::{AdaGrad, AdaGradRule};
pub use adam::{Adam, AdamRule};
pub use adamw::{AdamW, AdamWRule};
pub use driver::Optim;
pub use error::OptimError;
pub use group::ParamGroup;
pub use momentum::{Momentum, MomentumRule};
pub use nesterov::{Nesterov, NesterovRule};
pub use regularization::{global_grad_norm, l2_penalty};
pub use rmsprop::{RmsProp, RmsPropRule};
pub use rule::{
    check_non_negative, check_positive, check_unit_interval, EffectiveGrad, Slot, Update, UpdateRule,
    MAX_STEP,
};
pub use sgd::{Sgd, SgdRule};
pub use state::{GroupRecord, OptimizerState, ParamRecord};

use crate::error::Result;
use crate::layer::Layer;

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
    /// parameters share a name, if clipping is on and a gradient is not finite, if a parameter
    /// has taken [`MAX_STEP`] steps, or if the model's parameter names differ from those of a
    /// state restored with [`Optimizer::load_state`].
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
    /// shapes, slot values finite and within their [`Slot`]'s range, step counts below
    /// [`MAX_STEP`]) here, and against the model on the next
    /// [`Optimizer::step`], which fails if the model's parameter names or shapes differ from
    /// the snapshot's. On error nothing changes.
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;

    /// Forgets every parameter's state (as if no step had been taken), keeping hyper-parameters.
    fn reset(&mut self);

    /// The L2 penalty `0.5 * lambda * sum W^2` over `model`'s weights for this optimizer's weight
    /// decay, to add to the reported loss (0 when weight decay is off).
    fn l2_penalty(&self, model: &mut dyn Layer) -> f32 {
        l2_penalty(model, self.weight_decay())
    }

    /// The parameter groups beside the default one, in the order they were added (none unless
    /// [`Optimizer::add_param_group`] added some).
    fn param_groups(&self) -> &[ParamGroup] {
        &[]
    }

    /// Adds a parameter group (PyTorch's `add_param_group`): its parameters get its learning rate
    /// and weight decay, or are frozen. A rate or decay it leaves unset is this optimizer's now.
    /// Which parameters it claims is checked against the model on the next
    /// [`Optimizer::check_model`] or step: a path that names nothing, or a parameter claimed by
    /// two groups, is an error then.
    ///
    /// # Panics
    /// If the optimizer has no parameter groups (the default, for an optimizer written outside
    /// [`Optim`]), or a group of the same name exists.
    fn add_param_group(&mut self, group: ParamGroup) {
        panic!(
            "{}: this optimizer has no parameter groups, so it cannot add `{}`",
            self.name(),
            group.name()
        )
    }

    /// Sets the learning rate of group `index` of [`Optimizer::param_groups`] (schedules call
    /// this for every group).
    ///
    /// # Panics
    /// If there is no such group, or `lr` is negative or not finite.
    fn set_group_learning_rate(&mut self, index: usize, lr: f32) {
        panic!(
            "{}: no parameter group {index} (to set its rate to {lr})",
            self.name()
        )
    }

    /// Whether the parameter called `name` is frozen (in a frozen group).
    fn is_frozen(&self, name: &str) -> bool {
        self.param_groups()
            .iter()
            .find(|g| g.claims(name))
            .is_some_and(ParamGroup::is_frozen)
    }

    /// Checks that `model` fits this optimizer, changing nothing: every group claims a parameter,
    /// no parameter is claimed by two groups, and after [`Optimizer::load_state`] the model's
    /// parameters are the state's. [`Optimizer::step`] checks the same; the trainer calls this
    /// before the first epoch so that a mistake is reported before anything trains.
    fn check_model(&mut self, model: &mut dyn Layer) -> Result<()> {
        let _ = model;
        Ok(())
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
    fn l2_penalty(&self, model: &mut dyn Layer) -> f32 {
        (**self).l2_penalty(model)
    }
    fn param_groups(&self) -> &[ParamGroup] {
        (**self).param_groups()
    }
    fn add_param_group(&mut self, group: ParamGroup) {
        (**self).add_param_group(group)
    }
    fn set_group_learning_rate(&mut self, index: usize, lr: f32) {
        (**self).set_group_learning_rate(index, lr)
    }
    fn is_frozen(&self, name: &str) -> bool {
        (**self).is_frozen(name)
    }
    fn check_model(&mut self, model: &mut dyn Layer) -> Result<()> {
        (**self).check_model(model)
    }
}
