//! [`RandomHorizontalFlip`]: a mirror image, left to right, with a probability.

use super::image::Image;
use super::transform::{num, Transform};
use crate::rng::StdRng;
use rand::Rng as _;

/// Mirrors the image left to right with probability `p` (torchvision's `RandomHorizontalFlip`).
/// Not for digits or text, whose mirror images are other symbols or none: no recipe here turns
/// it on by default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomHorizontalFlip {
    p: f32,
}

impl RandomHorizontalFlip {
    /// Flips with probability `p`.
    ///
    /// # Panics
    /// If `p` is outside `[0, 1]`.
    pub fn new(p: f32) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "RandomHorizontalFlip::new: expected a probability in [0, 1], got {p}"
        );
        RandomHorizontalFlip { p }
    }
}

/// Flips half the samples, as torchvision's default.
impl Default for RandomHorizontalFlip {
    fn default() -> Self {
        Self::new(0.5)
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, image: &mut Image<'_>, rng: &mut StdRng) {
        // Drawn whatever `p` is, so that transforms after this one see the same stream.
        if rng.random::<f32>() < self.p {
            let width = image.shape().width;
            for row in image.pixels_mut().chunks_exact_mut(width) {
                row.reverse();
            }
        }
    }

    fn describe(&self) -> String {
        format!("RandomHorizontalFlip(p={})", num(self.p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use crate::vision::ImageShape;

    #[test]
    fn flips_every_row_of_every_channel_or_none() {
        let shape = ImageShape::new(2, 2, 3);
        let original: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let mut scratch = Vec::new();
        let mut always = original.clone();
        RandomHorizontalFlip::new(1.0)
            .apply(&mut Image::new(&mut always, shape, &mut scratch), &mut seeded(1));
        assert_eq!(always, [2., 1., 0., 5., 4., 3., 8., 7., 6., 11., 10., 9.]);
        let mut never = original.clone();
        RandomHorizontalFlip::new(0.0)
            .apply(&mut Image::new(&mut never, shape, &mut scratch), &mut seeded(1));
        assert_eq!(never, original);
        // About half of many seeds flip.
        let flipped = (0..1000)
            .filter(|&s| {
                let mut px = original.clone();
                RandomHorizontalFlip::default()
                    .apply(&mut Image::new(&mut px, shape, &mut scratch), &mut seeded(s));
                px != original
            })
            .count();
        assert!((430..570).contains(&flipped), "{flipped}");
    }
}
