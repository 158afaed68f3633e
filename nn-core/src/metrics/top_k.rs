//! [`TopKAccuracy`]: the share of samples whose class is among the k highest scores
//! (`top<k>_acc`).

use super::accuracy::check_scores;
use super::{argmax, Metric};
use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;
use ndarray::ArrayView1;

/// The share of samples whose target class has one of the `k` highest scores (Keras'
/// `top_k_categorical_accuracy`; top-1 is [`Accuracy`](super::Accuracy)). A class tied with the
/// k-th score counts as in the top k, as in Keras; a NaN score never does. Class-probability
/// targets count their largest entry as the class.
///
/// ```
/// use nn_core::metrics::{Metric, TopKAccuracy};
/// use nn_core::{Targets, Tensor};
/// let scores = Tensor::from_shape_vec(vec![2, 3], vec![0.1, 0.5, 0.4, 0.7, 0.2, 0.1]).unwrap();
/// let mut top2 = TopKAccuracy::new(2);
/// top2.update(&scores, Targets::Classes(&[2, 2]));
/// assert_eq!(top2.value(), 0.5);
/// ```
#[derive(Clone, Debug)]
pub struct TopKAccuracy {
    k: usize,
    name: String,
    correct: usize,
    seen: usize,
}

impl TopKAccuracy {
    /// Top-`k` accuracy, named `top<k>_acc`.
    ///
    /// # Panics
    /// If `k` is 0.
    pub fn new(k: usize) -> Self {
        assert!(k > 0, "TopKAccuracy: k must be at least 1");
        TopKAccuracy {
            k,
            name: format!("top{k}_acc"),
            correct: 0,
            seen: 0,
        }
    }
}

impl Metric for TopKAccuracy {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self) {
        self.correct = 0;
        self.seen = 0;
    }

    fn update(&mut self, scores: &Tensor, targets: Targets<'_>) {
        let (n, _) = check_scores(&self.name, scores, targets);
        let k = self.k;
        let mut correct = 0;
        let mut count = |row: ArrayView1<'_, f32>, class: usize| {
            let score = row[class];
            // Fewer than k scores strictly above the target's: it is in the top k.
            if !score.is_nan() && row.iter().filter(|&&v| v > score).count() < k {
                correct += 1;
            }
        };
        match targets {
            Targets::Classes(c) => {
                for (row, &class) in scores.rows().into_iter().zip(c) {
                    count(row, class);
                }
            }
            Targets::Values(t) => {
                for (row, t_row) in scores.rows().into_iter().zip(t.rows()) {
                    count(row, argmax(t_row));
                }
            }
        }
        self.correct += correct;
        self.seen += n;
    }

    fn value(&self) -> f32 {
        (self.correct as f64 / self.seen as f64) as f32
    }

    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        super::accuracy::check_kind(output, targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::one_hot;

    #[test]
    fn counts_targets_among_the_k_highest_ties_included() {
        let s = Tensor::from_shape_vec(
            vec![4, 4],
            vec![
                4.0,
                3.0,
                2.0,
                1.0, // target 1: second highest
                4.0,
                3.0,
                2.0,
                1.0, // target 3: lowest
                1.0,
                1.0,
                1.0,
                1.0, // all tied: in
                f32::NAN,
                0.0,
                0.0,
                0.0, // NaN target score: never
            ],
        )
        .unwrap();
        let classes = [1, 3, 2, 0];
        for (k, expect) in [(1, 0.25), (2, 0.5), (4, 0.75)] {
            let mut m = TopKAccuracy::new(k);
            m.update(&s, Targets::Classes(&classes));
            assert_eq!(m.value(), expect, "k {k}");
            let mut soft = TopKAccuracy::new(k);
            soft.update(&s, Targets::Values(&one_hot(&classes, 4)));
            assert_eq!(soft.value(), expect, "k {k}, one-hot targets");
        }
    }
}
