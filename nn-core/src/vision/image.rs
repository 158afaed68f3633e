//! [`Image`]: one sample's pixels as a transform sees them, channel-major `[C, H, W]` `f32`, with
//! scratch space reused from sample to sample, and the bilinear resampling every warp shares.

/// The shape of one image sample: channels, rows, columns (`[C, H, W]`, PyTorch's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageShape {
    /// Channels: 1 for grey, 3 for RGB.
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// `channels` planes of `height` × `width` pixels.
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        ImageShape {
            channels,
            height,
            width,
        }
    }

    /// The image shape of a sample shape `[C, H, W]` with no size 0, or `None` for any other.
    pub fn of_sample(shape: &[usize]) -> Option<Self> {
        match *shape {
            [c, h, w] if c > 0 && h > 0 && w > 0 => Some(ImageShape::new(c, h, w)),
            _ => None,
        }
    }

    /// Pixels in one plane: `height * width`.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Values in the image: `channels * height * width`.
    pub fn len(&self) -> usize {
        self.channels * self.plane()
    }

    /// Whether the image holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One image sample being transformed: its `[C, H, W]` pixels (one plane per channel, rows from
/// the top) and a scratch buffer that the caller reuses from sample to sample, so that a
/// transform needs no allocation of its own once warm.
pub struct Image<'a> {
    pixels: &'a mut [f32],
    shape: ImageShape,
    scratch: &'a mut Vec<f32>,
}

impl<'a> Image<'a> {
    /// The image of `shape` held in `pixels`, with `scratch` for transforms to work in.
    ///
    /// # Panics
    /// If `pixels` does not hold exactly `shape.len()` values.
    pub fn new(pixels: &'a mut [f32], shape: ImageShape, scratch: &'a mut Vec<f32>) -> Self {
        assert_eq!(
            pixels.len(),
            shape.len(),
            "Image::new: {shape:?} needs {} values, got {}",
            shape.len(),
            pixels.len()
        );
        Image {
            pixels,
            shape,
            scratch,
        }
    }

    /// Its shape.
    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    /// Its pixels, channel after channel, row after row.
    pub fn pixels(&self) -> &[f32] {
        self.pixels
    }

    /// Its pixels, to change in place.
    pub fn pixels_mut(&mut self) -> &mut [f32] {
        self.pixels
    }

    /// The pixels and a scratch slice of `len` values (whatever they held before: write before
    /// reading), grown only when too small.
    pub fn with_scratch(&mut self, len: usize) -> (&mut [f32], &mut [f32]) {
        if self.scratch.len() < len {
            self.scratch.resize(len, 0.0);
        }
        (self.pixels, &mut self.scratch[..len])
    }

    /// Resamples the image: the pixel at column `x`, row `y` becomes the bilinear interpolation of
    /// the old image at `map(x, y)` = (column, row), in pixel units (pixel centres at whole
    /// numbers). Where the point falls outside, the pixels beyond the border count as `fill`.
    /// `map` is called once per pixel, for every channel at once.
    pub fn warp(&mut self, fill: f32, map: impl FnMut(usize, usize) -> (f32, f32)) {
        let shape = self.shape;
        let (pixels, copy) = self.with_scratch(shape.len());
        copy.copy_from_slice(pixels);
        warp_bilinear(copy, pixels, shape, fill, map);
    }
}

/// Writes into `dst` the image `src` (both of `shape`) resampled as [`Image::warp`] describes.
///
/// # Panics
/// If `src` or `dst` does not hold `shape.len()` values.
pub fn warp_bilinear(
    src: &[f32],
    dst: &mut [f32],
    shape: ImageShape,
    fill: f32,
    mut map: impl FnMut(usize, usize) -> (f32, f32),
) {
    let ImageShape {
        channels,
        height,
        width,
    } = shape;
    assert!(
        src.len() == shape.len() && dst.len() == shape.len(),
        "warp_bilinear: {shape:?} needs {} values, got {} and {}",
        shape.len(),
        src.len(),
        dst.len()
    );
    let plane = shape.plane();
    let (w, h) = (width as isize, height as isize);
    // Points further out than one pixel read only `fill`; clamping keeps the corner arithmetic
    // far from overflow for any input, infinities included.
    let (max_x, max_y) = (width as f32 + 1.0, height as f32 + 1.0);
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = map(x, y);
            let (sx, sy) = (sx.clamp(-2.0, max_x), sy.clamp(-2.0, max_y));
            let (fx0, fy0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - fx0, sy - fy0);
            let (x0, y0) = (fx0 as isize, fy0 as isize);
            let weights = [(1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy];
            let out = y * width + x;
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                let i = y0 as usize * width + x0 as usize;
                for c in 0..channels {
                    let s = &src[c * plane..];
                    dst[c * plane + out] = weights[0] * s[i]
                        + weights[1] * s[i + 1]
                        + weights[2] * s[i + width]
                        + weights[3] * s[i + width + 1];
                }
            } else {
                let corners = [(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)];
                for c in 0..channels {
                    let s = &src[c * plane..(c + 1) * plane];
                    let mut v = 0.0;
                    for (&(cx, cy), &weight) in corners.iter().zip(&weights) {
                        let inside = cx >= 0 && cy >= 0 && cx < w && cy < h;
                        v += weight
                            * if inside {
                                s[cy as usize * width + cx as usize]
                            } else {
                                fill
                            };
                    }
                    dst[c * plane + out] = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(shape: ImageShape) -> Vec<f32> {
        (0..shape.len()).map(|i| i as f32).collect()
    }

    #[test]
    fn the_identity_map_keeps_every_bit_and_a_shift_moves_pixels() {
        let shape = ImageShape::new(2, 3, 4);
        let original = ramp(shape);
        let mut pixels = original.clone();
        let mut scratch = Vec::new();
        let mut image = Image::new(&mut pixels, shape, &mut scratch);
        image.warp(-1.0, |x, y| (x as f32, y as f32));
        assert_eq!(image.pixels(), &original[..]);
        // One column to the right: each pixel reads its left neighbour, the first column `fill`.
        image.warp(-1.0, |x, y| (x as f32 - 1.0, y as f32));
        let shifted: Vec<f32> = (0..shape.len())
            .map(|i| if i % 4 == 0 { -1.0 } else { original[i - 1] })
            .collect();
        assert_eq!(image.pixels(), &shifted[..]);
    }

    #[test]
    fn bilinear_weights_mix_the_four_neighbours_and_the_fill_beyond_the_border() {
        let shape = ImageShape::new(1, 2, 2);
        let mut pixels = vec![0.0, 1.0, 2.0, 3.0];
        let mut scratch = Vec::new();
        let mut image = Image::new(&mut pixels, shape, &mut scratch);
        image.warp(10.0, |x, y| match (x, y) {
            (0, 0) => (0.5, 0.5),             // the mean of all four
            (1, 0) => (1.5, 0.0),             // half pixel 1, half fill
            (0, 1) => (f32::INFINITY, -1e30), // far outside: all fill
            _ => (0.25, 1.0),                 // 3/4 of pixel 2, 1/4 of pixel 3
        });
        assert_eq!(image.pixels()[0], 1.5);
        assert_eq!(image.pixels()[1], 5.5);
        assert_eq!(image.pixels()[2], 10.0);
        assert_eq!(image.pixels()[3], 2.25);
    }

    #[test]
    fn scratch_is_reused() {
        let shape = ImageShape::new(1, 4, 4);
        let mut scratch = Vec::new();
        let mut a = ramp(shape);
        Image::new(&mut a, shape, &mut scratch).warp(0.0, |x, y| (y as f32, x as f32));
        let ptr = scratch.as_ptr();
        let mut b = ramp(shape);
        Image::new(&mut b, shape, &mut scratch).warp(0.0, |x, y| (y as f32, x as f32));
        assert_eq!(scratch.as_ptr(), ptr);
        // The transpose of a ramp.
        assert_eq!(b[1], 4.0);
        assert_eq!(ImageShape::of_sample(&[1, 4, 0]), None);
        assert_eq!(ImageShape::of_sample(&[3, 4, 5]), Some(ImageShape::new(3, 4, 5)));
    }
}
