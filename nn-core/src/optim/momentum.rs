//! SGD with classical momentum: [`Momentum`], and the velocity update it shares with Nesterov.

use super::driver::Optim;
use super::rule::{check_unit_interval, Slot, Update, UpdateRule};
use ndarray::Zip;
use serde::{Deserialize, Serialize};

/// Momentum: `v = momentum * v - lr * g; theta += v`, with `v` starting at zero.
///
/// The velocity accumulates gradients that keep their direction and cancels those that
/// oscillate, which speeds descent along long narrow valleys. Default momentum 0.9.
///
/// ```
/// use nn_core::optim::Momentum;
/// let opt = Momentum::new(0.01).with_momentum(0.8);
/// assert_eq!(opt.momentum(), 0.8);
/// ```
pub type Momentum = Optim<MomentumRule>;

/// The rule of [`Momentum`]; state slot `velocity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentumRule {
    /// The momentum coefficient, in `[0, 1)`.
    pub momentum: f32,
}

impl Momentum {
    /// Momentum SGD with learning rate `lr` and momentum 0.9.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Optim::from_rule(MomentumRule { momentum: 0.9 }, lr)
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

impl UpdateRule for MomentumRule {
    const NAME: &'static str = "Momentum";
    const SLOTS: &'static [Slot] = &[Slot::new("velocity")];

    fn validate(&self) -> Result<(), String> {
        check_unit_interval("momentum", self.momentum)
    }

    fn update(&self, u: Update<'_>) {
        velocity_update(u, self.momentum, false);
    }
}

/// `v = m * v - lr * g`, then `theta += v` or, with `nesterov`, the seed's look-ahead form
/// `theta += -m * v_prev + (1 + m) * v`: the two algorithms differ only in that last line.
pub(super) fn velocity_update(u: Update<'_>, m: f32, nesterov: bool) {
    let (lr, eff) = (u.lr, u.effective);
    let [v] = u.slots else {
        unreachable!("the velocity rules have one slot")
    };
    if nesterov {
        Zip::from(u.value).and(u.grad).and(v).for_each(|w, &g, v| {
            let v_prev = *v;
            *v = m * v_prev - lr * eff.at(g, *w);
            *w += -m * v_prev + (1.0 + m) * *v;
        });
    } else {
        Zip::from(u.value).and(u.grad).and(v).for_each(|w, &g, v| {
            *v = m * *v - lr * eff.at(g, *w);
            *w += *v;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::assert_three_steps;

    #[test]
    fn three_steps_match_the_update_rule_by_hand() {
        // w0 = [1, 2], g1 = [1, -2], g2 = [0.5, 1], g3 = [-1, 0.5], lr = 0.1, momentum 0.9:
        // v1 = -0.1 * g1 = [-0.1, 0.2];                          w1 = [0.9, 2.2]
        // v2 = 0.9 * v1 - 0.1 * g2 = [-0.09 - 0.05, 0.18 - 0.1]
        //    = [-0.14, 0.08];                                    w2 = [0.76, 2.28]
        // v3 = 0.9 * v2 - 0.1 * g3 = [-0.126 + 0.1, 0.072 - 0.05]
        //    = [-0.026, 0.022];                                  w3 = [0.734, 2.302]
        assert_three_steps(
            &mut Momentum::new(0.1),
            [[0.9, 2.2], [0.76, 2.28], [0.734, 2.302]],
        );
    }
}
