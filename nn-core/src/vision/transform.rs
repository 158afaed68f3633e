//! [`Transform`]: what an augmentation or a normalisation does to one image sample, and
//! [`Compose`], a list of them applied in order (torchvision's `transforms.Compose`).

use super::image::{Image, ImageShape};
use crate::rng::StdRng;

/// A change to one image sample, in place: an augmentation draws its parameters from `rng`, a
/// fixed transform (a normalisation) ignores it.
///
/// The caller seeds `rng` from (seed, epoch, sample index) alone
/// ([`crate::data::Transformed`] does), so a transform that draws only from it gives the same bits
/// on any thread count and in any batch order. Writing one is a short file: a mirror image
/// upside down with probability `p`:
///
/// ```
/// use nn_core::rand::Rng as _;
/// use nn_core::vision::{Image, Transform};
/// use nn_core::StdRng;
///
/// struct RandomVerticalFlip(f32);
///
/// impl Transform for RandomVerticalFlip {
///     fn apply(&self, image: &mut Image<'_>, rng: &mut StdRng) {
///         if rng.random::<f32>() < self.0 {
///             let shape = image.shape();
///             let (width, rows) = (shape.width, shape.height);
///             // Swap row r with row rows - 1 - r in every plane.
///             for plane in image.pixels_mut().chunks_exact_mut(shape.plane()) {
///                 for r in 0..rows / 2 {
///                     let (top, bottom) = plane.split_at_mut((rows - 1 - r) * width);
///                     top[r * width..(r + 1) * width].swap_with_slice(&mut bottom[..width]);
///                 }
///             }
///         }
///     }
/// }
/// ```
pub trait Transform: Send + Sync {
    /// Transforms `image` in place, drawing any randomness from `rng`.
    fn apply(&self, image: &mut Image<'_>, rng: &mut StdRng);

    /// `Err` with the reason when the transform cannot apply to images of `shape` (a
    /// normalisation with another number of channels); checked before any batch is filled.
    fn check(&self, shape: ImageShape) -> Result<(), String> {
        let _ = shape;
        Ok(())
    }

    /// The transform and its settings, for a run's log: `RandomAffine(degrees=10, ...)`. Its type's
    /// name unless overridden.
    fn describe(&self) -> String {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full).to_string()
    }
}

/// Transforms applied one after the other, in the order they were added, all drawing from the
/// same per-sample RNG (torchvision's `transforms.Compose`).
///
/// ```
/// use nn_core::vision::{Compose, RandomAffine, RandomCrop, Transform};
/// let augment = Compose::new()
///     .then(RandomAffine::new().degrees(10.0).translate(0.1, 0.1).scale(0.9, 1.1))
///     .then(RandomCrop::new(2));
/// assert_eq!(augment.len(), 2);
/// assert!(augment.describe().starts_with("Compose[RandomAffine(degrees=10"));
/// ```
#[derive(Default)]
pub struct Compose(Vec<Box<dyn Transform>>);

impl Compose {
    /// No transforms: the identity.
    pub fn new() -> Self {
        Compose(Vec::new())
    }

    /// These transforms, then `transform`.
    pub fn then(mut self, transform: impl Transform + 'static) -> Self {
        self.push(transform);
        self
    }

    /// Adds `transform` at the end.
    pub fn push(&mut self, transform: impl Transform + 'static) {
        self.0.push(Box::new(transform));
    }

    /// How many transforms there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Box<dyn Transform>>> for Compose {
    fn from(transforms: Vec<Box<dyn Transform>>) -> Self {
        Compose(transforms)
    }
}

impl Transform for Compose {
    fn apply(&self, image: &mut Image<'_>, rng: &mut StdRng) {
        for t in &self.0 {
            t.apply(image, rng);
        }
    }

    fn check(&self, shape: ImageShape) -> Result<(), String> {
        self.0.iter().try_for_each(|t| t.check(shape))
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|t| t.describe()).collect();
        format!("Compose[{}]", parts.join(", "))
    }
}

impl std::fmt::Debug for Compose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A number as a recipe shows it: `10`, `0.1`, `0.9` (no trailing zeros).
pub(crate) fn num(v: f32) -> String {
    format!("{v}")
}
