//! [`RandomCrop`]: pad the image on every side, then cut it back to its size at a random offset
//! (torchvision's `RandomCrop(size, padding)` with the size of the input): a shift by whole
//! pixels, the uncovered border filled.

use super::image::Image;
use super::transform::{num, Transform};
use crate::rng::StdRng;
use rand::Rng as _;

/// Pads the image by `padding` pixels of `fill` on every side and cuts out an image of the
/// original size at an offset drawn uniformly from `0..=2 * padding` along each axis: the image
/// moves by up to `padding` whole pixels in each direction, no interpolation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomCrop {
    padding: usize,
    fill: f32,
}

impl RandomCrop {
    /// Shifts of up to `padding` pixels, filled with 0.
    pub fn new(padding: usize) -> Self {
        RandomCrop { padding, fill: 0.0 }
    }

    /// The value of the padding.
    pub fn fill(mut self, fill: f32) -> Self {
        self.fill = fill;
        self
    }
}

impl Transform for RandomCrop {
    fn apply(&self, image: &mut Image<'_>, rng: &mut StdRng) {
        // i64 draws (rand draws no isize, whose width varies between platforms).
        let p = self.padding.min(1 << 30) as i64;
        let dx = rng.random_range(-p..=p) as isize;
        let dy = rng.random_range(-p..=p) as isize;
        let shape = image.shape();
        let (w, h) = (shape.width as isize, shape.height as isize);
        let fill = self.fill;
        let (pixels, copy) = image.with_scratch(shape.len());
        copy.copy_from_slice(pixels);
        for (dst, src) in pixels
            .chunks_exact_mut(shape.plane())
            .zip(copy.chunks_exact(shape.plane()))
        {
            for y in 0..h {
                let row = &mut dst[(y * w) as usize..((y + 1) * w) as usize];
                let sy = y + dy;
                if !(0..h).contains(&sy) {
                    row.fill(fill);
                    continue;
                }
                // Output column x reads column x + dx: the part of the row that lands inside.
                let x0 = (-dx).clamp(0, w);
                let x1 = (w - dx).clamp(0, w);
                row[..x0 as usize].fill(fill);
                row[x1 as usize..].fill(fill);
                if x1 > x0 {
                    let from = (sy * w + x0 + dx) as usize;
                    row[x0 as usize..x1 as usize].copy_from_slice(&src[from..from + (x1 - x0) as usize]);
                }
            }
        }
    }

    fn describe(&self) -> String {
        format!("RandomCrop(padding={}, fill={})", self.padding, num(self.fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use crate::vision::ImageShape;

    #[test]
    fn every_crop_is_the_image_shifted_by_whole_pixels() {
        let shape = ImageShape::new(2, 4, 5);
        let original: Vec<f32> = (1..=40).map(|i| i as f32).collect();
        let mut scratch = Vec::new();
        let mut shifts = std::collections::HashSet::new();
        for seed in 0..200 {
            let mut px = original.clone();
            RandomCrop::new(2)
                .fill(-1.0)
                .apply(&mut Image::new(&mut px, shape, &mut scratch), &mut seeded(seed));
            // Recover the shift from where pixel 1 of plane 0 or its neighbours went: compare
            // with every shift and keep the one that matches exactly.
            let found: Vec<(isize, isize)> = (-2..=2)
                .flat_map(|dx| (-2..=2).map(move |dy| (dx, dy)))
                .filter(|&(dx, dy)| {
                    (0..40).all(|i| {
                        let (c, y, x) = ((i / 20) as isize, (i % 20 / 5) as isize, (i % 5) as isize);
                        let (sx, sy) = (x + dx, y + dy);
                        let want = if (0..5).contains(&sx) && (0..4).contains(&sy) {
                            original[(c * 20 + sy * 5 + sx) as usize]
                        } else {
                            -1.0
                        };
                        px[i as usize] == want
                    })
                })
                .collect();
            assert_eq!(found.len(), 1, "seed {seed}: {px:?}");
            shifts.insert(found[0]);
        }
        assert_eq!(shifts.len(), 25, "all 5 x 5 offsets are drawn");
        let mut px = original.clone();
        RandomCrop::new(0).apply(&mut Image::new(&mut px, shape, &mut scratch), &mut seeded(1));
        assert_eq!(px, original);
    }

    #[test]
    fn padding_wider_than_the_image_fills_it() {
        let shape = ImageShape::new(1, 2, 2);
        let mut scratch = Vec::new();
        for seed in 0..50 {
            let mut px = vec![1.0; 4];
            RandomCrop::new(9).apply(&mut Image::new(&mut px, shape, &mut scratch), &mut seeded(seed));
            assert!(px.iter().all(|&v| v == 0.0 || v == 1.0));
        }
    }
}
