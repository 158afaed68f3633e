//! RMSProp, AdaGrad with a decaying average of squared gradients: [`RmsProp`].

use super::adagrad::squared_gradient_update;
use super::driver::Optim;
use super::rule::{check_positive, check_unit_interval, Slot, Update, UpdateRule};
use serde::{Deserialize, Serialize};

/// RMSProp: `h = decay * h + (1 - decay) * g * g; theta -= lr * g / (sqrt(h) + eps)`, with `h`
/// starting at zero, `decay = 0.99` and `eps = 1e-7` (the seed's AdaGrad epsilon) by default.
///
/// Unlike AdaGrad, old gradients fade, so the step size does not shrink towards zero over a
/// long run.
///
/// ```
/// use nn_core::optim::RmsProp;
/// let opt = RmsProp::new(1e-3);
/// assert_eq!((opt.decay(), opt.eps()), (0.99, 1e-7));
/// ```
pub type RmsProp = Optim<RmsPropRule>;

/// The rule of [`RmsProp`]; state slot `h`, the average of squared gradients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmsPropRule {
    /// The decay rate of the squared-gradient average, in `[0, 1)`.
    pub decay: f32,
    /// Added to `sqrt(h)`; positive.
    pub eps: f32,
}

impl RmsProp {
    /// RMSProp with learning rate `lr`, `decay = 0.99` and `eps = 1e-7`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Optim::from_rule(
            RmsPropRule {
                decay: 0.99,
                eps: 1e-7,
            },
            lr,
        )
    }

    /// Sets the decay rate of the squared-gradient average.
    ///
    /// # Panics
    /// If `decay` is not in `[0, 1)`.
    pub fn with_decay(self, decay: f32) -> Self {
        self.with_rule(|r| r.decay = decay)
    }

    /// Sets the `eps` added to `sqrt(h)`.
    ///
    /// # Panics
    /// If `eps` is not positive and finite.
    pub fn with_eps(self, eps: f32) -> Self {
        self.with_rule(|r| r.eps = eps)
    }

    /// The decay rate of the squared-gradient average.
    pub fn decay(&self) -> f32 {
        self.rule().decay
    }

    /// The `eps` added to `sqrt(h)`.
    pub fn eps(&self) -> f32 {
        self.rule().eps
    }
}

impl UpdateRule for RmsPropRule {
    const NAME: &'static str = "RmsProp";
    const SLOTS: &'static [Slot] = &[Slot::non_negative("h")];

    fn validate(&self) -> Result<(), String> {
        check_unit_interval("decay", self.decay)?;
        check_positive("eps", self.eps)
    }

    fn update(&self, u: Update<'_>) {
        let decay = self.decay;
        squared_gradient_update(u, self.eps, |h, g| decay * h + (1.0 - decay) * g * g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::assert_three_steps;

    #[test]
    fn three_steps_match_the_update_rule_by_hand() {
        // w0 = [1, 2], g1 = [1, -2], g2 = [0.5, 1], g3 = [-1, 0.5], lr = 0.01, decay 0.99
        // (eps = 1e-7 left out of the arithmetic; it shifts w1[0] by 1e-7):
        // h1 = 0.01 * g1^2 = [0.01, 0.04];  w1 = [1 - 0.01 * 1/0.1, 2 + 0.01 * 2/0.2] = [0.9, 2.1]
        // h2 = 0.99 * h1 + 0.01 * g2^2 = [0.0099 + 0.0025, 0.0396 + 0.01] = [0.0124, 0.0496]
        //     w2 = [0.9 - 0.005/0.1113553, 2.1 - 0.01/0.2227106] = [0.8550988, 2.0550986]
        // h3 = 0.99 * h2 + 0.01 * g3^2 = [0.012276 + 0.01, 0.049104 + 0.0025] = [0.022276, 0.051604]
        //     w3 = [0.8550988 + 0.01/0.1492515, 2.0550986 - 0.005/0.2271651]
        //        = [0.8550988 + 0.0670010, 2.0550986 - 0.0220104] = [0.9220998, 2.0330882]
        assert_three_steps(
            &mut RmsProp::new(0.01),
            [[0.9000001, 2.1], [0.8550988, 2.0550986], [0.9220998, 2.0330882]],
        );
    }
}
