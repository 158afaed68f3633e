//! Softmax cross-entropy: the loss of a classifier that outputs raw scores (logits).

use crate::tensor::Tensor;
use ndarray::{ArrayViewMut1, Ix2, IxDyn, Zip};

/// The correct answers for a batch: one class index per row, or one row per sample of the same
/// width as the scores (one-hot rows; any rows of non-negative weights work, such as smoothed
/// labels).
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// The class index of each sample, `[N]`.
    Classes(&'a [usize]),
    /// One row per sample, `[N, classes]`.
    OneHot(&'a Tensor),
}

impl Targets<'_> {
    /// Panics with a clear message unless these targets fit `n` rows of `classes` scores.
    pub(crate) fn check(&self, who: &str, n: usize, classes: usize) {
        match *self {
            Targets::Classes(c) => {
                assert!(
                    c.len() == n,
                    "{who}: {n} rows of scores but {} class targets",
                    c.len()
                );
                if let Some((row, &bad)) = c.iter().enumerate().find(|(_, &t)| t >= classes) {
                    panic!("{who}: target class {bad} at row {row} is out of range for {classes} classes");
                }
            }
            Targets::OneHot(t) => assert!(
                t.shape() == [n, classes],
                "{who}: one-hot targets have shape {:?}, expected [{n}, {classes}] like the scores",
                t.shape()
            ),
        }
    }
}

/// Softmax followed by cross-entropy, averaged over the batch, fused for stability and speed.
///
/// `forward` turns the logits into probabilities in their own buffer and returns the mean loss;
/// `backward` turns that same buffer into the gradient `(softmax - target) / N` and hands it
/// out, so a training step allocates nothing here. The log-sum-exp is shifted by each row's
/// maximum, so logits of any finite size (1e4 and beyond) give a finite loss.
///
/// ```
/// use nn_core::{loss::{SoftmaxCrossEntropy, Targets}, Tensor};
/// let mut loss = SoftmaxCrossEntropy::new();
/// let logits = Tensor::from_shape_vec(vec![2, 3], vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
/// let value = loss.forward(logits, Targets::Classes(&[0, 2]));
/// assert!(value > 0.0);
/// let grad = loss.backward(); // (softmax - one_hot) / 2
/// assert_eq!(grad.shape(), &[2, 3]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SoftmaxCrossEntropy {
    /// Softmax of the last logits; taken by backward.
    probabilities: Option<Tensor>,
    /// Copies of the last targets (the caller's borrow ends with forward), in reused buffers.
    classes: Vec<usize>,
    one_hot: Option<Tensor>,
    one_hot_given: bool,
    /// Sum of each one-hot target row: the gradient is `(softmax * sum - target) / N`, which is
    /// `(softmax - target) / N` for rows that sum to one and exact for any other rows too.
    row_sums: Vec<f32>,
}

impl SoftmaxCrossEntropy {
    /// A softmax cross-entropy loss.
    pub fn new() -> Self {
        Self::default()
    }

    /// The batch-mean cross-entropy of `softmax(logits)` against `targets`.
    ///
    /// `logits` is `[N, classes]`. Panics on targets that do not fit the logits (a class index
    /// out of range, a wrong length): those are programming errors. NaN logits give a NaN loss.
    pub fn forward(&mut self, logits: Tensor, targets: Targets<'_>) -> f32 {
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

        let mut total = 0f64;
        match targets {
            Targets::Classes(c) => {
                self.one_hot_given = false;
                self.classes.clear();
                self.classes.extend_from_slice(c);
                for (row, &t) in p.rows_mut().into_iter().zip(c) {
                    let target = row[t];
                    let (max, sum) = softmax_row(row);
                    // -log softmax_t = log(sum exp(z - max)) - (z_t - max); sum >= 1, so finite.
                    total += f64::from(sum.ln() - (target - max));
                }
            }
            Targets::OneHot(t) => {
                self.one_hot_given = true;
                self.row_sums.clear();
                for (mut row, t_row) in p.rows_mut().into_iter().zip(t.rows()) {
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
                match &mut self.one_hot {
                    Some(buf) if buf.shape() == t.shape() => buf.assign(t),
                    _ => self.one_hot = Some(t.to_owned()),
                }
            }
        }
        self.probabilities = Some(p.into_dyn());
        (total / n as f64) as f32
    }

    /// The gradient of the last forward's loss with respect to its logits, `(softmax - target) / N`,
    /// computed in the probabilities' buffer and handed out (so [`Self::probabilities`] is gone
    /// afterwards).
    ///
    /// Panics unless a forward came first.
    pub fn backward(&mut self) -> Tensor {
        let Some(p) = self.probabilities.take() else {
            panic!("SoftmaxCrossEntropy::backward called without a preceding forward")
        };
        let mut g = p.into_dimensionality::<Ix2>().expect("2-D");
        let inv_n = 1.0 / g.nrows() as f32;
        if self.one_hot_given {
            let t = self.one_hot.as_ref().expect("stored by forward");
            for ((mut row, t_row), &w) in g.rows_mut().into_iter().zip(t.rows()).zip(&self.row_sums) {
                Zip::from(&mut row)
                    .and(&t_row)
                    .for_each(|v, &t| *v = (*v * w - t) * inv_n);
            }
        } else {
            for (i, &t) in self.classes.iter().enumerate() {
                g[[i, t]] -= 1.0;
            }
            g *= inv_n;
        }
        g.into_dyn()
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

/// A one-hot `[N, classes]` tensor from class indices (for [`Targets::OneHot`]).
pub fn one_hot(classes: &[usize], num_classes: usize) -> Tensor {
    let mut t = Tensor::zeros(IxDyn(&[classes.len(), num_classes]));
    for (i, &c) in classes.iter().enumerate() {
        assert!(
            c < num_classes,
            "one_hot: class {c} at row {i} is out of range for {num_classes} classes"
        );
        t[[i, c]] = 1.0;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::GradCheck;
    use crate::layers::assert_close;
    use crate::rng::seeded;
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
        let lb = b.forward(z, Targets::OneHot(&one_hot(&classes, 4)));
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

        let onehot = loss.forward(z, Targets::OneHot(&one_hot(&classes, 3)));
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
            Targets::OneHot(&soft),
            Targets::OneHot(&soft_unnormalised),
        ];
        for targets in targets {
            let mut loss = SoftmaxCrossEntropy::new();
            loss.forward(z.clone(), targets);
            let analytic = loss.backward();
            let report = check.check_fn("logits", &z, &analytic, |x| {
                f64::from(loss.forward(x.clone(), targets))
            });
            report.assert_passed();
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
            SoftmaxCrossEntropy::new().forward(z.clone(), Targets::OneHot(&one_hot(&[0, 1], 3)));
        });
        assert!(m.contains("shape [2, 3], expected [2, 2]"), "{m}");
        let m = msg(&|| {
            SoftmaxCrossEntropy::new().backward();
        });
        assert!(m.contains("without a preceding forward"), "{m}");
    }
}
