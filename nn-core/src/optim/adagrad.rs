//! AdaGrad: per-element learning rates from the sum of squared gradients.

use super::{check_positive, expect_valid, optimizer_common, Core, Rule, Update};
use ndarray::Zip;

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
#[derive(Clone, Debug)]
pub struct AdaGrad {
    core: Core,
    rule: AdaGradRule,
}

#[derive(Clone, Debug)]
struct AdaGradRule {
    eps: f32,
}

impl AdaGrad {
    /// AdaGrad with learning rate `lr` and `eps = 1e-7`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        AdaGrad {
            core: Core::new("AdaGrad", lr),
            rule: AdaGradRule { eps: 1e-7 },
        }
    }

    /// Sets the `eps` added to `sqrt(h)` to avoid dividing by zero.
    ///
    /// # Panics
    /// If `eps` is not positive and finite.
    pub fn with_eps(mut self, eps: f32) -> Self {
        expect_valid("AdaGrad", self.rule.set_hyper("eps", eps));
        self
    }

    /// The `eps` added to `sqrt(h)`.
    pub fn eps(&self) -> f32 {
        self.rule.eps
    }
}

impl Rule for AdaGradRule {
    fn algorithm(&self) -> &'static str {
        "AdaGrad"
    }
    fn slots(&self) -> &'static [&'static str] {
        &["h"]
    }
    fn hyper_names(&self) -> &'static [&'static str] {
        &["eps"]
    }
    fn hyper(&self, name: &str) -> f32 {
        match name {
            "eps" => self.eps,
            _ => unreachable!("AdaGrad has no hyper-parameter `{name}`"),
        }
    }
    fn set_hyper(&mut self, name: &str, value: f32) -> Result<(), String> {
        match name {
            "eps" => self.eps = check_positive(name, value)?,
            _ => return Err(format!("AdaGrad has no hyper-parameter `{name}`")),
        }
        Ok(())
    }
    fn update(&self, u: Update<'_>) {
        let (lr, eff, eps) = (u.lr, u.grad_fn, self.eps);
        let [h] = u.slots else {
            unreachable!("AdaGrad has one slot")
        };
        Zip::from(u.value).and(u.grad).and(h).for_each(|w, &g, h| {
            let g = eff.at(g, *w);
            *h += g * g;
            *w -= lr * g / (h.sqrt() + eps);
        });
    }
}

optimizer_common!(AdaGrad);

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
