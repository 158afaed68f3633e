//! AdamW (Loshchilov & Hutter), Adam with decoupled weight decay: [`AdamW`].

use super::adam::{moments_update, AdamRule};
use super::driver::Optim;
use super::rule::{check_non_negative, Slot, Update, UpdateRule};
use serde::{Deserialize, Serialize};

/// AdamW, Adam with decoupled weight decay (Loshchilov & Hutter, 2019): before Adam's update,
/// each weight shrinks by `theta -= lr * weight_decay * theta`, independently of the moment
/// estimates.
///
/// The decay applies to weights only ([`ParamKind::Weight`](crate::layer::ParamKind::Weight)), not to
/// biases nor normalisation parameters, as L2 decay does here (PyTorch's `AdamW` decays every
/// parameter it is given unless the caller splits them into groups). Defaults as
/// [`Adam`](super::Adam), with decoupled weight decay 0.01 (PyTorch's default).
///
/// ```
/// use nn_core::optim::AdamW;
/// assert_eq!(AdamW::new(1e-3).decoupled_weight_decay(), 0.01);
/// ```
pub type AdamW = Optim<AdamWRule>;

/// The rule of [`AdamW`]: Adam's hyper-parameters and slots, and the decoupled decay rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWRule {
    /// The moment estimates' settings, saved beside `decoupled_weight_decay` (not nested).
    #[serde(flatten)]
    pub adam: AdamRule,
    /// The decoupled weight decay rate; finite and at least 0.
    pub decoupled_weight_decay: f32,
}

impl AdamW {
    /// AdamW with learning rate `lr`, decoupled weight decay 0.01, betas 0.9 and 0.999 and
    /// `eps = 1e-8`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        let rule = AdamWRule {
            adam: AdamRule::default(),
            decoupled_weight_decay: 0.01,
        };
        Optim::from_rule(rule, lr)
    }

    /// Sets the decoupled weight decay rate.
    ///
    /// # Panics
    /// If `rate` is negative or not finite.
    pub fn with_decoupled_weight_decay(self, rate: f32) -> Self {
        self.with_rule(|r| r.decoupled_weight_decay = rate)
    }

    /// The decoupled weight decay rate.
    pub fn decoupled_weight_decay(&self) -> f32 {
        self.rule().decoupled_weight_decay
    }
}

/// AdamW with learning rate 1e-3 and the defaults of [`AdamW::new`].
impl Default for AdamW {
    fn default() -> Self {
        AdamW::new(1e-3)
    }
}

impl AsRef<AdamRule> for AdamWRule {
    fn as_ref(&self) -> &AdamRule {
        &self.adam
    }
}

impl AsMut<AdamRule> for AdamWRule {
    fn as_mut(&mut self) -> &mut AdamRule {
        &mut self.adam
    }
}

impl UpdateRule for AdamWRule {
    const NAME: &'static str = "AdamW";
    const SLOTS: &'static [Slot] = AdamRule::SLOTS;

    fn validate(&self) -> Result<(), String> {
        self.adam.validate()?;
        check_non_negative("decoupled_weight_decay", self.decoupled_weight_decay)
    }

    fn update(&self, u: Update<'_>) {
        moments_update(u, &self.adam, self.decoupled_weight_decay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::assert_three_steps;

    #[test]
    fn three_steps_match_the_update_rule_by_hand() {
        // Adam's moments (adam.rs's test; they see the raw gradient), with w *= 1 - lr * 0.1 =
        // 0.99 first:
        // w1 = [0.99 - 0.1, 1.98 + 0.1] = [0.89, 2.08]
        // w2 = [0.8811 - 0.0932180, 2.0592 + 0.0266337] = [0.7878820, 2.0858337]
        // w3 = [0.7800032 - 0.0110783, 2.0649754 + 0.0061389] = [0.7689249, 2.0711143]
        assert_three_steps(
            &mut AdamW::new(0.1).with_decoupled_weight_decay(0.1),
            [[0.89, 2.08], [0.7878820, 2.0858337], [0.7689249, 2.0711143]],
        );
    }
}
