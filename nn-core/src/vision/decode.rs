//! Decoding a picture file (PNG or JPEG) into pixels: what to ask for ([`DecodeOptions`]:
//! colour, size, [`Limits`]), what comes back ([`Picture`]), the two entry points,
//! [`decode_file`] and [`decode_bytes`], and [`read_header`], which reads the size and colours
//! alone.
//!
//! Three promises hold for any input, however damaged or hostile:
//! - the limits are checked from the header, before any memory is set aside for pixels;
//! - memory stays bounded by what was asked for: a PNG reduced while decoding
//!   ([`Size::Within`], [`Size::Exact`]) never holds its full-size pixels, so a 20000×20000 PNG
//!   decoded within 1024 pixels holds a few megabytes, not gigabytes (a JPEG is decoded whole,
//!   then reduced: within the limits);
//! - a panic inside the third-party decoder becomes an [`ImageError::DecoderPanicked`] for this
//!   picture alone.

use super::error::ImageError;
use super::{jpeg, png_rows};
use std::io::{BufRead, BufReader, Cursor, Seek};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// The samples of one pixel, in the order they are stored (8 bits each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channels {
    /// One grey sample.
    Grey,
    /// Grey, then alpha (0 transparent, 255 opaque).
    GreyAlpha,
    /// Red, green, blue.
    Rgb,
    /// Red, green, blue, alpha.
    Rgba,
}

impl Channels {
    /// Samples per pixel.
    pub fn count(self) -> usize {
        match self {
            Channels::Grey => 1,
            Channels::GreyAlpha => 2,
            Channels::Rgb => 3,
            Channels::Rgba => 4,
        }
    }
}

/// The colour of the decoded pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Colour {
    /// One grey sample per pixel: luma `0.299 R + 0.587 G + 0.114 B` (ITU-R 601, as PIL's `"L"`).
    Grey,
    /// Red, green, blue.
    Rgb,
}

impl Colour {
    /// Samples per pixel.
    pub fn channels(self) -> usize {
        match self {
            Colour::Grey => 1,
            Colour::Rgb => 3,
        }
    }
}

/// The size of the decoded pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// As stored.
    Original,
    /// Reduced by the smallest whole factor that brings both sides within this many pixels
    /// (the aspect ratio kept), each pixel the mean of the block it covers; a picture already
    /// within is as stored.
    Within(usize),
    /// Exactly `width` × `height` pixels (the aspect ratio not kept), by area averaging: each
    /// pixel the mean of the part of the picture it covers.
    Exact {
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
    },
}

/// How large a picture may be, checked from its header before anything is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// The most pixels per side.
    pub max_side: u64,
    /// The most pixels in all (width × height), which bounds the time decoding takes.
    pub max_pixels: u64,
}

/// 32,768 pixels per side and 2^29 (about 537 million) pixels in all: a 20000×20000 scan
/// (400 million pixels, a few seconds to decode) passes, a header declaring 100000×100000 does
/// not.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_side: 1 << 15,
            max_pixels: 1 << 29,
        }
    }
}

impl Limits {
    /// Refuses a `width` × `height` picture beyond these limits.
    pub(crate) fn check(&self, width: u64, height: u64) -> Result<(), ImageError> {
        let too_large = |limit: String| ImageError::TooLarge { width, height, limit };
        if width > self.max_side || height > self.max_side {
            return Err(too_large(format!("{} pixels per side", self.max_side)));
        }
        if width.saturating_mul(height) > self.max_pixels {
            return Err(too_large(format!("{} pixels in all", self.max_pixels)));
        }
        Ok(())
    }
}

/// What [`decode_file`] and [`decode_bytes`] produce: colour, size, limits.
///
/// ```
/// use nn_core::vision::{Colour, DecodeOptions, Size};
/// let options = DecodeOptions::new(Colour::Rgb).size(Size::Exact { width: 32, height: 32 });
/// assert_eq!(options.colour(), Colour::Rgb);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecodeOptions {
    colour: Colour,
    size: Size,
    limits: Limits,
}

impl DecodeOptions {
    /// Pixels of `colour`, as stored in size, within the default [`Limits`].
    pub fn new(colour: Colour) -> Self {
        DecodeOptions {
            colour,
            size: Size::Original,
            limits: Limits::default(),
        }
    }

    /// The size to decode to.
    pub fn size(mut self, size: Size) -> Self {
        self.size = size;
        self
    }

    /// The limits to check the header against.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The colour asked for.
    pub fn colour(&self) -> Colour {
        self.colour
    }

    /// The size asked for.
    pub fn requested_size(&self) -> Size {
        self.size
    }

    /// The limits asked for.
    pub fn requested_limits(&self) -> Limits {
        self.limits
    }
}

/// Decoded pixels, row after row from the top, [`Colour::channels`] 8-bit samples each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// The colour of `pixels`.
    pub colour: Colour,
    /// What the file stores, before conversion to `colour` (a palette counts as `Rgb`, or as
    /// `Rgba` with transparency).
    pub stored: Channels,
    /// `width * height * colour.channels()` samples.
    pub pixels: Vec<u8>,
}

/// What a picture's header says: its size and what it stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// What the file stores (a palette counts as `Rgb`, or as `Rgba` with transparency).
    pub stored: Channels,
}

/// The header of the picture in the file at `path` (PNG or JPEG): its size, checked against
/// `limits` (and to be at least 1×1), and what it stores; no pixel is decoded. Errors are
/// [`ImageError::File`], naming the file.
pub fn read_header(path: impl AsRef<Path>, limits: Limits) -> Result<Header, ImageError> {
    let path = path.as_ref();
    let read = || {
        let file = std::fs::File::open(path)?;
        let options = DecodeOptions::new(Colour::Rgb).limits(limits);
        sniff_then(BufReader::new(file), &options, png_rows::header, jpeg::header)
    };
    read().map_err(|e| e.in_file(path))
}

/// The picture in the file at `path`, decoded as `options` say. Errors are
/// [`ImageError::File`], naming the file.
///
/// Transparent pixels are composited on white (a transparent pixel is paper); palette and grey
/// images of under 8 bits are expanded, 16-bit samples reduced to 8 bits.
pub fn decode_file(path: impl AsRef<Path>, options: &DecodeOptions) -> Result<Picture, ImageError> {
    let path = path.as_ref();
    let decode = || {
        let file = std::fs::File::open(path)?;
        decode_from(BufReader::new(file), options)
    };
    decode().map_err(|e| e.in_file(path))
}

/// The picture in `bytes` (a whole PNG or JPEG file), decoded as `options` say.
pub fn decode_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<Picture, ImageError> {
    decode_from(Cursor::new(bytes), options)
}

/// The PNG signature, the first 8 bytes of every PNG file.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The start of every JPEG file: a start-of-image marker, then the first segment's marker.
const JPEG_SIGNATURE: [u8; 3] = [0xff, 0xd8, 0xff];

/// Decodes under `catch_unwind`, PNG or JPEG as the first bytes say.
fn decode_from(reader: impl BufRead + Seek, options: &DecodeOptions) -> Result<Picture, ImageError> {
    sniff_then(reader, options, png_rows::decode, jpeg::decode)
}

/// Runs `png` or `jpeg` on `reader` as its first bytes say, under `catch_unwind`.
fn sniff_then<R: BufRead + Seek, T>(
    mut reader: R,
    options: &DecodeOptions,
    png: fn(R, &DecodeOptions) -> Result<T, ImageError>,
    jpeg: fn(R, &DecodeOptions) -> Result<T, ImageError>,
) -> Result<T, ImageError> {
    let start = reader.fill_buf()?;
    let (format, decode) = if start.starts_with(&PNG_SIGNATURE) {
        ("PNG", png)
    } else if start.starts_with(&JPEG_SIGNATURE) {
        ("JPEG", jpeg)
    } else {
        let found = if start.is_empty() {
            "the file is empty"
        } else if start.len() < PNG_SIGNATURE.len() && PNG_SIGNATURE.starts_with(start) {
            "the file ends inside the PNG signature"
        } else {
            "it starts with neither the PNG nor the JPEG signature"
        };
        return Err(ImageError::Unsupported { found });
    };
    // The decoder is third-party code fed hostile bytes: a panic in it (png 0.18.1 had one on
    // a palette of 4 bytes) must cost this picture, not the program. Its state is dropped with
    // the closure, so nothing observes it half-updated.
    catch_unwind(AssertUnwindSafe(|| decode(reader, options))).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "no message".to_string());
        Err(ImageError::DecoderPanicked { format, message })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, SeekFrom};

    /// Bytes that start as a PNG, then a reader that panics: any panic inside the decoder.
    struct Exploding(Cursor<Vec<u8>>);

    impl Read for Exploding {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("the reader exploded")
        }
    }

    impl BufRead for Exploding {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            if self.0.position() < 8 {
                return self.0.fill_buf();
            }
            panic!("the reader exploded")
        }
        fn consume(&mut self, n: usize) {
            self.0.consume(n)
        }
    }

    impl Seek for Exploding {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.0.seek(to)
        }
    }

    /// Issue 23.3: a panic in the third-party decoder aborted predict with every other file.
    #[test]
    fn a_panic_inside_the_decoder_is_an_error_for_that_picture_alone() {
        let reader = Exploding(Cursor::new(PNG_SIGNATURE.to_vec()));
        let err = decode_from(reader, &DecodeOptions::new(Colour::Grey)).unwrap_err();
        assert!(matches!(err, ImageError::DecoderPanicked { .. }), "{err}");
        assert!(err.to_string().contains("(the reader exploded)"), "{err}");
    }
}
