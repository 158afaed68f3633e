//! SGD with classical momentum.

use super::{check_unit, expect_valid, optimizer_common, Core, Rule, Update};
use ndarray::Zip;

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
#[derive(Clone, Debug)]
pub struct Momentum {
    core: Core,
    rule: MomentumRule,
}

/// The velocity update shared by [`Momentum`] and, with `nesterov`, by
/// [`Nesterov`](super::Nesterov): the two differ only in how the velocity moves the weights.
#[derive(Clone, Debug)]
pub(super) struct MomentumRule {
    pub(super) momentum: f32,
    pub(super) nesterov: bool,
}

impl Momentum {
    /// Momentum SGD with learning rate `lr` and momentum 0.9.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Momentum {
            core: Core::new("Momentum", lr),
            rule: MomentumRule {
                momentum: 0.9,
                nesterov: false,
            },
        }
    }

    /// Sets the momentum coefficient.
    ///
    /// # Panics
    /// If `momentum` is not in `[0, 1)`.
    pub fn with_momentum(mut self, momentum: f32) -> Self {
        expect_valid("Momentum", self.rule.set_hyper("momentum", momentum));
        self
    }

    /// The momentum coefficient.
    pub fn momentum(&self) -> f32 {
        self.rule.momentum
    }
}

impl MomentumRule {
    fn name(&self) -> &'static str {
        if self.nesterov {
            "Nesterov"
        } else {
            "Momentum"
        }
    }
}

impl Rule for MomentumRule {
    fn algorithm(&self) -> &'static str {
        self.name()
    }
    fn slots(&self) -> &'static [&'static str] {
        &["velocity"]
    }
    fn hyper_names(&self) -> &'static [&'static str] {
        &["momentum"]
    }
    fn hyper(&self, name: &str) -> f32 {
        match name {
            "momentum" => self.momentum,
            _ => unreachable!("{} has no hyper-parameter `{name}`", self.name()),
        }
    }
    fn set_hyper(&mut self, name: &str, value: f32) -> Result<(), String> {
        match name {
            "momentum" => self.momentum = check_unit(name, value)?,
            _ => return Err(format!("{} has no hyper-parameter `{name}`", self.name())),
        }
        Ok(())
    }
    fn update(&self, u: Update<'_>) {
        let (lr, eff, m) = (u.lr, u.grad_fn, self.momentum);
        let [v] = u.slots else {
            unreachable!("{} has one slot", self.name())
        };
        if self.nesterov {
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
}

optimizer_common!(Momentum);

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
