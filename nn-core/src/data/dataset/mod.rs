//! [`Dataset`]: N samples in memory, with seeded splits: the first [`DataSource`].
//!
//! Pixels stay `u8` in memory (47 MB for MNIST's training set instead of 188 MB of `f32`) and are
//! normalised to `[0, 1]` only as a batch is filled. Synthetic problems and tables hold `f32`
//! features instead, copied into the batch as they are. Targets are class indices, `f32` values
//! of any per-sample shape, the inputs themselves (an autoencoder's, kept once), or none.
//!
//! ```
//! use nn_core::data::{DataSource, Dataset, Targets};
//! use nn_core::{seeded, Tensor};
//!
//! // Four 2-feature samples of two classes.
//! let x = Tensor::from_shape_vec(vec![4, 2], vec![0., 0., 0., 1., 1., 0., 1., 1.]).unwrap();
//! let data = Dataset::from_tensor(x, vec![0, 1, 1, 0], 2)?;
//! let mut rng = seeded(4321);
//! let (train, valid) = data.split_valid(1, &mut rng)?;
//! assert_eq!((train.len(), valid.len()), (3, 1));
//!
//! let mut batches = train.batches(2, 1);
//! for _epoch in 0..2 {
//!     // One epoch: a batch of 2 then the partial batch of 1 (use `.drop_last(true)` to skip it).
//!     while let Some(batch) = batches.next_batch()? {
//!         assert_eq!(batch.inputs.shape()[1], 2);
//!         assert!(matches!(batch.targets(), Targets::Classes(c) if c.len() == batch.len()));
//!     }
//! }
//! # Ok::<(), nn_core::Error>(())
//! ```

use super::batch::Batch;
use super::source::{DataSource, FillContext};
use super::targets::TargetKind;
use super::DataError;
use crate::error::Result;
use crate::tensor::Tensor;

mod derived;
pub(crate) use derived::split_order;

/// How the samples' features are stored.
#[derive(Clone, Debug, PartialEq)]
enum Features {
    /// Pixels, normalised by 1/255 when a batch is filled.
    U8(Vec<u8>),
    /// Features used as they are.
    F32(Vec<f32>),
}

/// What the samples' targets are.
#[derive(Clone, Debug, PartialEq)]
enum Stored {
    /// A class index per sample, below `classes`.
    Classes { labels: Vec<usize>, classes: usize },
    /// `f32` values of `shape` per sample, sample after sample.
    Values { values: Vec<f32>, shape: Vec<usize> },
    /// Each sample's target is its own input, as filled (an autoencoder's): no second copy.
    Inputs,
    /// No targets: inputs for prediction.
    None,
}

/// N samples in memory, each a feature array of one shape (`[784]` for MNIST) and a target:
/// a class index, `f32` values, its own input, or none.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    features: Features,
    feature_shape: Vec<usize>,
    feature_len: usize,
    len: usize,
    targets: Stored,
}

impl Dataset {
    /// A dataset of `u8` pixels (sample after sample, each `feature_shape` row-major), normalised
    /// to `[0, 1]` as batches are filled, with a class label below `classes` per sample.
    pub fn from_u8(
        pixels: Vec<u8>,
        feature_shape: &[usize],
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self> {
        Self::classified(Features::U8(pixels), feature_shape, labels, classes)
    }

    /// A dataset of `f32` features (sample after sample, each `feature_shape` row-major), used as
    /// they are, with a class label below `classes` per sample. Fails on a NaN or infinite
    /// feature, which would otherwise surface much later as a "training diverged" error that
    /// blames the learning rate.
    pub fn from_f32(
        features: Vec<f32>,
        feature_shape: &[usize],
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self> {
        check_finite("feature", &features, feature_shape)?;
        Self::classified(Features::F32(features), feature_shape, labels, classes)
    }

    /// A dataset from a batch-first tensor `[N, ...]` of features and N class labels.
    pub fn from_tensor(features: Tensor, labels: Vec<usize>, classes: usize) -> Result<Self> {
        let (shape, values) = batch_first("features", features)?;
        Self::from_f32(values, &shape, labels, classes)
    }

    /// A dataset of `f32` inputs `[N, ...]` and `f32` value targets `[N, ...]` (PyTorch's
    /// `TensorDataset(x, y)`): regression, multi-label 0/1 rows, images to output. Fails on a NaN
    /// or infinite value (naming the sample), or if the two have different N.
    pub fn from_tensors(inputs: Tensor, targets: Tensor) -> Result<Self> {
        let (n_inputs, n_targets) = (inputs.shape().first(), targets.shape().first());
        if n_inputs != n_targets {
            return Err(invalid(format!(
                "inputs of shape {:?} and targets of shape {:?} hold different numbers of samples \
                 (the first dimension); fix: give one target per input",
                inputs.shape(),
                targets.shape()
            )));
        }
        let len = n_inputs.copied().unwrap_or(0);
        let (feature_shape, features) = batch_first("inputs", inputs)?;
        let (shape, values) = batch_first("targets", targets)?;
        check_finite("input", &features, &feature_shape)?;
        check_finite("target value", &values, &shape)?;
        Self::new(
            Features::F32(features),
            &feature_shape,
            len,
            Stored::Values { values, shape },
        )
    }

    /// The same samples with their own inputs as targets (an autoencoder's), as batches fill
    /// them (pixels divided by 255): the data is kept once, and each batch's targets are a copy
    /// of its inputs.
    pub fn inputs_as_targets(mut self) -> Self {
        self.targets = Stored::Inputs;
        self
    }

    /// The same inputs without targets: for prediction, or to check that a loss needs none.
    pub fn without_targets(mut self) -> Self {
        self.targets = Stored::None;
        self
    }

    fn classified(
        features: Features,
        feature_shape: &[usize],
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self> {
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(invalid(format!(
                "label {label} at position {index} is not below the class count {classes}"
            )));
        }
        let len = labels.len();
        Self::new(features, feature_shape, len, Stored::Classes { labels, classes })
    }

    /// Checks every size: `len` samples of `feature_shape` must be exactly the features given,
    /// and a sample must fit a batch buffer; value targets likewise.
    fn new(features: Features, feature_shape: &[usize], len: usize, targets: Stored) -> Result<Self> {
        let feature_len = sample_len("feature", feature_shape)?;
        let values = match &features {
            Features::U8(p) => p.len(),
            Features::F32(v) => v.len(),
        };
        let need = len.checked_mul(feature_len);
        if need != Some(values) {
            return Err(invalid(format!(
                "{len} samples with feature shape {feature_shape:?} need {} feature values, got {values}",
                need.map_or("more than usize::MAX".to_string(), |n| n.to_string())
            )));
        }
        if let Stored::Values { values, shape } = &targets {
            let need = len.checked_mul(sample_len("target", shape)?);
            if need != Some(values.len()) {
                return Err(invalid(format!(
                    "{len} samples with target shape {shape:?} need {} target values, got {}; fix: \
                     give inputs and targets the same number of samples (the first dimension)",
                    need.map_or("more than usize::MAX".to_string(), |n| n.to_string()),
                    values.len()
                )));
            }
        }
        Ok(Dataset {
            features,
            feature_shape: feature_shape.to_vec(),
            feature_len,
            len,
            targets,
        })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The shape of one sample's features, e.g. `[784]`.
    pub fn feature_shape(&self) -> &[usize] {
        &self.feature_shape
    }

    /// The number of feature values per sample (the product of [`Dataset::feature_shape`]).
    pub fn feature_len(&self) -> usize {
        self.feature_len
    }

    /// The same samples, each shaped `shape`: MNIST's `[784]` as `[1, 28, 28]` for a
    /// convolutional network, whose batches then come out as `[N, 1, 28, 28]`. Only the shape
    /// changes (no value is copied, and batches are filled as before); fails unless `shape`
    /// holds [`Dataset::feature_len`] values. Targets that are the inputs take the new shape too.
    pub fn with_feature_shape(mut self, shape: &[usize]) -> Result<Self> {
        let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if len != Some(self.feature_len) {
            return Err(invalid(format!(
                "feature shape {shape:?} holds {} values, but each sample has {} (shape {:?}); \
                 fix: give a shape whose sizes multiply to {}",
                len.map_or("more than usize::MAX".to_string(), |n| n.to_string()),
                self.feature_len,
                self.feature_shape,
                self.feature_len
            )));
        }
        self.feature_shape = shape.to_vec();
        Ok(self)
    }

    /// The number of classes, for class targets (every label is below it).
    pub fn classes(&self) -> Option<usize> {
        match &self.targets {
            Stored::Classes { classes, .. } => Some(*classes),
            _ => None,
        }
    }

    /// The class index of each sample, for class targets.
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            Stored::Classes { labels, .. } => Some(labels),
            _ => None,
        }
    }

    /// The value targets, sample after sample, each of [`DataSource::target_kind`]'s shape (for
    /// value targets given as values, not for [`Dataset::inputs_as_targets`]).
    pub fn target_values(&self) -> Option<&[f32]> {
        match &self.targets {
            Stored::Values { values, .. } => Some(values),
            _ => None,
        }
    }

    /// The raw pixels, sample after sample, if this dataset stores `u8` pixels.
    pub fn pixels(&self) -> Option<&[u8]> {
        match &self.features {
            Features::U8(p) => Some(p),
            Features::F32(_) => None,
        }
    }

    /// The `f32` features, sample after sample, if this dataset stores `f32` features.
    pub fn features(&self) -> Option<&[f32]> {
        match &self.features {
            Features::F32(v) => Some(v),
            Features::U8(_) => None,
        }
    }

    /// All samples' inputs as one tensor `[N, feature_shape...]` (pixels divided by 255), in order.
    pub fn to_tensor(&self) -> Tensor {
        let all: Vec<usize> = (0..self.len()).collect();
        let mut batch = Batch::new();
        self.fill_inputs(&all, &mut batch);
        batch.inputs
    }

    /// Fills the inputs of the samples at `indices` into `batch`.
    fn fill_inputs(&self, indices: &[usize], batch: &mut Batch) {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            panic!(
                "Dataset::fill: index {bad} out of range for {} samples",
                self.len()
            );
        }
        let f = self.feature_len;
        let out = batch.inputs_mut(indices.len(), &self.feature_shape);
        let fill = |out: &mut [f32], indices: &[usize]| {
            // Compiled for the CPU's widest vectors: a batch of MNIST is 78,400 divisions.
            crate::linalg::vectorized(
                #[inline(always)]
                || {
                    for (dst, &i) in out.chunks_exact_mut(f).zip(indices) {
                        match &self.features {
                            Features::U8(p) => {
                                for (d, &s) in dst.iter_mut().zip(&p[i * f..(i + 1) * f]) {
                                    // Division (not multiplication by 1/255) is correctly rounded:
                                    // 255 maps to exactly 1.0.
                                    *d = f32::from(s) / 255.0;
                                }
                            }
                            Features::F32(v) => dst.copy_from_slice(&v[i * f..(i + 1) * f]),
                        }
                    }
                },
            )
        };
        // A large batch is filled in two halves on two threads.
        if out.len() >= crate::linalg::PARALLEL_MIN_LEN && crate::linalg::num_threads() > 1 {
            let half = indices.len() / 2;
            let (out0, out1) = out.split_at_mut(half * f);
            let (idx0, idx1) = indices.split_at(half);
            crate::threads::both(|| fill(out0, idx0), || fill(out1, idx1));
        } else {
            fill(out, indices);
        }
    }
}

impl DataSource for Dataset {
    fn len(&self) -> usize {
        self.len
    }

    fn input_shape(&self) -> &[usize] {
        &self.feature_shape
    }

    fn target_kind(&self) -> TargetKind<'_> {
        match &self.targets {
            Stored::Classes { classes, .. } => TargetKind::Classes(*classes),
            Stored::Values { shape, .. } => TargetKind::Values(shape),
            Stored::Inputs => TargetKind::Values(&self.feature_shape),
            Stored::None => TargetKind::None,
        }
    }

    /// Features into `batch.inputs` (pixels divided by 255), targets into the batch's class or
    /// value buffer; every buffer is reused.
    ///
    /// # Panics
    /// If an index is out of range (indices come from the program, not from a file).
    fn fill(&self, indices: &[usize], batch: &mut Batch, _: FillContext) -> Result<()> {
        self.fill_inputs(indices, batch);
        match &self.targets {
            Stored::Classes { labels, .. } => batch.classes_mut().extend(indices.iter().map(|&i| labels[i])),
            Stored::Values { values, shape } => {
                let per_sample = shape.iter().product::<usize>();
                let out = batch.values_mut(indices.len(), shape);
                for (dst, &i) in out.chunks_exact_mut(per_sample).zip(indices) {
                    dst.copy_from_slice(&values[i * per_sample..(i + 1) * per_sample]);
                }
            }
            Stored::Inputs => batch.targets_from_inputs(),
            Stored::None => batch.clear_targets(),
        }
        Ok(())
    }
}

/// The shape of one sample and the values of a batch-first tensor `[N, ...]`.
fn batch_first(what: &str, t: Tensor) -> Result<(Vec<usize>, Vec<f32>)> {
    if t.ndim() == 0 {
        return Err(invalid(format!(
            "{what} must be batch first, [N, ...]; got a scalar"
        )));
    }
    let shape = t.shape()[1..].to_vec();
    let values = if t.is_standard_layout() {
        t.into_raw_vec_and_offset().0
    } else {
        t.iter().copied().collect()
    };
    Ok((shape, values))
}

/// The number of values in one sample of `shape`: at least 1, and few enough that a batch of
/// one sample fits in memory's address space (checked, so an absurd shape is an error here
/// rather than an overflow or a "capacity overflow" panic in the first batch).
fn sample_len(what: &str, shape: &[usize]) -> Result<usize> {
    let max = isize::MAX as usize / std::mem::size_of::<f32>();
    match shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) {
        Some(0) => Err(invalid(format!("{what} shape {shape:?} has no elements"))),
        Some(n) if n <= max => Ok(n),
        _ => Err(invalid(format!(
            "{what} shape {shape:?} holds more values per sample than a batch can ({max} at \
             most); fix: check the shape's sizes"
        ))),
    }
}

/// Fails on the first NaN or infinite value, naming its sample and its position in the sample.
fn check_finite(what: &str, values: &[f32], sample_shape: &[usize]) -> Result<()> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let per_sample = sample_shape.iter().product::<usize>().max(1);
        return Err(invalid(format!(
            "{what} {} of sample {} is {}; fix: remove or impute non-finite values before \
             building the dataset",
            i % per_sample,
            i / per_sample,
            values[i]
        )));
    }
    Ok(())
}

fn invalid(message: String) -> crate::error::Error {
    DataError::Invalid(message).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Targets;
    use ndarray::IxDyn;

    /// `n` 2x3 "images" whose pixels encode the sample index, labels `i % classes`.
    pub(super) fn pixels(n: usize, classes: usize) -> Dataset {
        let px: Vec<u8> = (0..n * 6).map(|k| (k / 6 * 10 + k % 6) as u8).collect();
        Dataset::from_u8(px, &[2, 3], (0..n).map(|i| i % classes).collect(), classes).unwrap()
    }

    pub(super) fn filled(d: &Dataset, indices: &[usize]) -> Batch {
        let mut b = Batch::new();
        d.fill(indices, &mut b, FillContext::eval()).unwrap();
        b
    }

    #[test]
    fn constructors_validate() {
        assert!(Dataset::from_u8(vec![0; 10], &[3], vec![0, 1, 2], 3).is_err());
        let err = Dataset::from_f32(vec![0.0; 6], &[2], vec![0, 1, 3], 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("label 3 at position 2"), "{err}");
        assert!(Dataset::from_f32(vec![], &[0], vec![], 1).is_err());
        let err = Dataset::from_f32(vec![0.0, 1.0, 2.0, f32::NAN], &[2], vec![0, 1], 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("feature 1 of sample 1 is NaN"), "{err}");
        let inf = Tensor::from_elem(IxDyn(&[2, 2]), f32::INFINITY);
        assert!(Dataset::from_tensor(inf, vec![0, 1], 2).is_err());
        let d = Dataset::from_tensor(Tensor::zeros(IxDyn(&[4, 2, 2])), vec![0, 1, 0, 1], 2).unwrap();
        assert_eq!(
            (d.len(), d.feature_shape(), d.feature_len(), d.classes()),
            (4, &[2, 2][..], 4, Some(2))
        );
    }

    #[test]
    fn every_size_is_checked_before_anything_is_allocated() {
        // Issue 23: this was accepted, and the first batch panicked with "capacity overflow".
        let err = Dataset::from_u8(vec![], &[1 << 62], vec![], 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more values per sample than a batch can"), "{err}");
        let err = Dataset::from_u8(vec![], &[1 << 40, 1 << 40], vec![], 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more values per sample"), "{err}");
        // Samples times features overflowing usize: an error, not a wrapped product that matches.
        let labels = vec![0; 1 << 20];
        let err = Dataset::from_u8(vec![0; 4], &[1 << 44], labels, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("need more than usize::MAX feature values"), "{err}");
        let d = pixels(2, 2);
        let err = d.with_feature_shape(&[1 << 32, 1 << 32]).unwrap_err().to_string();
        assert!(err.contains("holds more than usize::MAX values"), "{err}");
    }

    #[test]
    fn fill_normalises_pixels_and_picks_rows() {
        let px: Vec<u8> = vec![0, 255, 51, 10, 20, 30];
        let d = Dataset::from_u8(px, &[3], vec![1, 0], 2).unwrap();
        let b = filled(&d, &[1, 0]);
        assert_eq!(b.inputs.shape(), &[2, 3]);
        let v: Vec<f32> = b.inputs.iter().copied().collect();
        assert_eq!(v, vec![10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0, 0.0, 1.0, 0.2]);
        assert!(matches!(b.targets(), Targets::Classes(&[0, 1])));
        assert_eq!(d.to_tensor().shape(), &[2, 3]);
    }

    #[test]
    fn f32_features_are_copied_unchanged() {
        let d = Dataset::from_f32(vec![-1.5, 2.0, 3.25, 7.0], &[2], vec![0, 1], 2).unwrap();
        assert_eq!(filled(&d, &[1]).inputs.as_slice().unwrap(), &[3.25, 7.0]);
    }

    #[test]
    fn inputs_as_targets_keeps_one_copy_and_fills_the_inputs_as_targets() {
        let d = pixels(4, 2).inputs_as_targets().with_feature_shape(&[6]).unwrap();
        assert_eq!(d.target_kind(), TargetKind::Values(&[6]));
        assert_eq!(d.pixels().unwrap().len(), 4 * 6, "one copy of the pixels");
        let b = filled(&d, &[3, 1]);
        let Targets::Values(t) = b.targets() else {
            panic!("values")
        };
        assert_eq!(t, &b.inputs);
        let none = d.without_targets();
        assert_eq!(none.target_kind(), TargetKind::None);
        assert_eq!(filled(&none, &[0]).target_kind(), TargetKind::None);
    }
}
