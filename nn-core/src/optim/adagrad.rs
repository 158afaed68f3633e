//! AdaGrad, per-element learning rates from the sum of squared gradients: [`AdaGrad`].

use super::driver::Optim;
use super::rule::{check_positive, Slot, Update, UpdateRule};
use ndarray::Zip;
use serde::{Deserialize, Serialize};

/// AdaGrad: `h += g * g; theta -= lr * g / (sqrt(h) + eps)`, with `h` starting at zero and
/// `eps = 1e-7` as in the seed.
///
/// Elements with large past gradients take smaller steps. `h` only grows, so the effective
/// learning rate decays over training; RMSProp and Adam forget old gradients instead.
///
/// ```
/// use nn_core::optim::AdaGrad;
/// assert_eq!(AdaGrad::new(0.01).eps(), 1e-7);
/// ```
pub type AdaGrad = Optim<AdaGradRule>;

/// The rule of [`AdaGrad`]; state slot `h`, the sum of squared gradients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaGradRule {
    /// Added to `sqrt(h)` to avoid dividing by zero; positive.
    pub eps: f32,
}

impl AdaGrad {
    /// AdaGrad with learning rate `lr` and `eps = 1e-7`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Optim::from_rule(AdaGradRule { eps: 1e-7 }, lr)
    }

    /// Sets the `eps` added to `sqrt(h)` to avoid dividing by zero.
    ///
    /// # Panics
    /// If `eps` is not positive and finite.
    pub fn with_eps(self, eps: f32) -> Self {
        self.with_rule(|r| r.eps = eps)
    }

    /// The `eps` added to `sqrt(h)`.
    pub fn eps(&self) -> f32 {
        self.rule().eps
    }
}

impl UpdateRule for AdaGradRule {
    const NAME: &'static str = "AdaGrad";
    const SLOTS: &'static [Slot] = &[Slot::non_negative("h")];

    fn validate(&self) -> Result<(), String> {
        check_positive("eps", self.eps)
    }

    fn update(&self, u: Update<'_>) {
        squared_gradient_update(u, self.eps, |h, g| h + g * g);
    }
}

/// `h = accumulate(h, g); theta -= lr * g / (sqrt(h) + eps)`, `g` being the effective gradient:
/// AdaGrad's and RMSProp's step, which differ only in how `h` gathers the squared gradients.
pub(super) fn squared_gradient_update(u: Update<'_>, eps: f32, accumulate: impl Fn(f32, f32) -> f32) {
    let (lr, eff) = (u.lr, u.effective);
    let [h] = u.slots else {
        unreachable!("the squared-gradient rules have one slot")
    };
    Zip::from(u.value).and(u.grad).and(h).for_each(|w, &g, h| {
        let g = eff.at(g, *w);
        *h = accumulate(*h, g);
        *w -= lr * g / (h.sqrt() + eps);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::assert_three_steps;

    #[test]
    fn three_steps_match_the_update_rule_by_hand() {
        // w0 = [1, 2], g1 = [1, -2], g2 = [0.5, 1], g3 = [-1, 0.5], lr = 0.1; eps = 1e-7 shifts
        // each value by under 1e-7 and is left out of the arithmetic:
        // h1 = [1, 4];       w1 = [1 - 0.1 * 1/1, 2 + 0.1 * 2/2] = [0.9, 2.1]
        // h2 = [1.25, 5];    w2 = [0.9 - 0.05/sqrt(1.25), 2.1 - 0.1/sqrt(5)]
        //                       = [0.9 - 0.0447214, 2.1 - 0.0447214] = [0.8552786, 2.0552786]
        // h3 = [2.25, 5.25]; w3 = [0.8552786 + 0.1/1.5, 2.0552786 - 0.05/sqrt(5.25)]
        //                       = [0.8552786 + 0.0666667, 2.0552786 - 0.0218218]
        //                       = [0.9219453, 2.0334568]
        assert_three_steps(
            &mut AdaGrad::new(0.1),
            [[0.9, 2.1], [0.8552786, 2.0552786], [0.9219453, 2.0334568]],
        );
    }
}
