//! [`Accuracy`]: the share of samples whose largest score is at their class (`acc`), and the
//! functions behind it.

use super::Metric;
use crate::data::{batch_shape, TargetKind, Targets};
use crate::tensor::Tensor;
use ndarray::ArrayView1;

/// The index of the largest value in `row` (the first one on ties; NaN never wins).
pub fn argmax(row: ArrayView1<'_, f32>) -> usize {
    let mut best = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v > best_value {
            best = i;
            best_value = v;
        }
    }
    best
}

/// Panics naming `who` unless `scores` are `[N, classes]` and `targets` fit them; gives
/// `(N, classes)`.
pub(super) fn check_scores(who: &str, scores: &Tensor, targets: Targets<'_>) -> (usize, usize) {
    assert!(
        scores.ndim() == 2,
        "{who}: expected scores of shape [N, classes], got {:?}",
        scores.shape()
    );
    let (n, classes) = (scores.shape()[0], scores.shape()[1]);
    targets.check(who, n, classes);
    (n, classes)
}

/// `Ok` for scores `[N, classes]` and class indices below `classes` or class probabilities of
/// the scores' shape: what the accuracies need.
pub(super) fn check_kind(output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
    match (output, targets) {
        ([classes], TargetKind::Classes(k)) if k <= *classes => Ok(()),
        ([_], TargetKind::Values(shape)) if shape == output => Ok(()),
        _ => Err(format!(
            "needs scores of shape [N, classes] and class indices below classes (or class \
             probabilities of the scores' shape); the outputs are {}",
            batch_shape(output)
        )),
    }
}

/// How many rows of `scores` (`[N, classes]`, logits or probabilities: softmax keeps the order)
/// have their largest score at the target class (a row of NaN scores never does). Sum it over
/// batches and divide by the number of samples for an exact epoch accuracy, whatever the size of
/// the last batch.
///
/// Panics if the targets do not fit the scores (programming errors).
pub fn count_correct(scores: &Tensor, targets: Targets<'_>) -> usize {
    check_scores("accuracy", scores, targets);
    // One argmax per row of scores; probability targets need their own to find the class. A
    // row of NaN scores (a diverged network) predicts nothing, rather than class 0.
    let predictions = scores.rows().into_iter().map(|row| {
        let best = argmax(row);
        row.get(best).is_some_and(|v| !v.is_nan()).then_some(best)
    });
    match targets {
        Targets::Classes(c) => predictions.zip(c).filter(|&(p, &t)| p == Some(t)).count(),
        Targets::Values(t) => predictions
            .zip(t.rows())
            .filter(|(p, t_row)| *p == Some(argmax(t_row.view())))
            .count(),
    }
}

/// The fraction of rows of `scores` whose largest score is at the target class, in `[0, 1]`;
/// NaN for an empty batch.
///
/// ```
/// use nn_core::{metrics::accuracy, Targets, Tensor};
/// let scores = Tensor::from_shape_vec(vec![2, 3], vec![0.1, 2.0, 0.3, 5.0, 1.0, 0.0]).unwrap();
/// assert_eq!(accuracy(&scores, Targets::Classes(&[1, 2])), 0.5);
/// ```
pub fn accuracy(scores: &Tensor, targets: Targets<'_>) -> f32 {
    let n = scores.shape().first().copied().unwrap_or(0);
    count_correct(scores, targets) as f32 / n as f32
}

/// The share of samples whose largest score is at their class, over every batch since the last
/// reset (exact whatever the size of the last batch): `acc`, what a classifier's trainer
/// records by default.
#[derive(Clone, Debug, Default)]
pub struct Accuracy {
    correct: usize,
    seen: usize,
}

impl Accuracy {
    /// An accuracy with nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Metric for Accuracy {
    fn name(&self) -> &str {
        "acc"
    }

    fn reset(&mut self) {
        *self = Self::default();
    }

    fn update(&mut self, scores: &Tensor, targets: Targets<'_>) {
        self.correct += count_correct(scores, targets);
        self.seen += targets.len();
    }

    fn value(&self) -> f32 {
        (self.correct as f64 / self.seen as f64) as f32
    }

    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        check_kind(output, targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::one_hot;

    fn scores() -> Tensor {
        Tensor::from_shape_vec(
            vec![4, 3],
            vec![
                0.1, 0.7, 0.2, // 1
                3.0, -1.0, 2.0, // 0
                0.0, 0.0, 5.0, // 2
                1.0, 1.0, 0.0, // tie: first wins, 0
            ],
        )
        .unwrap()
    }

    #[test]
    fn counts_rows_whose_argmax_is_the_target() {
        let targets = [1, 2, 2, 0];
        assert_eq!(count_correct(&scores(), Targets::Classes(&targets)), 3);
        assert_eq!(accuracy(&scores(), Targets::Classes(&targets)), 0.75);
        assert_eq!(accuracy(&scores(), Targets::Values(&one_hot(&targets, 3))), 0.75);
    }

    #[test]
    fn logits_and_probabilities_give_the_same_accuracy() {
        let s = scores();
        let mut p = s.mapv(f32::exp);
        for mut row in p.rows_mut() {
            let sum = row.sum();
            row /= sum;
        }
        let t = [1, 0, 2, 1];
        assert_eq!(
            accuracy(&s, Targets::Classes(&t)),
            accuracy(&p, Targets::Classes(&t))
        );
    }

    #[test]
    fn nan_scores_never_count_as_the_prediction() {
        let s = Tensor::from_shape_vec(vec![1, 3], vec![f32::NAN, 1.0, 0.5]).unwrap();
        assert_eq!(argmax(s.rows().into_iter().next().unwrap()), 1);
    }

    #[test]
    fn a_row_of_nan_scores_is_never_correct() {
        let s = Tensor::from_elem(vec![2, 3], f32::NAN);
        assert_eq!(count_correct(&s, Targets::Classes(&[0, 0])), 0);
        assert_eq!(count_correct(&s, Targets::Values(&one_hot(&[0, 0], 3))), 0);
    }

    #[test]
    fn the_metric_pools_batches_exactly() {
        let mut acc = Accuracy::new();
        let s = scores();
        acc.update(&s, Targets::Classes(&[1, 2, 2, 0])); // 3 of 4
        acc.update(
            &s.slice(ndarray::s![..1, ..]).to_owned().into_dyn(),
            Targets::Classes(&[0]),
        ); // 0 of 1
        assert_eq!(acc.value(), 0.6);
        assert!(acc.check(&[3], TargetKind::Classes(3)).is_ok());
        assert!(acc.check(&[3], TargetKind::Classes(4)).is_err());
        assert!(acc.check(&[1], TargetKind::Values(&[1])).is_ok());
        assert!(acc.check(&[3], TargetKind::Values(&[1])).is_err());
    }

    #[test]
    #[should_panic(expected = "accuracy: target class 3 at row 0 is out of range for 3 classes")]
    fn out_of_range_targets_panic() {
        count_correct(&scores(), Targets::Classes(&[3, 0, 0, 0]));
    }
}
