//! [`SoftmaxCrossEntropy`]: the loss of a classifier that outputs raw scores (logits), PyTorch's
//! `nn.CrossEntropyLoss`.

use super::{Loss, Reduction};
use crate::data::{batch_shape, TargetKind, Targets};
use crate::tensor::Tensor;
use ndarray::{ArrayViewMut1, Ix2, Zip};

/// Softmax followed by cross-entropy, fused for stability and speed: PyTorch's
/// `nn.CrossEntropyLoss()`, with its `label_smoothing` and `reduction`.
///
/// Targets are class indices (`[N]`) or class probabilities (`[N, classes]` values: one-hot
/// rows, smoothed labels, any non-negative weights). The loss is averaged over the samples (or
/// summed with [`Reduction::Sum`]). With `label_smoothing` ε, each target becomes
/// `(1 - ε) target + ε / classes`, as in PyTorch.
///
/// `forward` turns the logits into probabilities in their own buffer and returns the loss;
/// `backward` turns that same buffer into the gradient `(softmax - target) / N` and hands it
/// out, so a training step allocates nothing here. The log-sum-exp is shifted by each row's
/// maximum, so logits of any finite size (1e4 and beyond) give a finite loss.
///
/// ```
/// use nn_core::{loss::Loss, SoftmaxCrossEntropy, Targets, Tensor};
/// let mut loss = SoftmaxCrossEntropy::new();
/// let logits = Tensor::from_shape_vec(vec![2, 3], vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
/// let value = loss.forward(logits, Targets::Classes(&[0, 2]));
/// assert!(value > 0.0);
/// let grad = loss.backward(); // (softmax - one_hot) / 2
/// assert_eq!(grad.shape(), &[2, 3]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SoftmaxCrossEntropy {
    label_smoothing: f32,
    reduction: Reduction,
    /// Softmax of the last logits; taken by backward.
    probabilities: Option<Tensor>,
    /// Copies of the last targets (the caller's borrow ends with forward), in reused buffers.
    classes: Vec<usize>,
    /// Class-probability targets, smoothed.
    soft: Option<Tensor>,
    soft_given: bool,
    /// Sum of each soft target row: the gradient is `(softmax * sum - target) / N`, which is
    /// `(softmax - target) / N` for rows that sum to one and exact for any other rows too.
    row_sums: Vec<f32>,
}

impl SoftmaxCrossEntropy {
    /// A softmax cross-entropy loss, averaged over the samples, without label smoothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Label smoothing ε in `[0, 1]` (PyTorch's `label_smoothing`, default 0): each target
    /// becomes `(1 - ε) target + ε / classes`.
    ///
    /// # Panics
    /// Unless `epsilon` is in `[0, 1]`.
    pub fn label_smoothing(mut self, epsilon: f32) -> Self {
        assert!(
            (0.0..=1.0).contains(&epsilon),
            "SoftmaxCrossEntropy: label_smoothing must be in [0, 1], got {epsilon}"
        );
        self.label_smoothing = epsilon;
        self
    }

    /// How the per-sample losses are reduced (default [`Reduction::Mean`]).
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The softmax probabilities of the last forward, `[N, classes]`: valid from forward until
    /// backward takes the buffer.
    pub fn probabilities(&self) -> &Tensor {
        self.probabilities.as_ref().unwrap_or_else(|| {
            panic!(
                "SoftmaxCrossEntropy::probabilities: no probabilities (call it after forward and \
                 before backward, which reuses their buffer for the gradient)"
            )
        })
    }
}

impl Loss for SoftmaxCrossEntropy {
    /// The cross-entropy of `softmax(logits)` against `targets`, reduced over the batch.
    ///
    /// `logits` is `[N, classes]`. Panics on targets that do not fit the logits (a class index
    /// out of range, a wrong length): those are programming errors. NaN logits give a NaN loss.
    fn forward(&mut self, logits: Tensor, targets: Targets<'_>) -> f32 {
        const WHO: &str = "SoftmaxCrossEntropy";
        assert!(
            logits.ndim() == 2,
            "{WHO}: expected logits of shape [N, classes], got {:?}",
            logits.shape()
        );
        let (n, classes) = (logits.shape()[0], logits.shape()[1]);
        assert!(
            n > 0 && classes > 0,
            "{WHO}: empty logits of shape [{n}, {classes}]"
        );
        targets.check(WHO, n, classes);
        let mut p = logits.into_dimensionality::<Ix2>().expect("checked 2-D");
        let eps = self.label_smoothing;

        let mut total = 0f64;
        match targets {
            Targets::Classes(c) => {
                self.soft_given = false;
                self.classes.clear();
                self.classes.extend_from_slice(c);
                for (row, &t) in p.rows_mut().into_iter().zip(c) {
                    let target = row[t];
                    // Only smoothing needs the mean logit: the plain path stays as it was.
                    let mean = if eps > 0.0 {
                        row.sum() / classes as f32
                    } else {
                        0.0
                    };
                    let (max, sum) = softmax_row(row);
                    // -log softmax_t = log(sum exp(z - max)) - (z_t - max); sum >= 1, so finite.
                    let nll = sum.ln() - (target - max);
                    if eps > 0.0 {
                        // The mean over classes of -log softmax_c, weighted by ε.
                        let uniform = sum.ln() - (mean - max);
                        total += f64::from(1.0 - eps) * f64::from(nll) + f64::from(eps) * f64::from(uniform);
                    } else {
                        total += f64::from(nll);
                    }
                }
            }
            Targets::Values(t) => {
                self.soft_given = true;
                match &mut self.soft {
                    Some(buf) if buf.shape() == t.shape() => buf.assign(t),
                    _ => self.soft = Some(t.to_owned()),
                }
                let soft = self.soft.as_mut().expect("just stored");
                if eps > 0.0 {
                    let uniform = eps / classes as f32;
                    soft.mapv_inplace(|w| w * (1.0 - eps) + uniform);
                }
                self.row_sums.clear();
                for (mut row, t_row) in p.rows_mut().into_iter().zip(soft.rows()) {
                    let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    let (mut sum, mut weighted, mut weight) = (0f32, 0f32, 0f32);
                    Zip::from(&mut row).and(&t_row).for_each(|v, &w| {
                        let shifted = *v - max;
                        // Skip zero weights: 0 * (-inf) for a masked logit would be NaN.
                        if w != 0.0 {
                            weighted += w * shifted;
                            weight += w;
                        }
                        *v = shifted.exp();
                        sum += *v;
                    });
                    total += f64::from(weight * sum.ln() - weighted);
                    self.row_sums.push(weight);
                    row *= 1.0 / sum;
                }
            }
        }
        self.probabilities = Some(p.into_dyn());
        (total / self.reduction.divisor(n)) as f32
    }

    /// The gradient of the last forward's loss with respect to its logits, `(softmax - target) / N`,
    /// computed in the probabilities' buffer and handed out (so
    /// [`SoftmaxCrossEntropy::probabilities`] is gone afterwards).
    ///
    /// Panics unless a forward came first.
    fn backward(&mut self) -> Tensor {
        let Some(p) = self.probabilities.take() else {
            panic!("SoftmaxCrossEntropy::backward called without a preceding forward")
        };
        let mut g = p.into_dimensionality::<Ix2>().expect("2-D");
        let inv_n = match self.reduction {
            Reduction::Sum => 1.0,
            _ => 1.0 / g.nrows() as f32,
        };
        let eps = self.label_smoothing;
        if self.soft_given {
            let t = self.soft.as_ref().expect("stored by forward");
            for ((mut row, t_row), &w) in g.rows_mut().into_iter().zip(t.rows()).zip(&self.row_sums) {
                Zip::from(&mut row)
                    .and(&t_row)
                    .for_each(|v, &t| *v = (*v * w - t) * inv_n);
            }
        } else if eps > 0.0 {
            let uniform = eps / g.ncols() as f32;
            for (mut row, &t) in g.rows_mut().into_iter().zip(&self.classes) {
                row[t] -= 1.0 - eps;
                row.mapv_inplace(|v| (v - uniform) * inv_n);
            }
        } else {
            for (i, &t) in self.classes.iter().enumerate() {
                g[[i, t]] -= 1.0;
            }
            g *= inv_n;
        }
        g.into_dyn()
    }

    /// Scores `[N, classes]` against class indices below `classes`, or class probabilities of
    /// the scores' shape.
    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        let [classes] = *output else {
            return Err(format!(
                "needs outputs of shape [N, classes] (one score per class), not {}; fix: end the \
                 network with a Linear layer (after a Flatten for images)",
                batch_shape(output)
            ));
        };
        match targets {
            TargetKind::Classes(k) if k <= classes => Ok(()),
            TargetKind::Classes(k) => Err(format!(
                "needs a score per class, but the network outputs {classes} scores for {k} \
                 classes; fix: give the last layer {k} outputs"
            )),
            TargetKind::Values(shape) if shape == output => Ok(()),
            _ => Err(format!(
                "needs class indices below {classes}, or class probabilities of shape {}",
                batch_shape(output)
            )),
        }
    }

    fn default_metrics(&self) -> &'static [&'static str] {
        &["acc"]
    }
}

/// Softmax of each row of `[N, classes]` scores, in place: the probabilities
/// [`SoftmaxCrossEntropy::forward`] computes, bit for bit.
pub(crate) fn softmax_rows(scores: &mut Tensor) {
    for row in scores.rows_mut() {
        softmax_row(row);
    }
}

/// Softmax of `row` in place, shifted by its maximum; returns the maximum and the sum of the
/// shifted exponentials (>= 1), from which the log-sum-exp follows.
fn softmax_row(mut row: ArrayViewMut1<'_, f32>) -> (f32, f32) {
    let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f32;
    row.mapv_inplace(|v| {
        let e = (v - max).exp();
        sum += e;
        e
    });
    row *= 1.0 / sum;
    (max, sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::one_hot;
    use crate::gradcheck::GradCheck;
    use crate::layers::assert_close;
    use crate::rng::seeded;
    use ndarray::IxDyn;
    use rand::Rng as _;

    fn logits(rows: &[&[f32]]) -> Tensor {
        let c = rows[0].len();
        Tensor::from_shape_vec(vec![rows.len(), c], rows.concat()).unwrap()
    }

    /// Reference in f64 with the textbook formula.
    fn reference(z: &Tensor, classes: &[usize]) -> f64 {
        let mut total = 0.0;
        for (row, &t) in z.rows().into_iter().zip(classes) {
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let lse = max + row.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln();
            total += lse - f64::from(row[t]);
        }
        total / classes.len() as f64
    }

    #[test]
    fn value_and_gradient_match_the_definition() {
        let z = logits(&[&[1.0, 2.0, 3.0], &[0.5, -0.5, 0.0]]);
        let mut loss = SoftmaxCrossEntropy::new();
        let value = loss.forward(z.clone(), Targets::Classes(&[2, 0]));
        assert!((f64::from(value) - reference(&z, &[2, 0])).abs() < 1e-6);
        let p = loss.probabilities().clone();
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
        let g = loss.backward();
        let expect = (&p - &one_hot(&[2, 0], 3)) / 2.0;
        assert_close(&g, &expect, 1e-7);
    }

    #[test]
    fn one_hot_and_class_targets_agree() {
        let z = logits(&[
            &[0.1, 0.2, -0.3, 2.0],
            &[3.0, 1.0, 0.0, -1.0],
            &[0.0, 0.0, 0.0, 0.0],
        ]);
        let classes = [3, 1, 2];
        let mut a = SoftmaxCrossEntropy::new();
        let mut b = SoftmaxCrossEntropy::new();
        let la = a.forward(z.clone(), Targets::Classes(&classes));
        let lb = b.forward(z, Targets::Values(&one_hot(&classes, 4)));
        assert!((la - lb).abs() < 1e-6);
        assert_close(&a.backward(), &b.backward(), 1e-7);
    }

    #[test]
    fn stable_for_logits_of_magnitude_1e4() {
        let z = logits(&[&[1e4, 0.0, -1e4], &[-1e4, -1e4 + 2.0, -1e4], &[1e4, 1e4, 1e4]]);
        let classes = [2, 1, 0];
        let mut loss = SoftmaxCrossEntropy::new();
        let value = loss.forward(z.clone(), Targets::Classes(&classes));
        assert!(value.is_finite());
        // Row 0: 2e4; row 1: -log(e^2 / (e^2 + 2)); row 2: log 3.
        let expect = (2e4 + (1.0 + 2.0 * (-2.0f64).exp()).ln() + 3f64.ln()) / 3.0;
        assert!((f64::from(value) - expect).abs() < 1e-3, "{value} vs {expect}");
        assert!((f64::from(value) - reference(&z, &classes)).abs() < 1e-3);
        let g = loss.backward();
        assert!(g.iter().all(|v| v.is_finite()));
        assert!((g[[0, 0]] - 1.0 / 3.0).abs() < 1e-7 && (g[[0, 2]] + 1.0 / 3.0).abs() < 1e-7);

        let onehot = loss.forward(z, Targets::Values(&one_hot(&classes, 3)));
        assert!((onehot - value).abs() < 1e-3);
        assert!(loss.backward().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn buffer_is_reused_from_logits_to_gradient() {
        let z = logits(&[&[1.0, 2.0], &[3.0, 4.0]]);
        let ptr = z.as_ptr();
        let mut loss = SoftmaxCrossEntropy::new();
        loss.forward(z, Targets::Classes(&[0, 1]));
        assert_eq!(loss.probabilities().as_ptr(), ptr);
        assert_eq!(loss.backward().as_ptr(), ptr);
    }

    #[test]
    fn label_smoothing_and_sum_match_the_definition() {
        let mut rng = seeded(5);
        let z = Tensor::from_shape_simple_fn(IxDyn(&[4, 5]), || rng.random_range(-3.0..3.0));
        let classes = [4, 0, 2, 2];
        let eps = 0.2f32;
        // The smoothed target rows, then -sum t log softmax in f64.
        let mut smoothed = one_hot(&classes, 5);
        smoothed.mapv_inplace(|v| v * (1.0 - eps) + eps / 5.0);
        let mut expect = 0.0;
        for (row, t) in z.rows().into_iter().zip(smoothed.rows()) {
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let lse = max + row.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln();
            for (&v, &w) in row.iter().zip(t) {
                expect += f64::from(w) * (lse - f64::from(v));
            }
        }
        let mut a = SoftmaxCrossEntropy::new().label_smoothing(eps);
        let la = a.forward(z.clone(), Targets::Classes(&classes));
        assert!(
            (f64::from(la) - expect / 4.0).abs() < 1e-5,
            "{la} vs {}",
            expect / 4.0
        );
        // Smoothing class indices and smoothing their one-hot rows are the same thing.
        let mut b = SoftmaxCrossEntropy::new().label_smoothing(eps);
        let lb = b.forward(z.clone(), Targets::Values(&one_hot(&classes, 5)));
        assert!((la - lb).abs() < 1e-6);
        assert_close(&a.backward(), &b.backward(), 1e-7);
        let mut sum = SoftmaxCrossEntropy::new()
            .label_smoothing(eps)
            .reduction(Reduction::Sum);
        let ls = sum.forward(z.clone(), Targets::Classes(&classes));
        assert!((f64::from(ls) - expect).abs() < 1e-4);
        let g = sum.backward();
        let mut mean = SoftmaxCrossEntropy::new().label_smoothing(eps);
        mean.forward(z, Targets::Classes(&classes));
        assert_close(&g, &(&mean.backward() * 4.0), 1e-6);
    }

    #[test]
    fn check_names_what_the_outputs_need() {
        let ce = SoftmaxCrossEntropy::new();
        assert!(ce.check(&[10], TargetKind::Classes(10)).is_ok());
        assert!(ce.check(&[10], TargetKind::Values(&[10])).is_ok());
        let err = ce.check(&[10], TargetKind::Classes(12)).unwrap_err();
        assert_eq!(
            err,
            "needs a score per class, but the network outputs 10 scores for 12 classes; fix: give \
             the last layer 12 outputs"
        );
        assert!(ce
            .check(&[10], TargetKind::Values(&[1]))
            .unwrap_err()
            .contains("[N, 10]"));
        assert!(ce
            .check(&[1, 10], TargetKind::Classes(10))
            .unwrap_err()
            .contains("not [N, 1, 10]"));
        assert_eq!(ce.name(), "SoftmaxCrossEntropy");
        assert_eq!(ce.default_metrics(), ["acc"]);
    }

    #[test]
    fn passes_gradcheck_for_class_and_soft_targets() {
        let mut rng = seeded(11);
        let z = Tensor::from_shape_simple_fn(IxDyn(&[5, 4]), || rng.random_range(-3.0..3.0));
        let classes = [0, 3, 1, 1, 2];
        let mut soft = Tensor::from_shape_simple_fn(IxDyn(&[5, 4]), || rng.random_range(0.0..1.0));
        for mut row in soft.rows_mut() {
            let s = row.sum();
            row /= s;
        }
        let soft_unnormalised = &soft * 1.7;
        let check = GradCheck::default();
        let targets = [
            Targets::Classes(&classes),
            Targets::Values(&soft),
            Targets::Values(&soft_unnormalised),
        ];
        for targets in targets {
            for make in [
                SoftmaxCrossEntropy::new,
                || SoftmaxCrossEntropy::new().label_smoothing(0.3),
                || SoftmaxCrossEntropy::new().reduction(Reduction::Sum),
            ] {
                let mut loss = make();
                loss.forward(z.clone(), targets);
                let analytic = loss.backward();
                let report = check.check_fn("logits", &z, &analytic, |x| {
                    f64::from(loss.forward(x.clone(), targets))
                });
                report.assert_passed();
            }
        }
    }

    #[test]
    fn bad_targets_panic_with_a_clear_message() {
        let msg = |f: &dyn Fn()| {
            let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap()
        };
        let z = logits(&[&[1.0, 2.0], &[3.0, 4.0]]);
        let m = msg(&|| {
            SoftmaxCrossEntropy::new().forward(z.clone(), Targets::Classes(&[0, 2]));
        });
        assert_eq!(
            m,
            "SoftmaxCrossEntropy: target class 2 at row 1 is out of range for 2 classes"
        );
        let m = msg(&|| {
            SoftmaxCrossEntropy::new().forward(z.clone(), Targets::Classes(&[0]));
        });
        assert!(m.contains("2 rows of scores but 1 class targets"), "{m}");
        let m = msg(&|| {
            SoftmaxCrossEntropy::new().forward(z.clone(), Targets::Values(&one_hot(&[0, 1], 3)));
        });
        assert!(
            m.contains("class-probability targets have shape [2, 3], expected [2, 2]"),
            "{m}"
        );
        let m = msg(&|| {
            SoftmaxCrossEntropy::new().backward();
        });
        assert!(m.contains("without a preceding forward"), "{m}");
    }
}
