//! [`Normalize`]: per-channel `(x - mean) / std`, torchvision's `transforms.Normalize`. Fitting
//! the statistics on a training set is `Normalize::fit`, beside the data sources
//! (`data/transformed.rs`).

use super::image::{Image, ImageShape};
use super::transform::{num, Transform};
use crate::rng::StdRng;

/// Subtracts each channel's mean and divides by its standard deviation (torchvision's
/// `Normalize(mean, std)`): applied to every batch, training and evaluation alike.
///
/// ```
/// use nn_core::vision::Normalize;
/// let mnist = Normalize::new([0.1307], [0.3081]); // MNIST's published statistics
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// One mean and one standard deviation per channel.
    ///
    /// # Panics
    /// If the lists differ in length or are empty, a value is not finite, or a deviation is not
    /// above 0.
    pub fn new(mean: impl Into<Vec<f32>>, std: impl Into<Vec<f32>>) -> Self {
        let (mean, std) = (mean.into(), std.into());
        assert!(
            !mean.is_empty() && mean.len() == std.len(),
            "Normalize::new: expected one mean and one std per channel, got {} and {}",
            mean.len(),
            std.len()
        );
        assert!(
            mean.iter().all(|m| m.is_finite()) && std.iter().all(|s| s.is_finite() && *s > 0.0),
            "Normalize::new: expected finite means and deviations above 0, got mean {mean:?}, std {std:?}"
        );
        Normalize { mean, std }
    }

    /// The means, one per channel.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The standard deviations, one per channel.
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// Normalises `pixels`, channel-major `[C, H, W]` with `self.mean().len()` channels.
    pub fn normalize(&self, pixels: &mut [f32]) {
        let plane = pixels.len() / self.mean.len();
        for ((channel, &m), &s) in pixels.chunks_exact_mut(plane).zip(&self.mean).zip(&self.std) {
            for v in channel {
                *v = (*v - m) / s;
            }
        }
    }
}

impl Transform for Normalize {
    fn apply(&self, image: &mut Image<'_>, _: &mut StdRng) {
        self.normalize(image.pixels_mut());
    }

    fn check(&self, shape: ImageShape) -> Result<(), String> {
        if shape.channels != self.mean.len() {
            return Err(format!(
                "Normalize has statistics for {} channels, the images have {}; fix: give one mean \
                 and one std per channel (Normalize::fit computes them from the training set)",
                self.mean.len(),
                shape.channels
            ));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let list = |v: &[f32]| v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", ");
        format!(
            "Normalize(mean=[{}], std=[{}])",
            list(&self.mean),
            list(&self.std)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channel_gets_its_own_statistics() {
        let n = Normalize::new([0.5, 1.0], [0.25, 2.0]);
        let mut px = [0.5, 1.0, 1.0, 5.0];
        n.normalize(&mut px);
        assert_eq!(px, [0.0, 2.0, 0.0, 2.0]);
        assert!(n
            .check(ImageShape::new(3, 1, 1))
            .unwrap_err()
            .contains("for 2 channels, the images have 3"));
        assert_eq!(n.describe(), "Normalize(mean=[0.5, 1], std=[0.25, 2])");
    }

    #[test]
    #[should_panic(expected = "expected finite means and deviations above 0")]
    fn a_zero_deviation_is_refused() {
        let _ = Normalize::new([0.5], [0.0]);
    }
}
