//! Plain stochastic gradient descent.

use super::{optimizer_common, Core, Rule, Update};
use ndarray::Zip;

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
#[derive(Clone, Debug)]
pub struct Sgd {
    core: Core,
    rule: SgdRule,
}

#[derive(Clone, Debug)]
struct SgdRule;

impl Sgd {
    /// SGD with learning rate `lr`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Sgd {
            core: Core::new("Sgd", lr),
            rule: SgdRule,
        }
    }
}

impl Rule for SgdRule {
    fn algorithm(&self) -> &'static str {
        "Sgd"
    }
    fn slots(&self) -> &'static [&'static str] {
        &[]
    }
    fn hyper_names(&self) -> &'static [&'static str] {
        &[]
    }
    fn hyper(&self, name: &str) -> f32 {
        unreachable!("Sgd has no hyper-parameter `{name}`")
    }
    fn set_hyper(&mut self, name: &str, _value: f32) -> Result<(), String> {
        Err(format!("Sgd has no hyper-parameter `{name}`"))
    }
    fn update(&self, u: Update<'_>) {
        let (lr, eff) = (u.lr, u.grad_fn);
        Zip::from(u.value)
            .and(u.grad)
            .for_each(|w, &g| *w -= lr * eff.at(g, *w));
    }
}

optimizer_common!(Sgd);

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
