//! [`Transformed`]: a data source of images whose training batches are augmented and whose
//! every batch is normalised as it is filled, on nn's threads; and [`Normalize::fit`], the
//! per-channel statistics of a training set.

use super::batch::Batch;
use super::batches::Batches;
use super::error::DataError;
use super::source::{DataSource, FillContext};
use super::targets::TargetKind;
use crate::error::Result;
use crate::rng::{seeded, DEFAULT_SEED};
use crate::vision::{Compose, Image, ImageShape, Normalize, Transform};
use std::sync::{Mutex, PoisonError};

/// The images of `source` (`[C, H, W]` samples), with an augmentation applied to training batches
/// only and a normalisation to every batch, as the batch is filled (PyTorch's transforms inside
/// a `Dataset`; Keras' preprocessing layers).
///
/// The augmentation of a sample is drawn from an RNG seeded with (seed, epoch, sample index)
/// alone: a run repeats bit for bit, on any number of threads and in any batch order, and every
/// epoch sees each image differently. The work is split over two of nn's threads
/// ([`crate::set_num_threads`]) and uses scratch buffers kept between batches: a steady training
/// step allocates nothing here.
///
/// ```
/// use nn_core::data::{Dataset, Transformed};
/// use nn_core::vision::{Compose, Normalize, RandomAffine};
/// # let train = Dataset::from_u8((0..128).map(|i| i as u8).collect(), &[1, 8, 8], vec![0, 1], 2)?;
/// let augment = Compose::new().then(RandomAffine::new().degrees(10.0).translate(0.1, 0.1).scale(0.9, 1.1));
/// let normalize = Normalize::fit(&train)?;
/// let train = Transformed::new(&train)?.augment(augment)?.normalize(normalize)?.seed(7);
/// # Ok::<(), nn_core::Error>(())
/// ```
pub struct Transformed<S> {
    source: S,
    shape: ImageShape,
    augment: Compose,
    normalize: Option<Normalize>,
    seed: u64,
    /// One scratch buffer per half of a batch (each half on its own thread).
    scratch: [Mutex<Vec<f32>>; 2],
}

impl<S: DataSource> Transformed<S> {
    /// `source` unchanged until an augmentation or a normalisation is added; its samples must be
    /// images, `[C, H, W]`.
    pub fn new(source: S) -> Result<Self> {
        let Some(shape) = ImageShape::of_sample(source.input_shape()) else {
            return Err(DataError::Invalid(format!(
                "{}: image transforms need samples of shape [C, H, W], this source's are {:?}; \
                 fix: give the dataset an image shape (Dataset::with_feature_shape(&[1, 28, 28]))",
                source.name(),
                source.input_shape()
            ))
            .into());
        };
        Ok(Transformed {
            source,
            shape,
            augment: Compose::new(),
            normalize: None,
            seed: DEFAULT_SEED,
            scratch: Default::default(),
        })
    }

    /// Applies `transform` to the samples of training batches, after the augmentations added
    /// before. An error if it cannot apply to these images.
    pub fn augment(mut self, transform: impl Transform + 'static) -> Result<Self> {
        self.check(&transform)?;
        self.augment.push(transform);
        Ok(self)
    }

    /// Normalises every batch (training and evaluation), after any augmentation. An error if the
    /// statistics are for another number of channels.
    pub fn normalize(mut self, normalize: Normalize) -> Result<Self> {
        self.check(&normalize)?;
        self.normalize = Some(normalize);
        Ok(self)
    }

    /// The seed the augmentations are drawn from, with the epoch and the sample index
    /// (default [`DEFAULT_SEED`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The source it transforms.
    pub fn inner(&self) -> &S {
        &self.source
    }

    /// The augmentations, in order.
    pub fn augmentation(&self) -> &Compose {
        &self.augment
    }

    /// The normalisation, if any.
    pub fn normalization(&self) -> Option<&Normalize> {
        self.normalize.as_ref()
    }

    /// Whether a batch filled in `context` is augmented: a training batch, with augmentations.
    fn augments(&self, context: FillContext) -> bool {
        context.training && !self.augment.is_empty()
    }

    fn check(&self, transform: &dyn Transform) -> Result<()> {
        transform.check(self.shape).map_err(|reason| {
            DataError::Invalid(format!(
                "{}: {}: {reason}",
                self.source.name(),
                transform.describe()
            ))
            .into()
        })
    }

    /// Transforms the samples in `pixels` (one after another), whose indices are `indices`.
    fn transform(
        &self,
        pixels: &mut [f32],
        indices: &[usize],
        context: FillContext,
        scratch: &Mutex<Vec<f32>>,
    ) {
        let augment = self.augments(context);
        let mut scratch = scratch.lock().unwrap_or_else(PoisonError::into_inner);
        for (sample, &index) in pixels.chunks_exact_mut(self.shape.len()).zip(indices) {
            let mut image = Image::new(sample, self.shape, &mut scratch);
            if augment {
                let mut rng = seeded(sample_seed(self.seed, context.epoch, index));
                self.augment.apply(&mut image, &mut rng);
            }
            if let Some(n) = &self.normalize {
                n.normalize(image.pixels_mut());
            }
        }
    }
}

/// The seed of one sample's augmentation: (seed, epoch, index) mixed by splitmix64's finaliser
/// at each step, so that neighbouring epochs and indices give unrelated streams.
fn sample_seed(seed: u64, epoch: usize, index: usize) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    mix(mix(mix(seed) ^ epoch as u64) ^ index as u64)
}

impl<S: DataSource> DataSource for Transformed<S> {
    fn len(&self) -> usize {
        self.source.len()
    }

    fn input_shape(&self) -> &[usize] {
        self.source.input_shape()
    }

    fn target_kind(&self) -> TargetKind<'_> {
        self.source.target_kind()
    }

    /// The source's fill, then the transforms, the batch split in two halves over two threads
    /// when nn has more than one.
    fn fill(&self, indices: &[usize], batch: &mut Batch, context: FillContext) -> Result<()> {
        self.source.fill(indices, batch, context)?;
        if !self.augments(context) && self.normalize.is_none() {
            return Ok(());
        }
        let pixels = batch.inputs_mut(
            indices.len(),
            &[self.shape.channels, self.shape.height, self.shape.width],
        );
        let [first, second] = &self.scratch;
        if indices.len() >= 2 && crate::linalg::num_threads() > 1 {
            let half = indices.len() / 2;
            let (p0, p1) = pixels.split_at_mut(half * self.shape.len());
            let (i0, i1) = indices.split_at(half);
            crate::threads::both(
                || self.transform(p0, i0, context, first),
                || self.transform(p1, i1, context, second),
            );
        } else {
            self.transform(pixels, indices, context, first);
        }
        Ok(())
    }

    fn name(&self) -> String {
        format!("Transformed({})", self.source.name())
    }
}

impl Normalize {
    /// The per-channel mean and (population) standard deviation of the inputs of `source`, a
    /// training set of `[C, H, W]` images as its batches fill them (evaluation batches: no
    /// augmentation), for `(x - mean) / std`. Computed in f64 over every pixel.
    ///
    /// An error if the samples are not images, the source is empty, or a channel is constant
    /// (its deviation 0).
    pub fn fit(source: &dyn DataSource) -> Result<Normalize> {
        let name = source.name();
        let Some(shape) = ImageShape::of_sample(source.input_shape()) else {
            return Err(DataError::Invalid(format!(
                "{name}: Normalize::fit needs samples of shape [C, H, W], got {:?}",
                source.input_shape()
            ))
            .into());
        };
        let c = shape.channels;
        let (mut sum, mut sum_sq, mut count) = (vec![0f64; c], vec![0f64; c], 0usize);
        let mut batches = Batches::new(source, 256);
        while let Some(batch) = batches.next_batch()? {
            let pixels = batch
                .inputs
                .as_slice()
                .expect("a filled batch is in standard layout");
            for sample in pixels.chunks_exact(shape.len()) {
                for (ch, plane) in sample.chunks_exact(shape.plane()).enumerate() {
                    for &v in plane {
                        sum[ch] += f64::from(v);
                        sum_sq[ch] += f64::from(v) * f64::from(v);
                    }
                }
                count += 1;
            }
        }
        if count == 0 {
            return Err(DataError::Invalid(format!(
                "{name}: Normalize::fit needs at least one sample, the source is empty"
            ))
            .into());
        }
        let n = (count * shape.plane()) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std: Vec<f64> = sum_sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| (q / n - m * m).max(0.0).sqrt())
            .collect();
        if let Some(ch) = std.iter().position(|&s| (s as f32) <= 0.0) {
            return Err(DataError::Invalid(format!(
                "{name}: channel {ch} has the same value {} in every pixel, so it cannot be scaled to \
                 deviation 1; fix: leave normalisation off, or give Normalize::new a deviation",
                mean[ch]
            ))
            .into());
        }
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        Ok(Normalize::new(f32s(mean), f32s(std)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Targets};
    use crate::vision::RandomAffine;

    /// `n` 1x6x6 images with a bright 2x2 square at a place that depends on the index.
    fn squares(n: usize) -> Dataset {
        let mut px = vec![0u8; n * 36];
        for i in 0..n {
            let (x, y) = (1 + i % 3, 1 + i / 3 % 3);
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                px[i * 36 + (y + dy) * 6 + x + dx] = 255;
            }
        }
        Dataset::from_u8(px, &[1, 6, 6], (0..n).map(|i| i % 2).collect(), 2).unwrap()
    }

    fn fill(source: &dyn DataSource, indices: &[usize], context: FillContext) -> Vec<u32> {
        let mut b = Batch::new();
        source.fill(indices, &mut b, context).unwrap();
        b.inputs.iter().map(|v| v.to_bits()).collect()
    }

    fn augmented(data: &Dataset) -> Transformed<&Dataset> {
        Transformed::new(data)
            .unwrap()
            .augment(
                RandomAffine::new()
                    .degrees(20.0)
                    .translate(0.2, 0.2)
                    .scale(0.8, 1.2),
            )
            .unwrap()
            .seed(3)
    }

    #[test]
    fn augmentation_depends_on_seed_epoch_and_index_only_and_spares_evaluation() {
        let data = squares(10);
        let t = augmented(&data);
        let plain = fill(&data, &[4, 7], FillContext::eval());
        assert_eq!(
            fill(&t, &[4, 7], FillContext::eval()),
            plain,
            "evaluation batches are untouched"
        );
        let a = fill(&t, &[4, 7], FillContext::train(2));
        assert_ne!(a, plain);
        // The same sample in another batch, another position, another order: the same bits.
        let b = fill(&t, &[7, 1, 4], FillContext::train(2));
        assert_eq!(&a[..36], &b[72..]);
        assert_eq!(&a[36..], &b[..36]);
        assert_ne!(
            fill(&t, &[4, 7], FillContext::train(3)),
            a,
            "each epoch draws anew"
        );
        let other_seed = augmented(&data).seed(4);
        assert_ne!(fill(&other_seed, &[4, 7], FillContext::train(2)), a);
        // Targets pass through.
        let mut batch = Batch::new();
        t.fill(&[4, 7], &mut batch, FillContext::train(0)).unwrap();
        assert!(matches!(batch.targets(), Targets::Classes(&[0, 1])));
    }

    #[test]
    fn one_and_two_threads_give_the_same_bits() {
        let data = squares(64);
        let t = augmented(&data).normalize(Normalize::new([0.1], [0.3])).unwrap();
        let indices: Vec<usize> = (0..64).rev().collect();
        crate::set_num_threads(1);
        let one = fill(&t, &indices, FillContext::train(5));
        crate::set_num_threads(2);
        let two = fill(&t, &indices, FillContext::train(5));
        assert_eq!(one, two);
    }

    #[test]
    fn normalisation_applies_to_every_batch_and_fit_measures_the_training_set() {
        let data = squares(9);
        let n = Normalize::fit(&data).unwrap();
        // 4 of 36 pixels are 1, the rest 0: mean 1/9, deviation sqrt(1/9 - 1/81).
        assert!((n.mean()[0] - 1.0 / 9.0).abs() < 1e-7);
        assert!((n.std()[0] - (1.0f32 / 9.0 - 1.0 / 81.0).sqrt()).abs() < 1e-7);
        let t = Transformed::new(&data).unwrap().normalize(n).unwrap();
        for context in [FillContext::eval(), FillContext::train(1)] {
            let mut b = Batch::new();
            t.fill(&(0..9).collect::<Vec<_>>(), &mut b, context).unwrap();
            let mean = b.inputs.iter().map(|&v| f64::from(v)).sum::<f64>() / b.inputs.len() as f64;
            let var = b.inputs.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / b.inputs.len() as f64;
            assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{mean} {var}");
        }
    }

    #[test]
    fn bad_shapes_and_statistics_are_errors_naming_the_source() {
        let flat = Dataset::from_u8(vec![0; 8], &[4], vec![0, 1], 2).unwrap();
        let err = Transformed::new(&flat).err().unwrap().to_string();
        assert!(
            err.contains("Dataset: image transforms need samples of shape [C, H, W]"),
            "{err}"
        );
        let data = squares(2);
        let err = Transformed::new(&data)
            .unwrap()
            .normalize(Normalize::new([0.5; 3], [0.2; 3]))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("statistics for 3 channels, the images have 1"),
            "{err}"
        );
        let blank = Dataset::from_u8(vec![7; 2 * 36], &[1, 6, 6], vec![0, 1], 2).unwrap();
        let err = Normalize::fit(&blank).unwrap_err().to_string();
        assert!(err.contains("channel 0 has the same value"), "{err}");
        assert_eq!(augmented(&data).name(), "Transformed(Dataset)");
    }

    #[test]
    fn steady_batches_reuse_the_scratch() {
        let data = squares(20);
        let t = augmented(&data);
        let mut batches = t.batches(10, 1);
        batches.next_batch().unwrap();
        let ptrs = t.scratch.each_ref().map(|m| m.lock().unwrap().as_ptr());
        for _ in 0..5 {
            batches.next_batch().unwrap();
        }
        assert_eq!(t.scratch.each_ref().map(|m| m.lock().unwrap().as_ptr()), ptrs);
    }
}
