//! [`DataSource`]: what `fit`, `evaluate` and `predict` read samples from. The in-memory
//! [`Dataset`](super::Dataset) is one; a plain tensor of inputs is another; a folder of images
//! decoded as batches are needed, or a generator, can be one too.

use super::batch::Batch;
use super::batches::Batches;
use super::targets::TargetKind;
use crate::error::Result;
use crate::tensor::Tensor;

/// Where a batch is going, for sources whose fill depends on it: augmentation that is applied to
/// training batches only and is deterministic in (seed, epoch, sample index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FillContext {
    /// The 0-based epoch the batch belongs to (0 outside training).
    pub epoch: usize,
    /// Whether the batch is for a training step (rather than evaluation or prediction).
    pub training: bool,
}

impl FillContext {
    /// A training batch of epoch `epoch` (0-based).
    pub fn train(epoch: usize) -> Self {
        FillContext {
            epoch,
            training: true,
        }
    }

    /// A batch for evaluation or prediction.
    pub fn eval() -> Self {
        FillContext {
            epoch: 0,
            training: false,
        }
    }
}

/// N samples that can be filled into a [`Batch`] by index: the one way training, evaluation and
/// prediction read data.
///
/// An implementation says how many samples there are, the shape of one input, what its targets
/// are, and fills any list of sample indices into a batch. Order, shuffling and batch sizes are
/// [`Batches`]'s job, so a source need not know them; the fill takes `&self` and sources are
/// `Sync`, so a fill may split its work over threads.
///
/// ```
/// use nn_core::data::{Batch, DataSource, FillContext, TargetKind};
///
/// /// y = 2x + 1 at N evenly spaced x in [-1, 1], computed as batches are filled.
/// struct Line(usize);
///
/// impl DataSource for Line {
///     fn len(&self) -> usize { self.0 }
///     fn input_shape(&self) -> &[usize] { &[1] }
///     fn target_kind(&self) -> TargetKind<'_> { TargetKind::Values(&[1]) }
///     fn fill(&self, indices: &[usize], batch: &mut Batch, _: FillContext) -> nn_core::Result<()> {
///         let x = |i: usize| -1.0 + 2.0 * i as f32 / (self.0 - 1) as f32;
///         for (slot, &i) in batch.inputs_mut(indices.len(), &[1]).iter_mut().zip(indices) {
///             *slot = x(i);
///         }
///         for (slot, &i) in batch.values_mut(indices.len(), &[1]).iter_mut().zip(indices) {
///             *slot = 2.0 * x(i) + 1.0;
///         }
///         Ok(())
///     }
/// }
///
/// let mut batches = Line(5).batches_in_order(2);
/// let batch = batches.next_batch()?.unwrap();
/// assert_eq!(batch.inputs.as_slice().unwrap(), &[-1.0, -0.5]);
/// # Ok::<(), nn_core::Error>(())
/// ```
pub trait DataSource: Sync {
    /// The number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one sample's input, without the batch dimension: `[784]`, `[1, 28, 28]`.
    fn input_shape(&self) -> &[usize];

    /// What each sample's target is: checked against the loss, the metrics and the network's
    /// output before training starts.
    fn target_kind(&self) -> TargetKind<'_>;

    /// Fills `batch` with the samples at `indices`, in that order: the inputs through
    /// [`Batch::inputs_mut`]`(indices.len(), self.input_shape())`, and the targets through
    /// [`Batch::classes_mut`] or [`Batch::values_mut`] as [`DataSource::target_kind`] says
    /// (nothing for [`TargetKind::None`]). Fails only for reasons outside the program (a file
    /// that cannot be read); an index out of range is a programming error and may panic.
    fn fill(&self, indices: &[usize], batch: &mut Batch, context: FillContext) -> Result<()>;

    /// The source's name in messages: its type's name unless overridden.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        // `nn_core::data::Dataset` -> `Dataset`; generic arguments are kept whole.
        let base = full.split('<').next().unwrap_or(full);
        full[base.rfind("::").map_or(0, |i| i + 2)..].to_string()
    }

    /// Mini-batches of `batch_size` samples, reshuffled for every epoch by an RNG seeded with
    /// `seed` and the epoch's index, filled as training batches. See [`Batches`].
    ///
    /// # Panics
    /// If `batch_size` is 0.
    fn batches(&self, batch_size: usize, seed: u64) -> Batches<'_>
    where
        Self: Sized,
    {
        Batches::new(self, batch_size).shuffled(seed).training(true)
    }

    /// Mini-batches of `batch_size` samples in order, the same every epoch, filled as evaluation
    /// batches.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    fn batches_in_order(&self, batch_size: usize) -> Batches<'_>
    where
        Self: Sized,
    {
        Batches::new(self, batch_size)
    }
}

/// A borrowed source is a source: wrappers such as [`Transformed`](super::Transformed) can hold
/// `&dataset` and leave the dataset with its owner.
impl<T: DataSource + ?Sized> DataSource for &T {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn input_shape(&self) -> &[usize] {
        (**self).input_shape()
    }

    fn target_kind(&self) -> TargetKind<'_> {
        (**self).target_kind()
    }

    fn fill(&self, indices: &[usize], batch: &mut Batch, context: FillContext) -> Result<()> {
        (**self).fill(indices, batch, context)
    }

    fn name(&self) -> String {
        (**self).name()
    }
}

/// A batch-first tensor `[N, ...]` is a source of N inputs with no targets: what `predict` needs
/// (Keras' `model.predict(x)`). (Called on a tensor, `len()` is ndarray's element count;
/// `DataSource::len(&x)` is the sample count.)
impl DataSource for Tensor {
    fn len(&self) -> usize {
        self.shape().first().copied().unwrap_or(0)
    }

    fn input_shape(&self) -> &[usize] {
        self.shape().get(1..).unwrap_or(&[])
    }

    fn target_kind(&self) -> TargetKind<'_> {
        TargetKind::None
    }

    fn fill(&self, indices: &[usize], batch: &mut Batch, _: FillContext) -> Result<()> {
        let out = batch.inputs_mut(indices.len(), self.input_shape());
        let per_sample = self.input_shape().iter().product::<usize>();
        for (dst, &i) in out.chunks_exact_mut(per_sample.max(1)).zip(indices) {
            // `Zip` rather than a slice copy: the tensor need not be in standard layout.
            for (d, &s) in dst.iter_mut().zip(self.index_axis(ndarray::Axis(0), i).iter()) {
                *d = s;
            }
        }
        batch.clear_targets();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tensor_is_a_source_of_inputs_in_any_layout() {
        let t = Tensor::from_shape_vec(vec![3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let transposed = t.t().to_owned().reversed_axes().into_dyn();
        let mut b = Batch::new();
        transposed.fill(&[2, 0], &mut b, FillContext::eval()).unwrap();
        assert_eq!(b.inputs.as_slice().unwrap(), &[5.0, 6.0, 1.0, 2.0]);
        // `Tensor::len` is ndarray's element count: the sample count is the trait's.
        assert_eq!(
            (DataSource::len(&t), t.input_shape(), t.target_kind()),
            (3, &[2][..], TargetKind::None)
        );
    }
}
