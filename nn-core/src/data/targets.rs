//! What a network is trained to output: a batch's [`Targets`], what a data source says its
//! targets are ([`TargetKind`]), and [`one_hot`].

use crate::tensor::Tensor;
use ndarray::IxDyn;
use std::fmt;

/// The correct answers for a batch, as a loss or a metric reads them.
///
/// ```
/// use nn_core::{data::one_hot, Targets, Tensor};
/// let classes = Targets::Classes(&[2, 0]);
/// let rows = one_hot(&[2, 0], 3); // [[0, 0, 1], [1, 0, 0]]
/// let values = Targets::Values(&rows); // as class probabilities for SoftmaxCrossEntropy
/// assert_eq!((classes.len(), values.len()), (2, 2));
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Targets<'a> {
    /// The class index of each sample, `[N]`.
    Classes(&'a [usize]),
    /// `f32` values, batch first, `[N, ...]`: regression targets, multi-label 0/1 rows, an image
    /// to reconstruct, or class probabilities (one-hot or smoothed rows) for a classifier.
    Values(&'a Tensor),
}

impl Targets<'_> {
    /// The number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.shape().first().copied().unwrap_or(0),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Panics with a clear message naming `who` unless these targets fit `n` rows of `classes`
    /// scores: class indices below `classes`, or `[n, classes]` values.
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
            Targets::Values(t) => assert!(
                t.shape() == [n, classes],
                "{who}: class-probability targets have shape {:?}, expected [{n}, {classes}] like the scores",
                t.shape()
            ),
        }
    }

    /// What these targets are, per sample: for messages and [`crate::loss::Loss::check`].
    pub fn kind(&self) -> TargetKind<'_> {
        match self {
            Targets::Classes(c) => TargetKind::Classes(c.iter().max().map_or(0, |&m| m + 1)),
            Targets::Values(v) => TargetKind::Values(v.shape().get(1..).unwrap_or(&[])),
        }
    }
}

/// What each sample's target is, as a data source declares it: what `fit` checks the loss and
/// the metrics against (and the network's output shape) before the first step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetKind<'a> {
    /// A class index below this number of classes.
    Classes(usize),
    /// `f32` values of this shape (without the batch dimension): `[1]` for one number per sample.
    Values(&'a [usize]),
    /// No target: a source of inputs only, for prediction.
    None,
}

impl fmt::Display for TargetKind<'_> {
    /// `class indices below 3`, `values of shape [N, 1]`, `no targets`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetKind::Classes(k) => write!(f, "class indices below {k}, shape [N]"),
            TargetKind::Values(shape) => write!(f, "values of shape {}", batch_shape(shape)),
            TargetKind::None => write!(f, "no targets"),
        }
    }
}

/// `[N, 2, 3]` for a per-sample shape `[2, 3]`: how shapes read in messages.
pub(crate) fn batch_shape(sample: &[usize]) -> String {
    let mut s = "[N".to_string();
    for d in sample {
        s.push_str(&format!(", {d}"));
    }
    s.push(']');
    s
}

/// One-hot encodes class indices: `[labels.len(), classes]`, 1.0 at each label, 0.0 elsewhere
/// (for [`Targets::Values`]).
///
/// # Panics
/// If a label is not below `classes`.
pub fn one_hot(labels: &[usize], classes: usize) -> Tensor {
    let mut t = Tensor::zeros(IxDyn(&[labels.len(), classes]));
    for (row, &label) in labels.iter().enumerate() {
        assert!(
            label < classes,
            "one_hot: label {label} at position {row} is not below {classes} classes"
        );
        t[[row, label]] = 1.0;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_rows() {
        let t = one_hot(&[2, 0], 3);
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.as_slice().unwrap(), &[0., 0., 1., 1., 0., 0.]);
    }

    #[test]
    fn kinds_read_as_shapes() {
        let v = Tensor::zeros(IxDyn(&[4, 2, 3]));
        assert_eq!(Targets::Values(&v).kind(), TargetKind::Values(&[2, 3]));
        assert_eq!(Targets::Classes(&[0, 4, 1]).kind(), TargetKind::Classes(5));
        assert_eq!(
            TargetKind::Values(&[2, 3]).to_string(),
            "values of shape [N, 2, 3]"
        );
        assert_eq!(
            TargetKind::Classes(3).to_string(),
            "class indices below 3, shape [N]"
        );
    }
}
