//! [`RandomAffine`]: a random rotation, scale and translation about the image's centre, applied
//! as one bilinear warp (torchvision's `RandomAffine`, Keras' `ImageDataGenerator` shifts,
//! rotations and zoom).

use super::image::Image;
use super::transform::{num, Transform};
use crate::rng::StdRng;
use rand::Rng as _;

/// A random rotation of up to ± `degrees`, scale in `[scale.0, scale.1]` and translation of up to
/// ± `translate` of the width and height, composed into one affine map about the image's centre
/// and applied with bilinear interpolation (so the image is resampled once, not three times).
/// Pixels brought in from beyond the border are `fill` (0 by default: black).
///
/// Each parameter is drawn uniformly, in this order, for every sample: angle, horizontal shift,
/// vertical shift, scale. `RandomAffine::new()` is the identity until given ranges.
///
/// ```
/// use nn_core::vision::RandomAffine;
/// // The recipe of the best small MNIST CNNs: ±10°, ±10 % shifts, ±10 % zoom.
/// let augment = RandomAffine::new().degrees(10.0).translate(0.1, 0.1).scale(0.9, 1.1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomAffine {
    degrees: f32,
    translate: (f32, f32),
    scale: (f32, f32),
    fill: f32,
}

impl Default for RandomAffine {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomAffine {
    /// No rotation, no shift, scale 1: the identity until ranges are set.
    pub fn new() -> Self {
        RandomAffine {
            degrees: 0.0,
            translate: (0.0, 0.0),
            scale: (1.0, 1.0),
            fill: 0.0,
        }
    }

    /// Rotations drawn from `[-degrees, degrees]`.
    ///
    /// # Panics
    /// If `degrees` is negative or not finite.
    pub fn degrees(mut self, degrees: f32) -> Self {
        assert!(
            degrees.is_finite() && degrees >= 0.0,
            "RandomAffine::degrees: expected a finite angle of at least 0, got {degrees}"
        );
        self.degrees = degrees;
        self
    }

    /// Shifts drawn from `[-x * width, x * width]` columns and `[-y * height, y * height]` rows.
    ///
    /// # Panics
    /// If either fraction is outside `[0, 1]`.
    pub fn translate(mut self, x: f32, y: f32) -> Self {
        for (name, f) in [("x", x), ("y", y)] {
            assert!(
                (0.0..=1.0).contains(&f),
                "RandomAffine::translate: expected fractions in [0, 1], got {name} = {f}"
            );
        }
        self.translate = (x, y);
        self
    }

    /// Scale factors drawn from `[low, high]` (above 1 zooms in).
    ///
    /// # Panics
    /// Unless `0 < low <= high` and both are finite.
    pub fn scale(mut self, low: f32, high: f32) -> Self {
        assert!(
            low > 0.0 && low <= high && high.is_finite(),
            "RandomAffine::scale: expected 0 < low <= high, got {low}..{high}"
        );
        self.scale = (low, high);
        self
    }

    /// The value of pixels brought in from beyond the border.
    pub fn fill(mut self, fill: f32) -> Self {
        self.fill = fill;
        self
    }
}

impl Transform for RandomAffine {
    fn apply(&self, image: &mut Image<'_>, rng: &mut StdRng) {
        let shape = image.shape();
        let angle = rng.random_range(-self.degrees..=self.degrees);
        let tx = rng.random_range(-self.translate.0..=self.translate.0) * shape.width as f32;
        let ty = rng.random_range(-self.translate.1..=self.translate.1) * shape.height as f32;
        let scale = rng.random_range(self.scale.0..=self.scale.1);
        warp_affine(image, angle, (tx, ty), scale, self.fill);
    }

    fn describe(&self) -> String {
        format!(
            "RandomAffine(degrees={}, translate=({}, {}), scale=({}, {}), fill={})",
            num(self.degrees),
            num(self.translate.0),
            num(self.translate.1),
            num(self.scale.0),
            num(self.scale.1),
            num(self.fill)
        )
    }
}

/// Rotates `image` by `degrees` counter-clockwise (as seen, rows running down; torchvision's
/// sense), scales it by `scale` about its centre and shifts it by `shift` = (columns, rows), in
/// one bilinear warp.
fn warp_affine(image: &mut Image<'_>, degrees: f32, shift: (f32, f32), scale: f32, fill: f32) {
    let shape = image.shape();
    let (w, h) = (shape.width as f32, shape.height as f32);
    // The output pixel p' reads the input at p = R(-angle) (p' - c - shift) / scale + c, c the
    // centre; R(-angle) in image coordinates is [[cos, -sin], [sin, cos]].
    let (cx, cy) = ((w - 1.0) / 2.0, (h - 1.0) / 2.0);
    let angle = degrees.to_radians();
    let (a, b) = (angle.cos() / scale, angle.sin() / scale);
    image.warp(fill, |x, y| {
        let (u, v) = (x as f32 - cx - shift.0, y as f32 - cy - shift.1);
        (a * u - b * v + cx, b * u + a * v + cy)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use crate::vision::ImageShape;

    /// A 1x5x5 image with one lit pixel at (column, row).
    fn dot(x: usize, y: usize) -> Vec<f32> {
        let mut v = vec![0.0; 25];
        v[y * 5 + x] = 1.0;
        v
    }

    fn apply(t: &RandomAffine, pixels: &mut [f32], seed: u64) {
        let mut scratch = Vec::new();
        let mut image = Image::new(pixels, ImageShape::new(1, 5, 5), &mut scratch);
        t.apply(&mut image, &mut seeded(seed));
    }

    #[test]
    fn the_default_is_the_identity() {
        let mut px = dot(1, 3);
        apply(&RandomAffine::new(), &mut px, 1);
        assert_eq!(px, dot(1, 3));
    }

    /// The pixels above one half, as (column, row).
    fn lit(px: &[f32]) -> Vec<(usize, usize)> {
        (0..25).filter(|&i| px[i] > 0.5).map(|i| (i % 5, i / 5)).collect()
    }

    #[test]
    fn rotation_is_counter_clockwise_and_shifts_move_right_and_down() {
        let warp = |px: &mut Vec<f32>, degrees, shift, scale| {
            let mut scratch = Vec::new();
            let mut image = Image::new(px, ImageShape::new(1, 5, 5), &mut scratch);
            warp_affine(&mut image, degrees, shift, scale, 0.0);
        };
        let mut px = dot(4, 2); // right of the centre
        warp(&mut px, 90.0, (0.0, 0.0), 1.0);
        assert_eq!(
            lit(&px),
            [(2, 0)],
            "a quarter turn takes the right edge to the top"
        );
        let mut px = dot(2, 2);
        warp(&mut px, 0.0, (2.0, -1.0), 1.0);
        assert_eq!(lit(&px), [(4, 1)]);
        // A quarter turn, then a shift: one warp, no blur from two resamplings.
        let mut px = dot(4, 2);
        warp(&mut px, -90.0, (-1.0, 0.0), 1.0);
        assert_eq!(lit(&px), [(1, 4)]);
        assert!((px.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_shift_of_whole_pixels_moves_the_image_and_draws_are_seeded() {
        // translate(0.2, 0) on 5 columns draws shifts in [-1, 1] columns; whatever is drawn, the
        // same seed draws it again and the lit pixel keeps its total weight inside the image.
        let t = RandomAffine::new().translate(0.2, 0.0);
        let (mut a, mut b, mut c) = (dot(2, 2), dot(2, 2), dot(2, 2));
        apply(&t, &mut a, 7);
        apply(&t, &mut b, 7);
        apply(&t, &mut c, 8);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_ne!(a, c);
        assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // Only row 2 is lit: a horizontal shift never moves ink between rows.
        assert!(a.iter().enumerate().all(|(i, &v)| i / 5 == 2 || v == 0.0));
    }

    #[test]
    fn zooming_in_spreads_a_centred_square() {
        // Scale 2 exactly: a 3x3 square at the centre of a 5x5 image fills it.
        let t = RandomAffine::new().scale(2.0, 2.0);
        let mut px = vec![0.0; 25];
        for y in 1..4 {
            for x in 1..4 {
                px[y * 5 + x] = 1.0;
            }
        }
        apply(&t, &mut px, 3);
        assert!(px.iter().all(|&v| v == 1.0), "{px:?}");
    }

    #[test]
    #[should_panic(expected = "RandomAffine::scale: expected 0 < low <= high, got 1.2..0.8")]
    fn a_reversed_range_is_refused() {
        let _ = RandomAffine::new().scale(1.2, 0.8);
    }
}
