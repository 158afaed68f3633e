//! The extension point for new algorithms: the [`UpdateRule`] trait, the per-parameter
//! [`Update`] it is handed, and checks for its hyper-parameters.

use crate::tensor::{Tensor, TensorView, TensorViewMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What makes an algorithm: its name, its per-parameter state slots, its hyper-parameters (the
/// implementing struct, serialised with serde) and its update of one parameter.
///
/// [`Optim<R>`](super::Optim) turns a rule into an [`Optimizer`](super::Optimizer): learning
/// rate, L2 weight decay, gradient clipping, per-parameter state created on first use, checks
/// before any update, and state save/restore all come from there. Every built-in optimizer is
/// such a rule (`Adam` is `Optim<AdamRule>`).
///
/// ```
/// use ndarray::Zip;
/// use nn_core::optim::{Optim, Optimizer, Slot, Update, UpdateRule};
/// use serde::{Deserialize, Serialize};
///
/// /// SGD with a fixed step size per element: `w -= lr * sign(g)`.
/// #[derive(Clone, Debug, Serialize, Deserialize)]
/// struct SignSgd {}
///
/// impl UpdateRule for SignSgd {
///     const NAME: &'static str = "SignSgd";
///     const SLOTS: &'static [Slot] = &[];
///     fn update(&self, u: Update<'_>) {
///         let (lr, eff) = (u.lr, u.effective);
///         Zip::from(u.value).and(u.grad).for_each(|w, &g| {
///             let g = eff.at(g, *w);
///             if g != 0.0 {
///                 *w -= lr * g.signum();
///             }
///         });
///     }
/// }
///
/// let opt = Optim::from_rule(SignSgd {}, 0.01).with_weight_decay(1e-4);
/// assert_eq!(opt.name(), "SignSgd");
/// ```
pub trait UpdateRule: Serialize + DeserializeOwned {
    /// The algorithm's name, as [`Optimizer::name`](super::Optimizer::name) and in saved state.
    const NAME: &'static str;

    /// The per-parameter state tensors, each of the parameter's shape, zero on the first step
    /// and kept by the driver between steps; [`Update::slots`] holds them in this order. A
    /// restored state whose slot holds a value the [`Slot`] refuses is an error.
    const SLOTS: &'static [Slot];

    /// Checks the hyper-parameters: `Err` says which one is wrong and why (`"beta1 must be in
    /// [0, 1), got 1.5"`). Called when the optimizer is built (a panic naming the algorithm)
    /// and when state is restored (an error).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Applies one step to one parameter.
    fn update(&self, u: Update<'_>);
}

/// One per-parameter state slot of an [`UpdateRule`]: its name in saved state and the values it
/// can hold, which [`Optimizer::load_state`](super::Optimizer::load_state) checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    name: &'static str,
    non_negative: bool,
}

impl Slot {
    /// A slot called `name` (`"velocity"`, `"m"`) holding any finite value.
    pub const fn new(name: &'static str) -> Self {
        Slot {
            name,
            non_negative: false,
        }
    }

    /// A slot holding finite values of at least 0: a sum or an average of squares (`"v"`,
    /// `"h"`), where a negative value would make the next step's square root NaN.
    pub const fn non_negative(name: &'static str) -> Self {
        Slot {
            name,
            non_negative: true,
        }
    }

    /// Its name in saved state.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What values it may hold, if `value` is not one of them.
    pub(super) fn refuses(&self, value: f32) -> Option<&'static str> {
        match value {
            v if !v.is_finite() => Some("finite"),
            v if self.non_negative && v < 0.0 => Some("finite and >= 0"),
            _ => None,
        }
    }
}

/// The most steps a parameter can take: 2^53, the last count every smaller one of which an `f64`
/// holds exactly (Adam's bias correction computes with `step as f64`). No run comes near it (at a
/// million steps a second it takes 285 years); a restored state beyond it can only be corrupt.
pub const MAX_STEP: u64 = 1 << 53;

/// One parameter's step, as an [`UpdateRule`] sees it.
pub struct Update<'a> {
    /// The parameter's values, to update in place.
    pub value: TensorViewMut<'a>,
    /// The gradient as the last backward left it, before weight decay and clipping: pass each
    /// element through [`Update::effective`] to get the gradient to apply.
    pub grad: TensorView<'a>,
    /// Turns a stored gradient element into the one to apply: `c * (g + lambda * w)`.
    pub effective: EffectiveGrad,
    /// The rule's state tensors, in [`UpdateRule::SLOTS`] order, each of the parameter's shape
    /// (which they must keep).
    pub slots: &'a mut [Tensor],
    /// The learning rate of this step.
    pub lr: f32,
    /// The number of steps this parameter has taken, this one included (1 on the first; at most
    /// [`MAX_STEP`]).
    pub step: u64,
    /// Whether the parameter is a weight, which weight decay applies to (biases and
    /// normalisation parameters are not decayed); for a rule's own, decoupled decay.
    pub decays: bool,
}

/// The gradient an optimizer applies, from the stored one: L2 weight decay, then clipping by the
/// global norm (see the [module docs](super)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EffectiveGrad {
    /// The L2 coefficient for this parameter: the weight decay for weights, 0 otherwise.
    pub l2: f32,
    /// The clipping factor, 1 when clipping is off or the norm is within bounds.
    pub scale: f32,
}

impl EffectiveGrad {
    /// `scale * (g + l2 * w)` for a stored gradient element `g` at the parameter value `w`.
    #[inline(always)]
    pub fn at(self, g: f32, w: f32) -> f32 {
        self.scale * (g + self.l2 * w)
    }
}

/// Checks `0 <= value < 1` (momentum, betas, decay rates), for [`UpdateRule::validate`].
pub fn check_unit_interval(name: &str, value: f32) -> Result<(), String> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("{name} must be in [0, 1), got {value}"))
    }
}

/// Checks `value > 0` and finite (epsilons), for [`UpdateRule::validate`].
pub fn check_positive(name: &str, value: f32) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be positive and finite, got {value}"))
    }
}

/// Checks `value >= 0` and finite (rates, decays), for [`UpdateRule::validate`].
pub fn check_non_negative(name: &str, value: f32) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be finite and >= 0, got {value}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_gradient_adds_decay_before_scaling() {
        let eff = EffectiveGrad { l2: 0.5, scale: 0.25 };
        // 0.25 * (1 + 0.5 * 2)
        assert_eq!(eff.at(1.0, 2.0), 0.5);
    }

    #[test]
    fn checks_name_the_hyper_parameter_and_the_value() {
        assert_eq!(check_unit_interval("beta1", 0.0), Ok(()));
        assert_eq!(
            check_unit_interval("beta1", 1.0),
            Err("beta1 must be in [0, 1), got 1".into())
        );
        assert!(check_positive("eps", 0.0).unwrap_err().contains("eps"));
        assert!(check_positive("eps", f32::INFINITY).is_err());
        assert_eq!(check_non_negative("rate", 0.0), Ok(()));
        assert!(check_non_negative("rate", f32::NAN).unwrap_err().contains("NaN"));
    }
}
