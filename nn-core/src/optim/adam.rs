//! Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), which share the moment estimates.

use super::{
    check_non_negative, check_positive, check_unit, expect_valid, optimizer_common, Core, Rule, Update,
};
use crate::linalg::{both, num_threads, vectorized, PARALLEL_MIN_LEN};
use ndarray::Zip;

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
/// ([`Adam::with_weight_decay`]) enters `g` and so is rescaled per element; for decay that is
/// not, use [`AdamW`].
///
/// ```
/// use nn_core::optim::{Adam, Optimizer};
/// let opt = Adam::default().with_betas(0.8, 0.99);
/// assert_eq!((opt.learning_rate(), opt.betas(), opt.eps()), (1e-3, (0.8, 0.99), 1e-8));
/// ```
#[derive(Clone, Debug)]
pub struct Adam {
    core: Core,
    rule: AdamRule,
}

/// AdamW, Adam with decoupled weight decay (Loshchilov & Hutter, 2019): before Adam's update,
/// each weight shrinks by `theta -= lr * weight_decay * theta`, independently of the moment
/// estimates.
///
/// The decay applies to weights only ([`ParamKind::Weight`](crate::layer::ParamKind::Weight)), not to
/// biases nor normalisation parameters, as L2 decay does here (PyTorch's `AdamW` decays every
/// parameter it is given unless the caller splits them into groups). Defaults as [`Adam`], with
/// decoupled weight decay 0.01 (PyTorch's default).
///
/// ```
/// use nn_core::optim::AdamW;
/// assert_eq!(AdamW::new(1e-3).decoupled_weight_decay(), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct AdamW {
    core: Core,
    rule: AdamRule,
}

#[derive(Clone, Debug)]
struct AdamRule {
    beta1: f32,
    beta2: f32,
    eps: f32,
    /// `Some(rate)` for AdamW.
    decoupled: Option<f32>,
}

impl AdamRule {
    fn new(decoupled: Option<f32>) -> Self {
        AdamRule {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            decoupled,
        }
    }
}

impl Adam {
    /// Adam with learning rate `lr`, betas 0.9 and 0.999 and `eps = 1e-8`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        Adam {
            core: Core::new("Adam", lr),
            rule: AdamRule::new(None),
        }
    }
}

/// Adam with Kingma & Ba's defaults, learning rate 1e-3 included.
impl Default for Adam {
    fn default() -> Self {
        Adam::new(1e-3)
    }
}

impl AdamW {
    /// AdamW with learning rate `lr`, decoupled weight decay 0.01, betas 0.9 and 0.999 and
    /// `eps = 1e-8`.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn new(lr: f32) -> Self {
        AdamW {
            core: Core::new("AdamW", lr),
            rule: AdamRule::new(Some(0.01)),
        }
    }

    /// Sets the decoupled weight decay rate.
    ///
    /// # Panics
    /// If `rate` is negative or not finite.
    pub fn with_decoupled_weight_decay(mut self, rate: f32) -> Self {
        expect_valid("AdamW", self.rule.set_hyper("decoupled_weight_decay", rate));
        self
    }

    /// The decoupled weight decay rate.
    pub fn decoupled_weight_decay(&self) -> f32 {
        self.rule.decoupled.expect("AdamW always has a decoupled rate")
    }
}

/// AdamW with learning rate 1e-3 and the defaults of [`AdamW::new`].
impl Default for AdamW {
    fn default() -> Self {
        AdamW::new(1e-3)
    }
}

/// The builders and getters Adam and AdamW share.
macro_rules! adam_common {
    ($ty:ident) => {
        impl $ty {
            /// Sets the decay rates of the first and second moment estimates.
            ///
            /// # Panics
            /// If either is not in `[0, 1)`.
            pub fn with_betas(mut self, beta1: f32, beta2: f32) -> Self {
                let name = Rule::algorithm(&self.rule);
                expect_valid(name, self.rule.set_hyper("beta1", beta1));
                expect_valid(name, self.rule.set_hyper("beta2", beta2));
                self
            }

            /// Sets the `eps` added to `sqrt(v_hat)`.
            ///
            /// # Panics
            /// If `eps` is not positive and finite.
            pub fn with_eps(mut self, eps: f32) -> Self {
                let name = Rule::algorithm(&self.rule);
                expect_valid(name, self.rule.set_hyper("eps", eps));
                self
            }

            /// The decay rates `(beta1, beta2)` of the moment estimates.
            pub fn betas(&self) -> (f32, f32) {
                (self.rule.beta1, self.rule.beta2)
            }

            /// The `eps` added to `sqrt(v_hat)`.
            pub fn eps(&self) -> f32 {
                self.rule.eps
            }
        }
    };
}

adam_common!(Adam);
adam_common!(AdamW);

impl Rule for AdamRule {
    fn algorithm(&self) -> &'static str {
        if self.decoupled.is_some() {
            "AdamW"
        } else {
            "Adam"
        }
    }
    fn slots(&self) -> &'static [&'static str] {
        &["m", "v"]
    }
    fn hyper_names(&self) -> &'static [&'static str] {
        if self.decoupled.is_some() {
            &["beta1", "beta2", "eps", "decoupled_weight_decay"]
        } else {
            &["beta1", "beta2", "eps"]
        }
    }
    fn hyper(&self, name: &str) -> f32 {
        match (name, self.decoupled) {
            ("beta1", _) => self.beta1,
            ("beta2", _) => self.beta2,
            ("eps", _) => self.eps,
            ("decoupled_weight_decay", Some(rate)) => rate,
            _ => unreachable!("{} has no hyper-parameter `{name}`", self.algorithm()),
        }
    }
    fn set_hyper(&mut self, name: &str, value: f32) -> Result<(), String> {
        match (name, self.decoupled.is_some()) {
            ("beta1", _) => self.beta1 = check_unit(name, value)?,
            ("beta2", _) => self.beta2 = check_unit(name, value)?,
            ("eps", _) => self.eps = check_positive(name, value)?,
            ("decoupled_weight_decay", true) => self.decoupled = Some(check_non_negative(name, value)?),
            _ => return Err(format!("{} has no hyper-parameter `{name}`", self.algorithm())),
        }
        Ok(())
    }
    fn update(&self, mut u: Update<'_>) {
        let (lr, eff, b1, b2, eps) = (u.lr, u.grad_fn, self.beta1, self.beta2, self.eps);
        // The corrections are computed in f64 because beta2^t is within 1e-3 of 1 for early t,
        // where f32 would keep only a few significant digits of 1 - beta2^t.
        let t = u.step as f64;
        let inv_bc1 = (1.0 / (1.0 - (b1 as f64).powf(t))) as f32;
        let inv_bc2 = (1.0 / (1.0 - (b2 as f64).powf(t))) as f32;
        let shrink = match self.decoupled {
            Some(rate) if u.decays => lr * rate,
            _ => 0.0,
        };
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
                            for (((w, &g), m), v) in
                                ws.iter_mut().zip(gs).zip(ms.iter_mut()).zip(vs.iter_mut())
                            {
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
}

optimizer_common!(Adam);
optimizer_common!(AdamW);

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

    #[test]
    fn adamw_three_steps_match_the_update_rule_by_hand() {
        // The same moments (they see the raw gradient), with w *= 1 - lr * 0.1 = 0.99 first:
        // w1 = [0.99 - 0.1, 1.98 + 0.1] = [0.89, 2.08]
        // w2 = [0.8811 - 0.0932180, 2.0592 + 0.0266337] = [0.7878820, 2.0858337]
        // w3 = [0.7800032 - 0.0110783, 2.0649754 + 0.0061389] = [0.7689249, 2.0711143]
        assert_three_steps(
            &mut AdamW::new(0.1).with_decoupled_weight_decay(0.1),
            [[0.89, 2.08], [0.7878820, 2.0858337], [0.7689249, 2.0711143]],
        );
    }
}
