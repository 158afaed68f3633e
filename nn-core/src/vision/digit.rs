//! Turns a user's picture of a handwritten digit into a 28×28 MNIST-style image, the way MNIST's
//! own digits were prepared.
//!
//! MNIST's digits (LeCun et al., "The MNIST database") are white ink on black, size-normalised to
//! fit a 20×20 box with their aspect ratio kept, anti-aliased, and centred in a 28×28 field by
//! their centre of mass. A model trained on them sees a photo or a drawing correctly only after the
//! same steps, which [`mnist_digit`] performs:
//!
//! 1. **Grey**: RGB becomes luma `0.299 R + 0.587 G + 0.114 B` (ITU-R 601, as PIL's `"L"`
//!    conversion); alpha is composited on white (a transparent pixel is paper).
//! 2. **Polarity**: the median brightness of the image's outer ring of pixels is the background.
//!    A background brighter than mid-grey means dark ink on light paper, which is inverted, so ink
//!    is always white on black as in MNIST.
//! 3. **Levels**: the background level becomes 0 and the strongest ink 255 (a grey pencil on
//!    off-white paper becomes MNIST's full-contrast strokes). A picture whose strongest ink differs
//!    from the background by less than [`MIN_CONTRAST`] is blank: an error.
//! 4. **Crop** to the bounding box of the ink: pixels at least [`INK_LEVEL`] of the way from the
//!    background to the strongest ink.
//! 5. **Scale** the box so that its longer side is 20 pixels, the shorter in proportion, by area
//!    averaging (each output pixel is the mean of the input area it covers, with fractional
//!    weights at the edges): exact anti-aliasing when shrinking; when enlarging, input pixels
//!    become blocks with blended edges.
//! 6. **Centre**: place the 20×20 box in the 28×28 field so that its centre of mass is at the
//!    field's centre, shifted by whole pixels (no extra blur); the shift is limited so that no ink
//!    falls off the field, which moves the centre of mass only for very lopsided digits.
//! 7. **Check**: the digit's brightest pixel must reach [`MIN_PEAK`] (a quarter of full ink).
//!    Step 3 made the strongest ink full white, so a fainter result means the scaling averaged the
//!    ink away: it was too sparse or too thin for its extent (two dots at the corners of a large
//!    white sheet), and the digit is an error rather than a nearly blank field for the model to
//!    guess at.
//!
//! ```
//! use nn_core::vision::{mnist_digit, Channels, DIGIT_SIDE};
//!
//! // A 40×60 white picture with a black vertical bar: a "1" drawn with a marker.
//! let (w, h) = (40, 60);
//! let mut pixels = vec![255u8; w * h];
//! for y in 10..50 {
//!     for x in 18..24 {
//!         pixels[y * w + x] = 0;
//!     }
//! }
//! let digit = mnist_digit(w, h, Channels::Grey, &pixels)?;
//! assert_eq!(digit.len(), DIGIT_SIDE * DIGIT_SIDE);
//! assert_eq!(digit[14 * 28 + 14], 255); // white ink in the middle of a black field
//! assert_eq!(digit[0], 0);
//! # Ok::<(), nn_core::vision::ImageError>(())
//! ```

use super::decode::{decode_file, Channels, Colour, DecodeOptions, Size};
use super::error::ImageError;
use std::path::Path;

/// Side of an MNIST image, in pixels.
pub const DIGIT_SIDE: usize = 28;

/// Side of the box the ink is scaled into, in pixels (MNIST's 20×20).
pub const INK_BOX: usize = 20;

/// How far (0 to 1) from the background towards the strongest ink a pixel must be to count as
/// ink when finding the bounding box: lower would let paper texture and compression noise widen
/// the crop; the fainter anti-aliased edges cut off by this level carry little of the stroke.
pub const INK_LEVEL: f32 = 0.25;

/// The smallest difference (0 to 1) between the background and the strongest ink for a picture
/// to hold a digit at all: about 13 of 255 grey levels.
pub const MIN_CONTRAST: f32 = 0.05;

/// The faintest brightest pixel (of 255) a prepared digit may have: a quarter of full ink. The
/// strongest ink is full white before scaling, so a digit whose brightest pixel ends below this
/// had its ink averaged away by the scaling: ink too sparse (two dots at the corners of a large
/// sheet) or too thin (a hairline across a photo) for the box its extent needs. The model would
/// see a nearly blank field and answer anyway.
pub const MIN_PEAK: u8 = 64;

/// The largest side, in pixels, of a picture [`read_mnist_digit`] prepares: larger ones are
/// reduced while they are decoded (by area averaging, the whole factor that brings them within),
/// so that a 20000×20000 scan needs megabytes, not gigabytes. 1024 pixels is still 50 times the
/// 20-pixel box the ink ends in.
pub const MAX_DIGIT_PICTURE: usize = 1024;

/// `width × height` pixels of `channels` (8-bit samples, row after row from the top) made into an
/// MNIST digit: 28×28 grey pixels, row-major, white ink on black, the ink scaled into 20×20 and
/// centred by its centre of mass. See the [module](self) documentation for the exact rules.
///
/// Fails if the picture is empty, the samples do not match its size, it holds no ink, or its ink
/// is too faint once scaled (see [`MIN_PEAK`]).
pub fn mnist_digit(
    width: usize,
    height: usize,
    channels: Channels,
    samples: &[u8],
) -> Result<[u8; DIGIT_SIDE * DIGIT_SIDE], ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Empty { width, height });
    }
    if width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels.count()))
        != Some(samples.len())
    {
        return Err(ImageError::WrongLength {
            width,
            height,
            channels,
            found: samples.len(),
        });
    }
    let grey = to_grey(channels, samples);
    let ink = Plane {
        width,
        height,
        values: ink_levels(width, height, grey)?,
    };
    let (x0, y0, x1, y1) = ink.bounding_box(INK_LEVEL);
    let digit = ink.crop(x0, y0, x1, y1).scale_into(INK_BOX).centre_in(DIGIT_SIDE);
    let peak = digit.iter().copied().max().unwrap_or(0);
    if peak < MIN_PEAK {
        return Err(ImageError::Faint {
            peak,
            ink_width: x1 - x0,
            ink_height: y1 - y0,
        });
    }
    Ok(digit)
}

/// The picture in the PNG file at `path` made into an MNIST digit by [`mnist_digit`], decoded
/// in grey (transparent pixels on white paper) and, beyond [`MAX_DIGIT_PICTURE`] pixels a side,
/// reduced while it is decoded. Errors name the file.
pub fn read_mnist_digit(path: impl AsRef<Path>) -> Result<[u8; DIGIT_SIDE * DIGIT_SIDE], ImageError> {
    let path = path.as_ref();
    let options = DecodeOptions::new(Colour::Grey).size(Size::Within(MAX_DIGIT_PICTURE));
    let picture = decode_file(path, &options)?;
    mnist_digit(picture.width, picture.height, Channels::Grey, &picture.pixels).map_err(|e| e.in_file(path))
}

/// Brightness 0 to 1 of each pixel, alpha composited on white.
fn to_grey(channels: Channels, samples: &[u8]) -> Vec<f32> {
    let v = |s: u8| f32::from(s) / 255.0;
    let luma = |p: &[u8]| 0.299 * v(p[0]) + 0.587 * v(p[1]) + 0.114 * v(p[2]);
    // Over white: a·colour + (1 − a)·1.
    let over_white = |colour: f32, alpha: u8| v(alpha) * colour + (1.0 - v(alpha));
    let pixels = samples.chunks_exact(channels.count());
    match channels {
        Channels::Grey => samples.iter().map(|&s| v(s)).collect(),
        Channels::GreyAlpha => pixels.map(|p| over_white(v(p[0]), p[1])).collect(),
        Channels::Rgb => pixels.map(luma).collect(),
        Channels::Rgba => pixels.map(|p| over_white(luma(p), p[3])).collect(),
    }
}

/// Ink 0 (background) to 1 (strongest ink) from brightness: inverted when the background is
/// light, then stretched between the background level and the strongest ink.
fn ink_levels(width: usize, height: usize, mut grey: Vec<f32>) -> Result<Vec<f32>, ImageError> {
    let background = median(border(width, height, &grey));
    if background > 0.5 {
        grey.iter_mut().for_each(|g| *g = 1.0 - *g);
    }
    let base = background.min(1.0 - background);
    let strongest = grey.iter().copied().fold(0.0f32, f32::max);
    let contrast = strongest - base;
    if contrast < MIN_CONTRAST {
        return Err(ImageError::Blank {
            background,
            contrast: contrast.max(0.0),
        });
    }
    grey.iter_mut()
        .for_each(|g| *g = ((*g - base) / contrast).clamp(0.0, 1.0));
    Ok(grey)
}

/// The pixels of the outer ring (every pixel of a picture two pixels wide or high).
fn border(width: usize, height: usize, grey: &[f32]) -> Vec<f32> {
    (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .filter(|&(x, y)| x == 0 || y == 0 || x + 1 == width || y + 1 == height)
        .map(|(x, y)| grey[y * width + x])
        .collect()
}

/// The median (the upper one of an even count; `values` is not empty).
fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

/// A grey picture with values 0 to 1, row-major.
#[derive(Clone, Debug, PartialEq)]
struct Plane {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

impl Plane {
    fn at(&self, x: usize, y: usize) -> f32 {
        self.values[y * self.width + x]
    }

    /// `(x0, y0, x1, y1)`, end exclusive, of the pixels at `level` or above (there is at least
    /// one: the strongest ink is 1).
    fn bounding_box(&self, level: f32) -> (usize, usize, usize, usize) {
        let (mut x0, mut y0, mut x1, mut y1) = (self.width, self.height, 0, 0);
        for y in 0..self.height {
            for x in 0..self.width {
                if self.at(x, y) >= level {
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
                }
            }
        }
        (x0, y0, x1, y1)
    }

    fn crop(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> Plane {
        let values = (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .map(|(x, y)| self.at(x, y));
        Plane {
            width: x1 - x0,
            height: y1 - y0,
            values: values.collect(),
        }
    }

    /// Scaled by one factor on both axes so that the longer side is `side` pixels (the shorter
    /// covers a fraction of its last pixel), by area averaging.
    fn scale_into(&self, side: usize) -> Plane {
        let factor = side as f64 / self.width.max(self.height) as f64;
        let out_side = |n: usize| ((n as f64 * factor).ceil() as usize).clamp(1, side);
        let (width, height) = (out_side(self.width), out_side(self.height));
        let columns = coverage(self.width, width, factor);
        let rows = coverage(self.height, height, factor);
        let mut values = vec![0.0; width * height];
        for (oy, row) in rows.iter().enumerate() {
            for (ox, column) in columns.iter().enumerate() {
                let mut sum = 0.0;
                for &(y, wy) in row {
                    for &(x, wx) in column {
                        sum += wy * wx * f64::from(self.at(x, y));
                    }
                }
                // Divided by the output pixel's area in input pixels, so the covered part of a
                // partly covered last pixel keeps its brightness (the rest is background).
                values[oy * width + ox] = (sum * factor * factor) as f32;
            }
        }
        Plane {
            width,
            height,
            values,
        }
    }

    /// Placed in a `side × side` black field with its centre of mass on the field's centre, by
    /// whole pixels and without losing ink; quantised to 0..=255.
    fn centre_in(&self, side: usize) -> [u8; DIGIT_SIDE * DIGIT_SIDE] {
        let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
        for y in 0..self.height {
            for x in 0..self.width {
                let m = f64::from(self.at(x, y));
                mass += m;
                // Pixel centres are at +0.5, so the field's centre is side / 2.
                mx += m * (x as f64 + 0.5);
                my += m * (y as f64 + 0.5);
            }
        }
        let centre = side as f64 / 2.0;
        let offset = |com: f64, n: usize| (centre - com).round().clamp(0.0, (side - n) as f64) as usize;
        let (dx, dy) = (offset(mx / mass, self.width), offset(my / mass, self.height));
        let mut out = [0u8; DIGIT_SIDE * DIGIT_SIDE];
        for y in 0..self.height {
            for x in 0..self.width {
                out[(y + dy) * side + x + dx] = (self.at(x, y).clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
        out
    }
}

/// For each of `out` output pixels along an axis of `n` input pixels, the input pixels it covers
/// and by how much (in input pixels), when output pixel `o` spans `[o, o + 1) / factor`.
fn coverage(n: usize, out: usize, factor: f64) -> Vec<Vec<(usize, f64)>> {
    (0..out)
        .map(|o| {
            let (start, end) = (o as f64 / factor, ((o + 1) as f64 / factor).min(n as f64));
            let first = start.floor() as usize;
            let last = (end.ceil() as usize).min(n);
            (first..last)
                .map(|i| (i, (end.min(i as f64 + 1.0) - start.max(i as f64)).max(0.0)))
                .filter(|&(_, w)| w > 0.0)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIDE: usize = DIGIT_SIDE;

    /// A `width × height` grey picture of `paper` with thick `ink` strokes: each segment (in
    /// pixels) drawn `radius` pixels to either side, as a marker would.
    fn drawing(
        width: usize,
        height: usize,
        paper: u8,
        ink: u8,
        segments: &[[f32; 4]],
        radius: f32,
    ) -> Vec<u8> {
        let mut pixels = vec![paper; width * height];
        for y in 0..height {
            for x in 0..width {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let near = segments.iter().any(|&[x0, y0, x1, y1]| {
                    let (dx, dy) = (x1 - x0, y1 - y0);
                    let t =
                        (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy).max(1e-9)).clamp(0.0, 1.0);
                    (px - x0 - t * dx).hypot(py - y0 - t * dy) <= radius
                });
                if near {
                    pixels[y * width + x] = ink;
                }
            }
        }
        pixels
    }

    /// A "4" drawn black on white in a 90×120 picture.
    fn four() -> Vec<u8> {
        drawing(
            90,
            120,
            255,
            0,
            &[[55., 15., 20., 75.], [20., 75., 75., 75.], [58., 40., 58., 105.]],
            5.0,
        )
    }

    /// `(x0, y0, x1, y1)`, end exclusive, of the non-zero pixels of a digit.
    fn ink_box(digit: &[u8]) -> (usize, usize, usize, usize) {
        let mut b = (SIDE, SIDE, 0, 0);
        for (i, _) in digit.iter().enumerate().filter(|(_, &v)| v > 0) {
            let (x, y) = (i % SIDE, i / SIDE);
            b = (b.0.min(x), b.1.min(y), b.2.max(x + 1), b.3.max(y + 1));
        }
        b
    }

    /// The centre of mass in pixel-centre coordinates (the field's centre is 14, 14).
    fn centre_of_mass(digit: &[u8]) -> (f64, f64) {
        let (mut m, mut mx, mut my) = (0.0, 0.0, 0.0);
        for (i, &v) in digit.iter().enumerate() {
            m += f64::from(v);
            mx += f64::from(v) * ((i % SIDE) as f64 + 0.5);
            my += f64::from(v) * ((i / SIDE) as f64 + 0.5);
        }
        (mx / m, my / m)
    }

    fn assert_centred(digit: &[u8]) {
        let (cx, cy) = centre_of_mass(digit);
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "centre of mass ({cx}, {cy})"
        );
    }

    #[test]
    fn a_drawn_stroke_becomes_white_ink_on_black_cropped_scaled_into_20_and_centred() {
        let digit = mnist_digit(90, 120, Channels::Grey, &four()).unwrap();
        assert_eq!(*digit.iter().max().unwrap(), 255, "the strokes are full white");
        let (x0, y0, x1, y1) = ink_box(&digit);
        // The "4" is taller (100 px) than wide (65 px): its height fills the 20-pixel box.
        assert_eq!(y1 - y0, INK_BOX, "box {:?}", (x0, y0, x1, y1));
        assert!(
            (12..=15).contains(&(x1 - x0)),
            "width {} for 65/100 of 20",
            x1 - x0
        );
        assert!(
            x0 >= 2 && y0 >= 2 && x1 <= SIDE - 2 && y1 <= SIDE - 2,
            "a 4-pixel margin, about"
        );
        assert_centred(&digit);
        // The corners are MNIST's black background.
        assert_eq!([digit[0], digit[27], digit[27 * 28], digit[783]], [0; 4]);
    }

    #[test]
    fn white_on_black_gives_the_same_digit_as_black_on_white() {
        let black_on_white = four();
        let white_on_black: Vec<u8> = black_on_white.iter().map(|&v| 255 - v).collect();
        let a = mnist_digit(90, 120, Channels::Grey, &black_on_white).unwrap();
        let b = mnist_digit(90, 120, Channels::Grey, &white_on_black).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn pencil_on_grey_paper_is_stretched_to_full_contrast() {
        let faint = drawing(90, 120, 200, 120, &[[45., 10., 45., 110.]], 4.0);
        let digit = mnist_digit(90, 120, Channels::Grey, &faint).unwrap();
        assert_eq!(*digit.iter().max().unwrap(), 255);
        assert_eq!(*digit.iter().min().unwrap(), 0, "the paper becomes black");
    }

    #[test]
    fn rgb_and_rgba_with_transparency_give_the_grey_digit() {
        let grey = four();
        let reference = mnist_digit(90, 120, Channels::Grey, &grey).unwrap();
        let rgb: Vec<u8> = grey.iter().flat_map(|&v| [v, v, v]).collect();
        assert_eq!(mnist_digit(90, 120, Channels::Rgb, &rgb).unwrap(), reference);
        // Black ink on a transparent background whose hidden colour is black too: only alpha
        // tells ink from paper, and compositing on white must find the paper.
        let rgba: Vec<u8> = grey.iter().flat_map(|&v| [0, 0, 0, 255 - v]).collect();
        assert_eq!(mnist_digit(90, 120, Channels::Rgba, &rgba).unwrap(), reference);
        let grey_alpha: Vec<u8> = grey.iter().flat_map(|&v| [0, 255 - v]).collect();
        assert_eq!(
            mnist_digit(90, 120, Channels::GreyAlpha, &grey_alpha).unwrap(),
            reference
        );
    }

    #[test]
    fn blue_ink_counts_by_its_luma() {
        // Pure blue (luma 0.114) on white is dark ink; on black it is faint but visible.
        let mask = four();
        let on_white: Vec<u8> = mask
            .iter()
            .flat_map(|&v| if v == 0 { [0, 0, 255] } else { [255; 3] })
            .collect();
        let digit = mnist_digit(90, 120, Channels::Rgb, &on_white).unwrap();
        assert_eq!(digit, mnist_digit(90, 120, Channels::Grey, &mask).unwrap());
    }

    #[test]
    fn off_centre_ink_is_moved_to_the_centre_of_the_field() {
        let centred = four();
        let reference = mnist_digit(90, 120, Channels::Grey, &centred).unwrap();
        // The same drawing in the bottom-right corner of a 300×200 picture.
        let mut big = vec![255u8; 300 * 200];
        for y in 0..120 {
            big[(80 + y) * 300 + 210..(80 + y) * 300 + 300].copy_from_slice(&centred[y * 90..(y + 1) * 90]);
        }
        assert_eq!(mnist_digit(300, 200, Channels::Grey, &big).unwrap(), reference);
    }

    #[test]
    fn tall_and_wide_ink_keep_their_aspect_ratio() {
        // A bar 8 wide and 32 tall, and the same on its side: 5 × 20 and 20 × 5 in the output.
        let bar = |w: usize, h: usize| {
            let mut pixels = vec![255u8; 60 * 60];
            for y in 10..10 + h {
                pixels[y * 60 + 10..y * 60 + 10 + w].fill(0);
            }
            mnist_digit(60, 60, Channels::Grey, &pixels).unwrap()
        };
        for (w, h, expected) in [(8, 32, (5, 20)), (32, 8, (20, 5))] {
            let digit = bar(w, h);
            let (x0, y0, x1, y1) = ink_box(&digit);
            assert_eq!((x1 - x0, y1 - y0), expected);
            assert!(
                digit.iter().all(|&v| v == 0 || v == 255),
                "no blur: 8 → 5 exactly"
            );
            assert_centred(&digit);
        }
    }

    #[test]
    fn shrinking_averages_areas() {
        // Black stripes one pixel wide every other column, 39 × 40: halved, each output pixel
        // covers one stripe and one gap, so the whole 20 × 20 box is 50% grey.
        let mut pixels = vec![255u8; 60 * 60];
        for y in 10..50 {
            for x in (10..50).step_by(2) {
                pixels[y * 60 + x] = 0;
            }
        }
        let digit = mnist_digit(60, 60, Channels::Grey, &pixels).unwrap();
        let (x0, y0, x1, y1) = ink_box(&digit);
        assert_eq!((x1 - x0, y1 - y0), (20, 20));
        for y in y0..y1 {
            for x in x0..x1 {
                assert_eq!(digit[y * SIDE + x], 128, "at ({x}, {y})");
            }
        }
    }

    #[test]
    fn a_tiny_digit_is_enlarged_to_fill_the_box() {
        // A 2 × 4 block of ink: enlarged 5 times, 10 × 20.
        let mut pixels = vec![0u8; 8 * 8];
        for y in 2..6 {
            pixels[y * 8 + 3] = 255;
            pixels[y * 8 + 4] = 255;
        }
        let digit = mnist_digit(8, 8, Channels::Grey, &pixels).unwrap();
        let (x0, y0, x1, y1) = ink_box(&digit);
        assert_eq!((x1 - x0, y1 - y0), (10, 20));
        assert!(digit.iter().all(|&v| v == 0 || v == 255));
        assert_centred(&digit);
    }

    #[test]
    fn lopsided_ink_is_shifted_only_as_far_as_the_field_allows() {
        // A heavy blob at the top of a thin stem: its centre of mass is near the top, and
        // centring it exactly would push the stem's top out of the field.
        let pixels = drawing(
            100,
            100,
            255,
            0,
            &[[50., 10., 50., 12.], [50., 12., 50., 90.]],
            1.0,
        );
        let mut pixels = pixels;
        for y in 5..25 {
            for x in 40..60 {
                pixels[y * 100 + x] = 0;
            }
        }
        let digit = mnist_digit(100, 100, Channels::Grey, &pixels).unwrap();
        let total: u32 = digit.iter().map(|&v| u32::from(v)).sum();
        assert!(total > 0);
        let (_, y0, _, y1) = ink_box(&digit);
        assert_eq!(
            (y0, y1),
            (8, 28),
            "moved down until it meets the bottom edge, no further"
        );
        assert!(
            centre_of_mass(&digit).1 < 13.0,
            "the centre of mass stays above the centre"
        );
    }

    #[test]
    fn a_blank_picture_is_an_error_not_a_digit() {
        for paper in [0u8, 128, 255] {
            let err = mnist_digit(30, 30, Channels::Grey, &vec![paper; 900]).unwrap_err();
            assert!(matches!(err, ImageError::Blank { .. }), "{err}");
            assert!(err.to_string().contains("blank"), "{err}");
        }
        // Paper texture of ±5 grey levels is not ink.
        let texture: Vec<u8> = (0..900).map(|i| 250 + (i * 7 % 6) as u8).collect();
        assert!(mnist_digit(30, 30, Channels::Grey, &texture).is_err());
        // Fully transparent: white paper whatever the hidden colour.
        let err = mnist_digit(10, 10, Channels::Rgba, &[0u8; 400]).unwrap_err();
        assert!(matches!(err, ImageError::Blank { .. }), "{err}");
    }

    #[test]
    fn malformed_pictures_are_errors_naming_what_is_wrong() {
        let err = mnist_digit(0, 5, Channels::Grey, &[]).unwrap_err();
        assert!(err.to_string().contains("0×5"), "{err}");
        let err = mnist_digit(4, 5, Channels::Rgb, &[0; 20]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a 4×5 Rgb picture needs 60 samples, found 20; fix: pass the channels the samples were \
             decoded with"
        );
        assert!(
            mnist_digit(usize::MAX, 2, Channels::Grey, &[0; 4]).is_err(),
            "no overflow"
        );
    }
}
