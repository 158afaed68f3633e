//! [`Batch`]: one mini-batch of inputs and targets, in buffers a data source fills and the
//! training step reuses.

use super::targets::{batch_shape, TargetKind, Targets};
use crate::tensor::Tensor;
use ndarray::IxDyn;

/// One mini-batch: `f32` inputs `[N, ...]` and the targets of the same N samples (class indices,
/// `f32` values, or none).
///
/// A [`DataSource`](super::DataSource) fills it through [`Batch::inputs_mut`] and one of
/// [`Batch::classes_mut`] / [`Batch::values_mut`]; each hands out a reused buffer, reallocated
/// only when it is too small, so a steady stream of batches allocates nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// The inputs, batch first. Public so that a training step can move them into
    /// `Layer::forward` (which takes its input by value) and put the input gradient back: the
    /// next fill then reuses that buffer.
    pub inputs: Tensor,
    len: usize,
    filled: Filled,
    classes: Vec<usize>,
    values: Tensor,
}

/// Which target buffer the last fill wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Filled {
    #[default]
    None,
    Classes,
    Values,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// The number of samples, as set by the last [`Batch::inputs_mut`].
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The batch's targets, for a loss or a metric.
    ///
    /// # Panics
    /// If the batch has none (its source gives inputs only, for prediction).
    pub fn targets(&self) -> Targets<'_> {
        match self.filled {
            Filled::Classes => Targets::Classes(&self.classes),
            Filled::Values => Targets::Values(&self.values),
            Filled::None => panic!(
                "Batch::targets: this batch has no targets (its data source gives inputs only, \
                 which is enough for predict but not for a loss or a metric)"
            ),
        }
    }

    /// What the targets are, per sample ([`TargetKind::None`] before any target is filled).
    pub fn target_kind(&self) -> TargetKind<'_> {
        match self.filled {
            Filled::Classes => TargetKind::Classes(self.classes.iter().max().map_or(0, |&m| m + 1)),
            Filled::Values => TargetKind::Values(self.values.shape().get(1..).unwrap_or(&[])),
            Filled::None => TargetKind::None,
        }
    }

    /// The input buffer for `n` samples of `sample_shape`, row-major, sample after sample: the
    /// inputs tensor reshaped to `[n, sample_shape...]`. Its values are whatever the buffer held
    /// before: write every one. Sets [`Batch::len`] to `n`.
    pub fn inputs_mut(&mut self, n: usize, sample_shape: &[usize]) -> &mut [f32] {
        self.len = n;
        ensure_shape(&mut self.inputs, n, sample_shape)
    }

    /// The class-index buffer, emptied, to be filled with one class per sample; the batch's
    /// targets are class indices from now on.
    pub fn classes_mut(&mut self) -> &mut Vec<usize> {
        self.filled = Filled::Classes;
        self.classes.clear();
        &mut self.classes
    }

    /// The value-target buffer for `n` samples of `sample_shape` (as [`Batch::inputs_mut`]); the
    /// batch's targets are these values from now on.
    pub fn values_mut(&mut self, n: usize, sample_shape: &[usize]) -> &mut [f32] {
        self.filled = Filled::Values;
        ensure_shape(&mut self.values, n, sample_shape)
    }

    /// Makes the targets a copy of the inputs (an autoencoder's), in the reused value buffer.
    pub fn targets_from_inputs(&mut self) {
        self.filled = Filled::Values;
        let shape = self.inputs.shape();
        let fits = self.values.is_standard_layout() && self.values.shape() == shape;
        if fits {
            self.values.assign(&self.inputs);
        } else {
            let (n, sample) = (shape[0], shape[1..].to_vec());
            let inputs = &self.inputs;
            let dst = ensure_shape(&mut self.values, n, &sample);
            for (d, &s) in dst.iter_mut().zip(inputs.iter()) {
                *d = s;
            }
        }
    }

    /// Forgets which targets were filled: the batch has none until the next
    /// [`Batch::classes_mut`] or [`Batch::values_mut`].
    pub fn clear_targets(&mut self) {
        self.filled = Filled::None;
    }

    /// `Err` saying what differs unless the batch holds `n` samples of `input_shape` and the
    /// targets `declared`: a data source whose fill breaks its own description is a programming
    /// error, caught at the batch rather than deep inside a loss. Allocates only on failure.
    pub(crate) fn check_filled(
        &self,
        n: usize,
        input_shape: &[usize],
        declared: TargetKind<'_>,
    ) -> Result<(), String> {
        let inputs_ok = self.len == n
            && self.inputs.ndim() == 1 + input_shape.len()
            && self.inputs.shape()[0] == n
            && &self.inputs.shape()[1..] == input_shape;
        if !inputs_ok {
            return Err(format!(
                "a fill of {n} samples left inputs of shape {:?} (batch length {}), expected {} \
                 with N = {n}",
                self.inputs.shape(),
                self.len,
                batch_shape(input_shape)
            ));
        }
        let targets_ok = match (declared, self.filled) {
            (TargetKind::Classes(k), Filled::Classes) => {
                self.classes.len() == n && self.classes.iter().all(|&c| c < k)
            }
            (TargetKind::Values(shape), Filled::Values) => {
                self.values.shape()[0] == n && &self.values.shape()[1..] == shape
            }
            (TargetKind::None, Filled::None) => true,
            _ => false,
        };
        if !targets_ok {
            let rows = match self.filled {
                Filled::Classes => self.classes.len(),
                Filled::Values => self.values.shape()[0],
                Filled::None => 0,
            };
            return Err(format!(
                "declares {declared} but a fill of {n} samples left {} ({rows} rows)",
                self.target_kind()
            ));
        }
        Ok(())
    }
}

/// Makes `t` a standard-layout tensor of shape `[n, sample_shape...]` and returns its elements.
/// Keeps `t` as it is when it already has that shape (so a steady stream of batches allocates
/// nothing); otherwise reuses its allocation when it is large enough (a last partial batch, then
/// the next epoch's full one, cost no allocation).
fn ensure_shape<'t>(t: &'t mut Tensor, n: usize, sample_shape: &[usize]) -> &'t mut [f32] {
    let fits = t.is_standard_layout()
        && t.ndim() == 1 + sample_shape.len()
        && t.shape()[0] == n
        && &t.shape()[1..] == sample_shape;
    if !fits {
        let mut shape = Vec::with_capacity(1 + sample_shape.len());
        shape.push(n);
        shape.extend_from_slice(sample_shape);
        let len = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or_else(|| panic!("Batch: {n} samples of shape {sample_shape:?} overflow usize"));
        let (mut values, _) = std::mem::take(t).into_raw_vec_and_offset();
        values.clear();
        values.resize(len, 0.0);
        *t = Tensor::from_shape_vec(IxDyn(&shape), values).expect("length matches the shape");
    }
    t.as_slice_mut().expect("standard layout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_targets_follow_the_last_fill() {
        let mut b = Batch::new();
        b.inputs_mut(4, &[3]).fill(1.0);
        let ptr = b.inputs.as_ptr();
        b.classes_mut().extend([0, 1, 2, 1]);
        assert!(matches!(b.targets(), Targets::Classes(&[0, 1, 2, 1])));
        b.inputs_mut(2, &[3]);
        assert_eq!(b.inputs.as_ptr(), ptr, "a smaller batch reuses the buffer");
        b.values_mut(2, &[1]).copy_from_slice(&[0.5, 1.5]);
        assert_eq!(b.target_kind(), TargetKind::Values(&[1]));
        b.check_filled(2, &[3], TargetKind::Values(&[1])).unwrap();
        b.clear_targets();
        assert_eq!(b.target_kind(), TargetKind::None);
    }

    #[test]
    fn a_fill_that_breaks_its_declaration_is_described() {
        let mut b = Batch::new();
        b.inputs_mut(2, &[1]);
        b.values_mut(2, &[1]);
        assert_eq!(
            b.check_filled(2, &[1], TargetKind::Classes(3)).unwrap_err(),
            "declares class indices below 3, shape [N] but a fill of 2 samples left values of \
             shape [N, 1] (2 rows)"
        );
        assert!(b
            .check_filled(3, &[1], TargetKind::Values(&[1]))
            .unwrap_err()
            .contains("expected [N, 1] with N = 3"));
    }

    #[test]
    #[should_panic(expected = "has no targets")]
    fn a_batch_without_targets_says_so() {
        Batch::new().targets();
    }
}
