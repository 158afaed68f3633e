//! [`Dataset`]: N labelled samples in memory, with seeded splits; its mini-batches are
//! [`Batches`] (in `dataset/batches.rs`).
//!
//! Pixels stay `u8` in memory (47 MB for MNIST's training set instead of 188 MB of `f32`) and are
//! normalised to `[0, 1]` only as a batch is filled. Synthetic problems can hold `f32` features
//! instead, copied into the batch as they are.
//!
//! ```
//! use nn_core::data::Dataset;
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
//!     while let Some(batch) = batches.next_batch() {
//!         assert_eq!(batch.images.shape()[1], 2);
//!         assert_eq!(batch.images.shape()[0], batch.labels.len());
//!     }
//! }
//! # Ok::<(), nn_core::Error>(())
//! ```

mod batches;

pub use batches::{Batch, Batches};

use super::DataError;
use crate::error::Result;
use crate::rng::StdRng;
use crate::tensor::Tensor;
use ndarray::IxDyn;
use rand::seq::SliceRandom;

/// How the samples' features are stored.
#[derive(Clone, Debug, PartialEq)]
enum Features {
    /// Pixels, normalised by 1/255 when a batch is filled.
    U8(Vec<u8>),
    /// Features used as they are.
    F32(Vec<f32>),
}

/// N samples, each a feature array of one shape (`[784]` for MNIST) and a class label below
/// [`Dataset::classes`], kept in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    features: Features,
    feature_shape: Vec<usize>,
    feature_len: usize,
    labels: Vec<usize>,
    classes: usize,
}

impl Dataset {
    /// A dataset of `u8` pixels (sample after sample, each `feature_shape` row-major), normalised
    /// to `[0, 1]` as batches are filled.
    pub fn from_u8(
        pixels: Vec<u8>,
        feature_shape: &[usize],
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self> {
        Self::new(pixels.len(), Features::U8(pixels), feature_shape, labels, classes)
    }

    /// A dataset of `f32` features (sample after sample, each `feature_shape` row-major), used as
    /// they are: for synthetic problems. Fails on a NaN or infinite feature, which would
    /// otherwise surface much later as a "training diverged" error that blames the learning rate.
    pub fn from_f32(
        features: Vec<f32>,
        feature_shape: &[usize],
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self> {
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            let per_sample = feature_shape.iter().product::<usize>().max(1);
            return Err(invalid(format!(
                "feature {} of sample {} is {}; fix: remove or impute non-finite values before \
                 building the dataset",
                i % per_sample,
                i / per_sample,
                features[i]
            )));
        }
        Self::new(
            features.len(),
            Features::F32(features),
            feature_shape,
            labels,
            classes,
        )
    }

    /// A dataset from a batch-first tensor `[N, ...]` of features and N labels.
    pub fn from_tensor(features: Tensor, labels: Vec<usize>, classes: usize) -> Result<Self> {
        if features.ndim() == 0 {
            return Err(invalid(
                "features must be batch first, [N, ...]; got a scalar".into(),
            ));
        }
        let shape = features.shape()[1..].to_vec();
        let values = if features.is_standard_layout() {
            features.into_raw_vec_and_offset().0
        } else {
            features.iter().copied().collect()
        };
        Self::from_f32(values, &shape, labels, classes)
    }

    fn new(
        values: usize,
        features: Features,
        feature_shape: &[usize],
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self> {
        let feature_len: usize = feature_shape.iter().product();
        if feature_len == 0 {
            return Err(invalid(format!(
                "feature shape {feature_shape:?} has no elements"
            )));
        }
        if values != labels.len() * feature_len {
            return Err(invalid(format!(
                "{} labels with feature shape {feature_shape:?} need {} feature values, got {values}",
                labels.len(),
                labels.len() * feature_len
            )));
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(invalid(format!(
                "label {label} at position {index} is not below the class count {classes}"
            )));
        }
        Ok(Dataset {
            features,
            feature_shape: feature_shape.to_vec(),
            feature_len,
            labels,
            classes,
        })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
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
    /// holds [`Dataset::feature_len`] values.
    pub fn with_feature_shape(mut self, shape: &[usize]) -> Result<Self> {
        let len: usize = shape.iter().product();
        if len != self.feature_len {
            return Err(invalid(format!(
                "feature shape {shape:?} holds {len} values, but each sample has {} (shape {:?}); \
                 fix: give a shape whose sizes multiply to {}",
                self.feature_len, self.feature_shape, self.feature_len
            )));
        }
        self.feature_shape = shape.to_vec();
        Ok(self)
    }

    /// The number of classes; every label is below it.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The class index of each sample.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The raw pixels, sample after sample, if this dataset stores `u8` pixels.
    pub fn pixels(&self) -> Option<&[u8]> {
        match &self.features {
            Features::U8(p) => Some(p),
            Features::F32(_) => None,
        }
    }

    /// The samples at `indices`, in that order, as a new dataset. Fails if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(invalid(format!(
                "subset index {bad} is out of range for {} samples",
                self.len()
            )));
        }
        let f = self.feature_len;
        let features = match &self.features {
            Features::U8(p) => Features::U8(gather(p, indices, f)),
            Features::F32(v) => Features::F32(gather(v, indices, f)),
        };
        Ok(Dataset {
            features,
            feature_shape: self.feature_shape.clone(),
            feature_len: f,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        })
    }

    /// Splits off `n_valid` randomly chosen samples for validation: returns `(train, valid)`.
    /// The shuffle comes from `rng`, so the same seed gives the same split. MNIST's usual split is
    /// `split_valid(10_000, ..)` (50,000 / 10,000), as in the seed notebook.
    pub fn split_valid(&self, n_valid: usize, rng: &mut StdRng) -> Result<(Dataset, Dataset)> {
        if n_valid > self.len() {
            return Err(DataError::SplitTooLarge {
                n_valid,
                len: self.len(),
            }
            .into());
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(rng);
        let (valid, train) = order.split_at(n_valid);
        Ok((self.subset(train)?, self.subset(valid)?))
    }

    /// Fills `batch` with the samples at `indices`: features into `batch.images` (shape
    /// `[indices.len(), feature_shape...]`, pixels divided by 255) and labels into `batch.labels`.
    /// The buffers are reused; `images` is reallocated only if it cannot hold the new shape.
    ///
    /// # Panics
    /// If an index is out of range (indices come from the program, not from a file).
    pub fn fill_batch(&self, indices: &[usize], batch: &mut Batch) {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            panic!(
                "Dataset::fill_batch: index {bad} out of range for {} samples",
                self.len()
            );
        }
        let out = ensure_shape(&mut batch.images, indices.len(), &self.feature_shape);
        let f = self.feature_len;
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
        batch.labels.clear();
        batch.labels.extend(indices.iter().map(|&i| self.labels[i]));
    }

    /// All samples as one tensor `[N, feature_shape...]` (pixels divided by 255), in order.
    pub fn to_tensor(&self) -> Tensor {
        let all: Vec<usize> = (0..self.len()).collect();
        let mut batch = Batch::new();
        self.fill_batch(&all, &mut batch);
        batch.images
    }

    /// Mini-batches of `batch_size` samples, reshuffled for every epoch by an RNG seeded with
    /// `seed` and the epoch's index. See [`Batches`].
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn batches(&self, batch_size: usize, seed: u64) -> Batches<'_> {
        Batches::new(self, batch_size, Some(seed))
    }

    /// Mini-batches of `batch_size` samples in dataset order, the same every epoch: for
    /// evaluation.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn batches_in_order(&self, batch_size: usize) -> Batches<'_> {
        Batches::new(self, batch_size, None)
    }
}

fn invalid(message: String) -> crate::error::Error {
    DataError::Invalid(message).into()
}

fn gather<T: Copy>(values: &[T], indices: &[usize], f: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(indices.len() * f);
    for &i in indices {
        out.extend_from_slice(&values[i * f..(i + 1) * f]);
    }
    out
}

/// Makes `t` a standard-layout tensor of shape `[n, feature_shape...]` and returns its elements.
/// Keeps `t` as it is when it already has that shape (so a steady stream of batches allocates
/// nothing); otherwise reuses its allocation when it is large enough (a last partial batch, then
/// the next epoch's full one, cost no allocation).
fn ensure_shape<'t>(t: &'t mut Tensor, n: usize, feature_shape: &[usize]) -> &'t mut [f32] {
    let fits = t.is_standard_layout()
        && t.ndim() == 1 + feature_shape.len()
        && t.shape()[0] == n
        && &t.shape()[1..] == feature_shape;
    if !fits {
        let mut shape = Vec::with_capacity(1 + feature_shape.len());
        shape.push(n);
        shape.extend_from_slice(feature_shape);
        let (mut values, _) = std::mem::take(t).into_raw_vec_and_offset();
        values.clear();
        values.resize(shape.iter().product(), 0.0);
        *t = Tensor::from_shape_vec(IxDyn(&shape), values).expect("length matches the shape");
    }
    t.as_slice_mut().expect("standard layout")
}

/// One-hot encodes class indices: `[labels.len(), classes]`, 1.0 at each label, 0.0 elsewhere.
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
    use crate::rng::seeded;

    /// `n` 2x3 "images" whose pixels encode the sample index, labels `i % classes`.
    fn pixels(n: usize, classes: usize) -> Dataset {
        let px: Vec<u8> = (0..n * 6).map(|k| (k / 6 * 10 + k % 6) as u8).collect();
        Dataset::from_u8(px, &[2, 3], (0..n).map(|i| i % classes).collect(), classes).unwrap()
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
            (4, &[2, 2][..], 4, 2)
        );
    }

    #[test]
    fn fill_batch_normalises_pixels_and_picks_rows() {
        let px: Vec<u8> = vec![0, 255, 51, 10, 20, 30];
        let d = Dataset::from_u8(px, &[3], vec![1, 0], 2).unwrap();
        let mut b = Batch::new();
        d.fill_batch(&[1, 0], &mut b);
        assert_eq!(b.images.shape(), &[2, 3]);
        let v: Vec<f32> = b.images.iter().copied().collect();
        assert_eq!(v, vec![10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0, 0.0, 1.0, 0.2]);
        assert_eq!(b.labels, vec![0, 1]);
        assert_eq!(d.to_tensor().shape(), &[2, 3]);
    }

    #[test]
    fn f32_features_are_copied_unchanged() {
        let d = Dataset::from_f32(vec![-1.5, 2.0, 3.25, 7.0], &[2], vec![0, 1], 2).unwrap();
        let mut b = Batch::new();
        d.fill_batch(&[1], &mut b);
        assert_eq!(b.images.as_slice().unwrap(), &[3.25, 7.0]);
    }

    #[test]
    fn split_is_seeded_disjoint_and_checked() {
        let d = pixels(25, 5);
        let (t1, v1) = d.split_valid(12, &mut seeded(7)).unwrap();
        let (t2, v2) = d.split_valid(12, &mut seeded(7)).unwrap();
        assert_eq!((t1.len(), v1.len()), (13, 12));
        assert_eq!((&t1, &v1), (&t2, &v2));
        let (_, v3) = d.split_valid(12, &mut seeded(8)).unwrap();
        assert_ne!(v1, v3);
        // Every sample lands in exactly one part: the first pixel of each row is 10 * index.
        let mut ids: Vec<u8> = t1
            .pixels()
            .unwrap()
            .iter()
            .chain(v1.pixels().unwrap())
            .step_by(6)
            .copied()
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..25).map(|i| (i * 10) as u8).collect::<Vec<_>>());
        assert!(d.split_valid(25, &mut seeded(1)).is_ok());
        let err = d.split_valid(26, &mut seeded(1)).unwrap_err().to_string();
        assert!(err.contains("26") && err.contains("25"), "{err}");
    }

    #[test]
    fn one_hot_rows() {
        let t = one_hot(&[2, 0], 3);
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.as_slice().unwrap(), &[0., 0., 1., 1., 0., 0.]);
    }
}
