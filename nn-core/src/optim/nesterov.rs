//! Nesterov accelerated gradient, in the seed's formulation: [`Nesterov`].

use super::driver::Optim;
use super::momentum::velocity_update;
use super::rule::{check_unit_interval, Slot, Update, UpdateRule};
use serde::{Deserialize, Serialize};

/// Nesterov accelerated gradient:
/// `v_prev = v; v = momentum * v - lr * g; theta += -momentum * v_prev + (1 + momentum) * v`.
///
/// This is the seed's formulation (Bengio et al.'s rewriting of NAG): `theta` holds the
/// look-ahead point `theta_true + momentum * v`, so the gradient the model computes there is the
/// look-ahead gradient NAG needs, without a second forward pass. Default momentum 0.9.
///
/// ```
/// use nn_core::optim::Nesterov;
/// assert_eq!(Nesterov::new(0.01).momentum(), 0.9);
/// ```
pub type Nesterov = Optim<NesterovRule>;

/// The rule of [`Nesterov`]; state slot `velocity`, as [`Momentum`](super::Momentum)'s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NesterovRule {
    /// The momentum coefficient, in `[0, 1)`.
    pub momentum: f32,
}

impl Nesterov {
    /// Nesterov momentum with learning rate `lr` and momentum 0.9.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Optim::from_rule(NesterovRule { momentum: 0.9 }, lr)
    }

    /// Sets the momentum coefficient.
    ///
    /// # Panics
    /// If `momentum` is not in `[0, 1)`.
    pub fn with_momentum(self, momentum: f32) -> Self {
        self.with_rule(|r| r.momentum = momentum)
    }

    /// The momentum coefficient.
    pub fn momentum(&self) -> f32 {
        self.rule().momentum
    }
}

impl UpdateRule for NesterovRule {
    const NAME: &'static str = "Nesterov";
    const SLOTS: &'static [Slot] = &[Slot::new("velocity")];

    fn validate(&self) -> Result<(), String> {
        check_unit_interval("momentum", self.momentum)
    }

    fn update(&self, u: Update<'_>) {
        velocity_update(u, self.momentum, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::assert_three_steps;

    #[test]
    fn three_steps_match_the_update_rule_by_hand() {
        // w0 = [1, 2], g1 = [1, -2], g2 = [0.5, 1], g3 = [-1, 0.5], lr = 0.1, momentum 0.9.
        // v follows Momentum: v1 = [-0.1, 0.2], v2 = [-0.14, 0.08], v3 = [-0.026, 0.022], and
        // w += -0.9 * v_prev + 1.9 * v:
        // w1 = w0 + 1.9 * v1                        = [1 - 0.19, 2 + 0.38]       = [0.81, 2.38]
        // w2 = w1 - 0.9 * v1 + 1.9 * v2 = w1 + [0.09 - 0.266, -0.18 + 0.152]  = [0.634, 2.352]
        // w3 = w2 - 0.9 * v2 + 1.9 * v3 = w2 + [0.126 - 0.0494, -0.072 + 0.0418]
        //                                                                     = [0.7106, 2.3218]
        assert_three_steps(
            &mut Nesterov::new(0.1),
            [[0.81, 2.38], [0.634, 2.352], [0.7106, 2.3218]],
        );
    }
}
