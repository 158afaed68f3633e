//! Dropout: zeroes a random fraction `p` of the activations in training.

use crate::layer::Saved;
use crate::layer::{Layer, Mode};
use crate::rng::{seeded, StdRng};
use crate::tensor::Tensor;
use ndarray::Zip;
use rand::Rng as _;

/// Where dropout compensates for the dropped units. Both give the same expected activation in
/// training and evaluation; they differ only in which mode does the scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DropoutKind {
    /// Scale kept units by `1 / (1 - p)` in training; evaluation is the identity (costs nothing).
    /// What the seed's text describes and what PyTorch does.
    #[default]
    Inverted,
    /// No scaling in training; multiply by `1 - p` in evaluation. What the seed's code does.
    Classic,
}

/// Dropout with probability `p` of zeroing each activation in [`Mode::Train`], drawing its masks
/// from its own seeded RNG.
///
/// ```
/// use nn_core::{layers::Dropout, Layer, Mode, Tensor};
/// let mut drop = Dropout::new(0.5, 4321);
/// let y = drop.forward(Tensor::ones(vec![2, 4]), Mode::Train);
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0)); // kept units scaled by 1 / (1 - p)
/// let y = drop.forward(Tensor::ones(vec![2, 4]), Mode::Eval);
/// assert!(y.iter().all(|&v| v == 1.0));
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f32,
    kind: DropoutKind,
    rng: StdRng,
    keep: Saved<bool>,
    frozen: bool,
}

impl Dropout {
    /// Inverted dropout with drop probability `p` in `[0, 1)` and an RNG seeded with `seed`.
    /// Give each dropout layer its own seed (or use [`Dropout::from_rng`]): two layers with one
    /// seed drop the same positions.
    pub fn new(p: f32, seed: u64) -> Self {
        Self::with_kind(p, DropoutKind::Inverted, seed)
    }

    /// The seed notebook's classic dropout: no scaling in training, scale by `1 - p` in eval.
    pub fn classic(p: f32, seed: u64) -> Self {
        Self::with_kind(p, DropoutKind::Classic, seed)
    }

    /// Inverted dropout whose RNG is seeded from `rng`, so layers built from one generator get
    /// different, reproducible streams.
    pub fn from_rng(p: f32, rng: &mut StdRng) -> Self {
        Self::new(p, rng.random())
    }

    /// Dropout of the given kind. Panics unless `0 <= p < 1`.
    pub fn with_kind(p: f32, kind: DropoutKind, seed: u64) -> Self {
        assert!(
            (0.0..1.0).contains(&p),
            "Dropout: the drop probability must be in [0, 1), got {p}"
        );
        Dropout {
            p,
            kind,
            rng: seeded(seed),
            keep: Saved::default(),
            frozen: false,
        }
    }

    /// The drop probability.
    pub fn p(&self) -> f32 {
        self.p
    }

    /// Inverted or classic.
    pub fn kind(&self) -> DropoutKind {
        self.kind
    }

    /// While frozen, Train forwards reuse the last mask instead of drawing a new one (a new mask
    /// is drawn only if none exists yet or the input shape changed). Makes dropout a fixed
    /// function for gradient checks.
    pub fn freeze_mask(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    /// The factor applied to kept units in training.
    fn train_scale(&self) -> f32 {
        match self.kind {
            DropoutKind::Inverted => 1.0 / (1.0 - self.p),
            DropoutKind::Classic => 1.0,
        }
    }
}

impl Layer for Dropout {
    fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
        if mode == Mode::Eval {
            if self.kind == DropoutKind::Classic {
                let scale = 1.0 - self.p;
                x.mapv_inplace(|v| v * scale);
            }
            return x;
        }
        let scale = self.train_scale();
        let p = self.p;
        if !(self.frozen && self.keep.reuse(x.shape()).is_some()) {
            let mask = self.keep.prepare(x.shape());
            // Drawn in logical (row-major) order, so the mask depends only on seed and shape.
            for m in mask.iter_mut() {
                *m = self.rng.random::<f32>() >= p;
            }
        }
        let keep = self.keep.current();
        Zip::from(&mut x)
            .and(keep)
            .for_each(|v, &k| *v = if k { *v * scale } else { 0.0 });
        x
    }

    fn backward(&mut self, mut grad: Tensor) -> Tensor {
        let scale = self.train_scale();
        let keep = self.keep.take(grad.shape(), Name(self.p, self.kind));
        Zip::from(&mut grad)
            .and(keep)
            .for_each(|g, &k| *g = if k { *g * scale } else { 0.0 });
        grad
    }

    fn type_name(&self) -> String {
        Name(self.p, self.kind).to_string()
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The type name of a dropout layer, formatted only when shown (backward passes it to a panic
/// message that is almost never printed).
struct Name(f32, DropoutKind);

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            DropoutKind::Inverted => write!(f, "Dropout(p={})", self.0),
            DropoutKind::Classic => write!(f, "Dropout(p={}, classic)", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use ndarray::IxDyn;

    fn ones(shape: &[usize]) -> Tensor {
        Tensor::ones(IxDyn(shape))
    }

    #[test]
    fn inverted_scales_in_train_and_is_identity_in_eval() {
        let mut d = Dropout::new(0.25, 1);
        let y = d.forward(ones(&[100, 100]), Mode::Train);
        let kept = y.iter().filter(|&&v| v != 0.0).count();
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        // 10,000 Bernoulli(0.75) draws: within 3% of 7,500 with overwhelming probability.
        assert!((7_275..=7_725).contains(&kept), "kept {kept}");
        let mean = y.sum() / y.len() as f32;
        assert!(
            (mean - 1.0).abs() < 0.04,
            "expected activation preserved, got {mean}"
        );
        assert_eq!(d.forward(ones(&[3, 3]), Mode::Eval), ones(&[3, 3]));
    }

    #[test]
    fn classic_keeps_values_in_train_and_scales_in_eval() {
        let mut d = Dropout::classic(0.5, 1);
        let y = d.forward(ones(&[4, 8]), Mode::Train);
        assert!(y.iter().all(|&v| v == 0.0 || v == 1.0));
        assert!(d.forward(ones(&[2, 2]), Mode::Eval).iter().all(|&v| v == 0.5));
        assert_eq!(d.type_name(), "Dropout(p=0.5, classic)");
    }

    #[test]
    fn backward_uses_the_forward_mask_and_scale() {
        let mut d = Dropout::new(0.5, 9);
        let y = d.forward(ones(&[6, 7]), Mode::Train);
        let g = d.backward(ones(&[6, 7]));
        assert_eq!(y, g, "d(scale * mask * x)/dx = scale * mask");
    }

    #[test]
    fn masks_are_reproducible_from_the_seed_and_vary_between_steps() {
        let mut a = Dropout::new(0.5, 42);
        let mut b = Dropout::new(0.5, 42);
        let a1 = a.forward(ones(&[8, 8]), Mode::Train);
        assert_eq!(a1, b.forward(ones(&[8, 8]), Mode::Train));
        assert_ne!(a1, a.forward(ones(&[8, 8]), Mode::Train));
    }

    #[test]
    fn a_frozen_mask_is_reused() {
        let mut d = Dropout::new(0.5, 3);
        let first = d.forward(ones(&[5, 5]), Mode::Train);
        d.freeze_mask(true);
        assert_eq!(first, d.forward(ones(&[5, 5]), Mode::Train));
        d.freeze_mask(false);
        assert_ne!(first, d.forward(ones(&[5, 5]), Mode::Train));
    }

    #[test]
    fn p_zero_is_the_identity_and_p_one_is_rejected() {
        let mut d = Dropout::new(0.0, 1);
        assert_eq!(d.forward(ones(&[3, 3]), Mode::Train), ones(&[3, 3]));
        for (p, shown) in [(1.0, "1"), (-0.1, "-0.1"), (f32::NAN, "NaN")] {
            let err = std::panic::catch_unwind(|| Dropout::new(p, 1)).expect_err("p out of range must panic");
            let msg = err
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| err.downcast_ref::<&str>().copied())
                .expect("a text panic message");
            assert_eq!(
                msg,
                format!("Dropout: the drop probability must be in [0, 1), got {shown}")
            );
        }
    }

    #[test]
    fn passes_gradcheck_with_a_fixed_mask_and_fails_without() {
        for mut d in [Dropout::new(0.3, 5), Dropout::classic(0.3, 5)] {
            d.freeze_mask(true);
            gradcheck(&mut d, &[4, 6]).assert_passed();
            gradcheck(&mut d, &[2, 3, 2, 2]).assert_passed();
        }
        let report = gradcheck(&mut Dropout::new(0.3, 5), &[4, 6]);
        assert!(
            !report.passed(),
            "a fresh mask per forward is not a fixed function: {report}"
        );
    }
}
