//! Adam (Kingma & Ba): [`Adam`], and the moment estimates it shares with AdamW.

use super::driver::Optim;
use super::rule::{check_positive, check_unit_interval, Slot, Update, UpdateRule};
use crate::linalg::{vectorized, PARALLEL_MIN_LEN};
use crate::threads::{both, num_threads};
use ndarray::Zip;
use serde::{Deserialize, Serialize};

/// Adam, as in Kingma & Ba (2015), with `t` the parameter's step count (1 on the first step):
///
/// ```text
/// m = beta1 * m + (1 - beta1) * g
/// v = beta2 * v + (1 - beta2) * g * g
/// m_hat = m / (1 - beta1^t);  v_hat = v / (1 - beta2^t)
/// theta -= lr * m_hat / (sqrt(v_hat) + eps)
/// ```
///
/// `m` and `v` start at zero; the bias corrections undo that start's pull towards zero. Defaults:
/// `lr = 1e-3` ([`Adam::default`]), `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`. L2 weight decay
/// ([`Optim::with_weight_decay`]) enters `g` and so is rescaled per element; for decay that is
/// not, use [`AdamW`](super::AdamW).
///
/// ```
/// use nn_core::optim::{Adam, Optimizer};
/// let opt = Adam::default().with_betas(0.8, 0.99);
/// assert_eq!((opt.learning_rate(), opt.betas(), opt.eps()), (1e-3, (0.8, 0.99), 1e-8));
/// ```
pub type Adam = Optim<AdamRule>;

/// The rule of [`Adam`]; state slots `m` and `v`, the moment estimates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamRule {
    /// The decay rate of the first moment estimate, in `[0, 1)`.
    pub beta1: f32,
    /// The decay rate of the second moment estimate, in `[0, 1)`.
    pub beta2: f32,
    /// Added to `sqrt(v_hat)`; positive.
    pub eps: f32,
}

/// Kingma & Ba's betas 0.9 and 0.999 and `eps = 1e-8`.
impl Default for AdamRule {
    fn default() -> Self {
        AdamRule {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl Adam {
    /// Adam with learning rate `lr`, betas 0.9 and 0.999 and `eps = 1e-8`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Optim::from_rule(AdamRule::default(), lr)
    }
}

/// Adam with Kingma & Ba's defaults, learning rate 1e-3 included.
impl Default for Adam {
    fn default() -> Self {
        Adam::new(1e-3)
    }
}

/// Lets [`AdamW`](super::AdamW), or a rule of yours built on Adam's moments, share the
/// builders below.
impl AsRef<AdamRule> for AdamRule {
    fn as_ref(&self) -> &AdamRule {
        self
    }
}

impl AsMut<AdamRule> for AdamRule {
    fn as_mut(&mut self) -> &mut AdamRule {
        self
    }
}

/// The moment-estimate settings of Adam and AdamW.
impl<R: UpdateRule + AsRef<AdamRule> + AsMut<AdamRule>> Optim<R> {
    /// Sets the decay rates of the first and second moment estimates.
    ///
    /// # Panics
    /// If either is not in `[0, 1)`.
    pub fn with_betas(self, beta1: f32, beta2: f32) -> Self {
        self.with_rule(|r| {
            let adam = r.as_mut();
            adam.beta1 = beta1;
            adam.beta2 = beta2;
        })
    }

    /// Sets the `eps` added to `sqrt(v_hat)`.
    ///
    /// # Panics
    /// If `eps` is not positive and finite.
    pub fn with_eps(self, eps: f32) -> Self {
        self.with_rule(|r| r.as_mut().eps = eps)
    }

    /// The decay rates `(beta1, beta2)` of the moment estimates.
    pub fn betas(&self) -> (f32, f32) {
        let adam = self.rule().as_ref();
        (adam.beta1, adam.beta2)
    }

    /// The `eps` added to `sqrt(v_hat)`.
    pub fn eps(&self) -> f32 {
        self.rule().as_ref().eps
    }
}

impl UpdateRule for AdamRule {
    const NAME: &'static str = "Adam";
    const SLOTS: &'static [Slot] = &[Slot::new("m"), Slot::non_negative("v")];

    fn validate(&self) -> Result<(), String> {
        check_unit_interval("beta1", self.beta1)?;
        check_unit_interval("beta2", self.beta2)?;
        check_positive("eps", self.eps)
    }

    fn update(&self, u: Update<'_>) {
        moments_update(u, self, 0.0);
    }
}

/// Adam's step, after shrinking each weight by `lr * decoupled` (AdamW's decay; 0 for Adam).
pub(super) fn moments_update(mut u: Update<'_>, adam: &AdamRule, decoupled: f32) {
    let (lr, eff, b1, b2, eps) = (u.lr, u.effective, adam.beta1, adam.beta2, adam.eps);
    // The corrections are computed in f64 because beta2^t is within 1e-3 of 1 for early t,
    // where f32 would keep only a few significant digits of 1 - beta2^t.
    let t = u.step as f64;
    let inv_bc1 = (1.0 / (1.0 - (b1 as f64).powf(t))) as f32;
    let inv_bc2 = (1.0 / (1.0 - (b2 as f64).powf(t))) as f32;
    let shrink = if u.decays { lr * decoupled } else { 0.0 };
    let [m, v] = u.slots else {
        unreachable!("Adam has two slots")
    };
    let step = |w: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
        let g = eff.at(g, *w);
        *w -= shrink * *w;
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *w -= lr * (*m * inv_bc1) / ((*v * inv_bc2).sqrt() + eps);
    };
    match (
        u.value.as_slice_mut(),
        u.grad.as_slice(),
        m.as_slice_mut(),
        v.as_slice_mut(),
    ) {
        // Contiguous tensors (always, for the built-in layers): one loop the compiler can
        // vectorise; the same arithmetic as the general case below.
        (Some(ws), Some(gs), Some(ms), Some(vs)) => {
            let run = |ws: &mut [f32], gs: &[f32], ms: &mut [f32], vs: &mut [f32]| {
                vectorized(
                    #[inline(always)]
                    || {
                        for (((w, &g), m), v) in ws.iter_mut().zip(gs).zip(ms.iter_mut()).zip(vs.iter_mut()) {
                            step(w, g, m, v);
                        }
                    },
                )
            };
            // A large parameter is updated in two halves on two threads: the update is bound
            // by the divider (a square root and a division per value), and each core has
            // its own.
            if ws.len() >= PARALLEL_MIN_LEN && num_threads() > 1 {
                let half = ws.len() / 2;
                let (w0, w1) = ws.split_at_mut(half);
                let (g0, g1) = gs.split_at(half);
                let (m0, m1) = ms.split_at_mut(half);
                let (v0, v1) = vs.split_at_mut(half);
                both(|| run(w0, g0, m0, v0), || run(w1, g1, m1, v1));
            } else {
                run(ws, gs, ms, vs);
            }
        }
        _ => Zip::from(u.value)
            .and(u.grad)
            .and(m)
            .and(v)
            .for_each(|w, &g, m, v| step(w, g, m, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::assert_three_steps;

    // w0 = [1, 2], g1 = [1, -2], g2 = [0.5, 1], g3 = [-1, 0.5], lr = 0.1, betas 0.9 / 0.999
    // (eps = 1e-8 left out of the arithmetic):
    // t = 1: m = 0.1 * g1 = [0.1, -0.2]; v = 0.001 * g1^2 = [0.001, 0.004]
    //        m_hat = m / 0.1 = g1; v_hat = v / 0.001 = g1^2; step = lr * g1 / |g1| = [0.1, -0.1]
    // t = 2: m = 0.9 * m + 0.1 * g2 = [0.09 + 0.05, -0.18 + 0.1] = [0.14, -0.08]
    //        v = 0.999 * v + 0.001 * g2^2 = [0.000999 + 0.00025, 0.003996 + 0.001] = [0.001249, 0.004996]
    //        m_hat = m / 0.19 = [0.7368421, -0.4210526]; v_hat = v / 0.001999 = [0.6248124, 2.4992496]
    //        step = 0.1 * m_hat / sqrt(v_hat) = [0.0932180, -0.0266337]
    // t = 3: m = 0.9 * m + 0.1 * g3 = [0.126 - 0.1, -0.072 + 0.05] = [0.026, -0.022]
    //        v = 0.999 * v + 0.001 * g3^2 = [0.001247751 + 0.001, 0.004991004 + 0.00025]
    //          = [0.002247751, 0.005241004]
    //        m_hat = m / 0.271 = [0.0959410, -0.0811808]; v_hat = v / 0.002997001 = [0.7500001, 1.7487495]
    //        step = 0.1 * m_hat / sqrt(v_hat) = [0.0110783, -0.0061389]

    #[test]
    fn adam_three_steps_match_the_update_rule_by_hand() {
        // w1 = [1 - 0.1, 2 + 0.1] = [0.9, 2.1]
        // w2 = [0.9 - 0.0932180, 2.1 + 0.0266337] = [0.8067820, 2.1266337]
        // w3 = [0.8067820 - 0.0110783, 2.1266337 + 0.0061389] = [0.7957037, 2.1327726]
        assert_three_steps(
            &mut Adam::new(0.1),
            [[0.9, 2.1], [0.8067820, 2.1266337], [0.7957037, 2.1327726]],
        );
    }
}
