//! [`ElasticDistortion`]: Simard, Steinkraus and Platt's elastic deformation ("Best practices for
//! convolutional neural networks applied to visual document analysis", ICDAR 2003), the
//! distortion behind the best MNIST results of the 2000s.

use super::image::{warp_bilinear, Image};
use super::transform::{num, Transform};
use crate::rng::StdRng;
use rand::Rng as _;

/// Moves every pixel by a smooth random displacement: two fields of uniform noise in `[-1, 1]`
/// per pixel (columns, rows), each smoothed by a Gaussian of deviation `sigma` pixels (zero
/// beyond the border, the kernel cut at 4 `sigma` as scipy's `gaussian_filter`) and scaled by
/// `alpha`; the image is then resampled bilinearly at the displaced points, `fill` beyond the
/// border. Simard et al. used `sigma = 4`, `alpha = 34` on MNIST's 28×28 digits.
#[derive(Clone, Debug, PartialEq)]
pub struct ElasticDistortion {
    alpha: f32,
    sigma: f32,
    fill: f32,
    /// The normalised Gaussian, from its centre outwards: `kernel[k]` weighs a neighbour `k`
    /// pixels away.
    kernel: Vec<f32>,
}

impl ElasticDistortion {
    /// Displacements of strength `alpha` (pixels) smoothed over `sigma` pixels.
    ///
    /// # Panics
    /// Unless `alpha >= 0` and `sigma > 0`, both finite, and `sigma` at most 1000 pixels.
    pub fn new(alpha: f32, sigma: f32) -> Self {
        assert!(
            alpha.is_finite() && alpha >= 0.0,
            "ElasticDistortion::new: expected alpha >= 0, got {alpha}"
        );
        assert!(
            sigma > 0.0 && sigma <= 1000.0,
            "ElasticDistortion::new: expected sigma in (0, 1000] pixels, got {sigma}"
        );
        let radius = (4.0 * sigma + 0.5) as usize;
        let mut kernel: Vec<f32> = (0..=radius)
            .map(|k| (-0.5 * (k as f32 / sigma).powi(2)).exp())
            .collect();
        let total = kernel[0] + 2.0 * kernel[1..].iter().sum::<f32>();
        kernel.iter_mut().for_each(|v| *v /= total);
        ElasticDistortion {
            alpha,
            sigma,
            fill: 0.0,
            kernel,
        }
    }

    /// The value of pixels brought in from beyond the border.
    pub fn fill(mut self, fill: f32) -> Self {
        self.fill = fill;
        self
    }
}

/// Simard et al.'s MNIST setting: `alpha = 34`, `sigma = 4`.
impl Default for ElasticDistortion {
    fn default() -> Self {
        Self::new(34.0, 4.0)
    }
}

impl Transform for ElasticDistortion {
    fn apply(&self, image: &mut Image<'_>, rng: &mut StdRng) {
        let shape = image.shape();
        let (plane, width, height) = (shape.plane(), shape.width, shape.height);
        let (pixels, scratch) = image.with_scratch(3 * plane + shape.len());
        let (dx, rest) = scratch.split_at_mut(plane);
        let (dy, rest) = rest.split_at_mut(plane);
        let (tmp, copy) = rest.split_at_mut(plane);
        for field in [&mut *dx, &mut *dy] {
            for v in field.iter_mut() {
                *v = rng.random_range(-1.0..=1.0);
            }
            smooth(field, tmp, width, height, &self.kernel, self.alpha);
        }
        copy.copy_from_slice(pixels);
        warp_bilinear(copy, pixels, shape, self.fill, |x, y| {
            let i = y * width + x;
            (x as f32 + dx[i], y as f32 + dy[i])
        });
    }

    fn describe(&self) -> String {
        format!(
            "ElasticDistortion(alpha={}, sigma={}, fill={})",
            num(self.alpha),
            num(self.sigma),
            num(self.fill)
        )
    }
}

/// Convolves the `width` × `height` `field` with the separable Gaussian `kernel` (zero beyond the
/// border), in place through `tmp`, and multiplies it by `scale`.
fn smooth(field: &mut [f32], tmp: &mut [f32], width: usize, height: usize, kernel: &[f32], scale: f32) {
    let r = kernel.len() - 1;
    // Along rows into `tmp`.
    for y in 0..height {
        let row = &field[y * width..(y + 1) * width];
        for x in 0..width {
            let mut v = kernel[0] * row[x];
            for (k, &g) in kernel.iter().enumerate().skip(1).take(r) {
                let left = if x >= k { row[x - k] } else { 0.0 };
                let right = if x + k < width { row[x + k] } else { 0.0 };
                v += g * (left + right);
            }
            tmp[y * width + x] = v;
        }
    }
    // Along columns back into `field`.
    for y in 0..height {
        for x in 0..width {
            let mut v = kernel[0] * tmp[y * width + x];
            for (k, &g) in kernel.iter().enumerate().skip(1).take(r) {
                let up = if y >= k { tmp[(y - k) * width + x] } else { 0.0 };
                let down = if y + k < height {
                    tmp[(y + k) * width + x]
                } else {
                    0.0
                };
                v += g * (up + down);
            }
            field[y * width + x] = v * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use crate::vision::ImageShape;

    #[test]
    fn the_kernel_sums_to_one_and_smoothing_keeps_a_constant_inside() {
        let e = ElasticDistortion::new(1.0, 1.0);
        assert_eq!(e.kernel.len(), 5);
        assert!((e.kernel[0] + 2.0 * e.kernel[1..].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let (w, h) = (12, 12);
        let mut field = vec![1.0; w * h];
        let mut tmp = vec![0.0; w * h];
        smooth(&mut field, &mut tmp, w, h, &e.kernel, 2.0);
        // Far from the border a constant stays (times the scale); at the corner, zero padding
        // leaves about a quarter of it.
        assert!((field[6 * w + 6] - 2.0).abs() < 1e-5, "{}", field[6 * w + 6]);
        assert!(field[0] < 1.0 && field[0] > 0.3, "{}", field[0]);
    }

    #[test]
    fn no_strength_is_the_identity_and_a_distortion_is_smooth_and_seeded() {
        let shape = ImageShape::new(1, 28, 28);
        let original: Vec<f32> = (0..784).map(|i| (i % 28) as f32 / 27.0).collect();
        let mut scratch = Vec::new();
        let mut px = original.clone();
        ElasticDistortion::new(0.0, 4.0).apply(&mut Image::new(&mut px, shape, &mut scratch), &mut seeded(1));
        assert_eq!(px, original);
        let run = |seed| {
            let mut px = original.clone();
            let mut scratch = Vec::new();
            ElasticDistortion::default()
                .apply(&mut Image::new(&mut px, shape, &mut scratch), &mut seeded(seed));
            px
        };
        let (a, b, c) = (run(5), run(5), run(6));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // A horizontal ramp (1/27 a column) moved by smooth displacements: the change is
        // visible, and away from the border (where black comes in) neighbours stay close.
        let change: f32 = a.iter().zip(&original).map(|(x, y)| (x - y).abs()).sum::<f32>() / 784.0;
        assert!(change > 0.005, "{change}");
        let inside = |i: usize| (6..22).contains(&(i % 28)) && (6..22).contains(&(i / 28));
        let jump = (0..783)
            .filter(|&i| inside(i))
            .map(|i| (a[i + 1] - a[i]).abs())
            .fold(0.0, f32::max);
        assert!(jump < 0.2, "{jump}");
    }
}
