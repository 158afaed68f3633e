//! Plain stochastic gradient descent: [`Sgd`].

use super::driver::Optim;
use super::rule::{Slot, Update, UpdateRule};
use ndarray::Zip;
use serde::{Deserialize, Serialize};

/// Stochastic gradient descent: `theta -= lr * g`.
///
/// The seed's `SGD.update` computes `params + lr * grads`, which climbs the loss; this one
/// descends. No per-parameter state beyond the step count.
///
/// ```
/// use nn_core::optim::{Optimizer, Sgd};
/// let opt = Sgd::new(0.1);
/// assert_eq!(opt.learning_rate(), 0.1);
/// ```
pub type Sgd = Optim<SgdRule>;

/// The rule of [`Sgd`]: no hyper-parameters of its own, no state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SgdRule {}

impl Sgd {
    /// SGD with learning rate `lr`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Optim::from_rule(SgdRule {}, lr)
    }
}

impl UpdateRule for SgdRule {
    const NAME: &'static str = "Sgd";
    const SLOTS: &'static [Slot] = &[];

    fn update(&self, u: Update<'_>) {
        let (lr, eff) = (u.lr, u.effective);
        Zip::from(u.value)
            .and(u.grad)
            .for_each(|w, &g| *w -= lr * eff.at(g, *w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::assert_three_steps;

    #[test]
    fn three_steps_match_the_update_rule_by_hand() {
        // w0 = [1, 2], g1 = [1, -2], g2 = [0.5, 1], g3 = [-1, 0.5], lr = 0.1; w -= lr * g:
        // w1 = [1 - 0.1, 2 + 0.2]      = [0.9, 2.2]
        // w2 = [0.9 - 0.05, 2.2 - 0.1] = [0.85, 2.1]
        // w3 = [0.85 + 0.1, 2.1 - 0.05] = [0.95, 2.05]
        assert_three_steps(&mut Sgd::new(0.1), [[0.9, 2.2], [0.85, 2.1], [0.95, 2.05]]);
    }
}
