//! PNG decoding row by row with the `png` crate: the header checked against the limits before
//! anything else, each row converted to the colour asked for and summed into the reduced picture
//! at once, so that the full-size pixels are never held.
//!
//! Palette images are expanded here rather than by the crate: png 0.18.1 (the newest release)
//! panics on a palette whose length is not a multiple of 3 (image-rs/image-png#694, fixed
//! upstream but not released). A palette is three bytes per entry, and anything else is a
//! damaged file.

use super::decode::{Channels, DecodeOptions, Header, Picture};
use super::error::ImageError;
use super::reduce::{Plan, Reducer};
use png::{Adam7Info, BitDepth, ColorType, InterlaceInfo, Transformations};
use std::io::{BufRead, Seek};

/// The PNG decoder's own limit on what it allocates beyond the rows (text, profiles, palettes):
/// the crate's default.
const DECODER_BYTES: usize = 64 << 20;

/// The Adam7 passes: first column, column step, first row, row step.
const PASSES: [(usize, usize, usize, usize); 7] = [
    (0, 8, 0, 8),
    (4, 8, 0, 8),
    (0, 4, 4, 8),
    (2, 4, 0, 4),
    (0, 2, 2, 4),
    (1, 2, 0, 2),
    (0, 1, 1, 2),
];

/// The decoder's words for what is wrong, as a damaged-file error.
fn damaged(e: png::DecodingError) -> ImageError {
    let reason = match e {
        png::DecodingError::IoError(source) => format!("it ends too early: {source}"),
        other => other.to_string(),
    };
    ImageError::Damaged {
        format: "PNG",
        reason,
    }
}

/// A reader of `reader`'s rows, its header and the chunks before the pixels read and checked
/// against `options`' limits, with how its samples convert and its size.
fn open<R: BufRead + Seek>(
    mut reader: R,
    options: &DecodeOptions,
) -> Result<(png::Reader<R>, Samples, Header), ImageError> {
    // The size, read from the header chunk before the decoder sees it: the decoder refuses a
    // 0×0 header with a bare "invalid image dimensions".
    let start = reader.fill_buf()?;
    if start.len() >= 24 && &start[12..16] == b"IHDR" {
        let side = |at: usize| u32::from_be_bytes([start[at], start[at + 1], start[at + 2], start[at + 3]]);
        let (width, height) = (side(16), side(20));
        options.requested_limits().check(width.into(), height.into())?;
        if width == 0 || height == 0 {
            return Err(ImageError::Damaged {
                format: "PNG",
                reason: format!("its header declares {width}×{height} pixels"),
            });
        }
    }
    let mut decoder = png::Decoder::new_with_limits(reader, png::Limits { bytes: DECODER_BYTES });
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    let header = decoder.read_header_info().map_err(damaged)?;
    let (width, height) = (header.width, header.height);
    options.requested_limits().check(width.into(), height.into())?;
    if width == 0 || height == 0 {
        return Err(ImageError::Damaged {
            format: "PNG",
            reason: format!("its header declares {width}×{height} pixels"),
        });
    }
    let indexed = header.color_type == ColorType::Indexed;
    decoder.set_transformations(if indexed {
        Transformations::IDENTITY
    } else {
        Transformations::normalize_to_color8()
    });
    let reader = decoder.read_info().map_err(damaged)?;
    let (colour, depth) = reader.output_color_type();
    let samples = Samples::new(reader.info(), colour, depth)?;
    let header = Header {
        width: width as usize,
        height: height as usize,
        stored: samples.stored,
    };
    Ok((reader, samples, header))
}

/// The header of the PNG `reader` holds (its signature already seen), checked against the
/// limits of `options`: the chunks before the pixels are read, no pixel is.
pub(crate) fn header(reader: impl BufRead + Seek, options: &DecodeOptions) -> Result<Header, ImageError> {
    open(reader, options).map(|(_, _, header)| header)
}

/// Decodes the PNG `reader` holds (its signature already seen) as `options` say.
pub(crate) fn decode(reader: impl BufRead + Seek, options: &DecodeOptions) -> Result<Picture, ImageError> {
    let (mut reader, samples, Header { width, height, .. }) = open(reader, options)?;
    let out_channels = options.colour().channels();
    let plan = Plan::new(width, height, options.requested_size());
    let mut reducer = Reducer::new(plan, out_channels)?;
    let mut converted = Vec::with_capacity(width * out_channels);
    let mut rows = Rows::new(width, height, reader.info().interlaced);
    while let Some(row) = reader.next_interlaced_row().map_err(damaged)? {
        let Some((y, x0, step, n)) = rows.next(row.interlace()) else {
            return Err(ImageError::Damaged {
                format: "PNG",
                reason: "the decoder gave rows in an unexpected order".into(),
            });
        };
        converted.clear();
        samples.convert(row.data(), n, out_channels == 1, &mut converted);
        reducer.add_row(y, x0, step, &converted);
    }
    if !rows.done() {
        return Err(ImageError::Damaged {
            format: "PNG",
            reason: "the decoder stopped before the last row".into(),
        });
    }
    Ok(Picture {
        width: plan.out.0,
        height: plan.out.1,
        colour: options.colour(),
        stored: samples.stored,
        pixels: reducer.finish(),
    })
}

/// Which picture pixels the next decoded row holds: rows top to bottom, or Adam7's passes.
struct Rows {
    width: usize,
    height: usize,
    interlaced: bool,
    pass: usize,
    line: usize,
}

impl Rows {
    fn new(width: usize, height: usize, interlaced: bool) -> Rows {
        let mut rows = Rows {
            width,
            height,
            interlaced,
            pass: 0,
            line: 0,
        };
        if interlaced {
            rows.skip_empty_passes();
        }
        rows
    }

    /// Pixels and lines of pass `p`.
    fn pass_size(&self, p: usize) -> (usize, usize) {
        let (x0, dx, y0, dy) = PASSES[p];
        (
            self.width.saturating_sub(x0).div_ceil(dx),
            self.height.saturating_sub(y0).div_ceil(dy),
        )
    }

    fn skip_empty_passes(&mut self) {
        while self.pass < PASSES.len() && {
            let (n, lines) = self.pass_size(self.pass);
            n == 0 || self.line >= lines
        } {
            self.pass += 1;
            self.line = 0;
        }
    }

    /// `(y, x0, step, pixels)` of the row the decoder describes by `info`, checked against the
    /// order expected, or `None` if it is not the row expected.
    fn next(&mut self, info: &InterlaceInfo) -> Option<(usize, usize, usize, usize)> {
        if !self.interlaced {
            let y = self.line;
            (matches!(info, InterlaceInfo::Null(_)) && y < self.height).then_some(())?;
            self.line += 1;
            return Some((y, 0, 1, self.width));
        }
        let InterlaceInfo::Adam7(adam7) = info else {
            return None;
        };
        let expected = Adam7Info::new(self.pass as u8 + 1, self.line as u32, self.width as u32);
        (self.pass < PASSES.len() && *adam7 == expected).then_some(())?;
        let (x0, dx, y0, dy) = PASSES[self.pass];
        let at = (y0 + self.line * dy, x0, dx, self.pass_size(self.pass).0);
        self.line += 1;
        self.skip_empty_passes();
        Some(at)
    }

    /// Whether every row has been seen.
    fn done(&self) -> bool {
        if self.interlaced {
            self.pass == PASSES.len()
        } else {
            self.line == self.height
        }
    }
}

/// How the decoder's rows hold pixels, and their conversion to grey or RGB.
struct Samples {
    /// The rows' layout: 8-bit grey, grey + alpha, RGB, RGBA, or palette indices of `depth` bits.
    colour: ColorType,
    depth: u8,
    /// A palette's entries as RGBA (missing alpha from tRNS is opaque).
    palette: Vec<[u8; 4]>,
    stored: Channels,
}

impl Samples {
    fn new(info: &png::Info<'_>, colour: ColorType, depth: BitDepth) -> Result<Samples, ImageError> {
        let mut palette = Vec::new();
        if colour == ColorType::Indexed {
            let rgb = info.palette.as_deref().unwrap_or(&[]);
            if rgb.is_empty() || !rgb.len().is_multiple_of(3) {
                return Err(ImageError::Damaged {
                    format: "PNG",
                    reason: format!(
                        "its palette (PLTE chunk) has {} bytes, not a whole number of 3-byte \
                         entries",
                        rgb.len()
                    ),
                });
            }
            let alpha = info.trns.as_deref().unwrap_or(&[]);
            palette = rgb
                .chunks_exact(3)
                .enumerate()
                .map(|(i, c)| [c[0], c[1], c[2], alpha.get(i).copied().unwrap_or(255)])
                .collect();
        }
        let stored = match colour {
            ColorType::Grayscale => Channels::Grey,
            ColorType::GrayscaleAlpha => Channels::GreyAlpha,
            ColorType::Rgb => Channels::Rgb,
            ColorType::Rgba => Channels::Rgba,
            ColorType::Indexed if info.trns.is_some() => Channels::Rgba,
            ColorType::Indexed => Channels::Rgb,
        };
        Ok(Samples {
            colour,
            depth: depth as u8,
            palette,
            stored,
        })
    }

    /// Appends the `n` pixels of `row` to `out` as grey (if `grey`) or RGB samples, alpha
    /// composited on white.
    fn convert(&self, row: &[u8], n: usize, grey: bool, out: &mut Vec<u8>) {
        let mut push = |r: u8, g: u8, b: u8, a: u8| {
            let (r, g, b) = (over_white(r, a), over_white(g, a), over_white(b, a));
            if grey {
                out.push(luma(r, g, b));
            } else {
                out.extend_from_slice(&[r, g, b]);
            }
        };
        match self.colour {
            ColorType::Grayscale => row.iter().take(n).for_each(|&v| push(v, v, v, 255)),
            ColorType::GrayscaleAlpha => row
                .chunks_exact(2)
                .take(n)
                .for_each(|p| push(p[0], p[0], p[0], p[1])),
            ColorType::Rgb => row
                .chunks_exact(3)
                .take(n)
                .for_each(|p| push(p[0], p[1], p[2], 255)),
            ColorType::Rgba => row
                .chunks_exact(4)
                .take(n)
                .for_each(|p| push(p[0], p[1], p[2], p[3])),
            ColorType::Indexed => {
                let (bits, per_byte) = (usize::from(self.depth), 8 / usize::from(self.depth));
                let mask = ((1u16 << bits) - 1) as u8;
                for i in 0..n {
                    let byte = row.get(i / per_byte).copied().unwrap_or(0);
                    let shift = 8 - bits * (i % per_byte + 1);
                    let index = usize::from((byte >> shift) & mask);
                    // An index past the palette reads black, as libpng and the png crate do.
                    let [r, g, b, a] = self.palette.get(index).copied().unwrap_or([0, 0, 0, 255]);
                    push(r, g, b, a);
                }
            }
        }
    }
}

/// `colour` seen through alpha `a` over white paper: `c a / 255 + (255 - a)`, rounded.
fn over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (u32::from(c), u32::from(a));
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

/// ITU-R 601 luma `0.299 R + 0.587 G + 0.114 B`, rounded; exact for grey (R = G = B).
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_composites_on_white_and_luma_keeps_greys() {
        assert_eq!(over_white(0, 0), 255);
        assert_eq!(over_white(0, 255), 0);
        assert_eq!(over_white(100, 128), 177);
        for v in [0, 1, 127, 254, 255] {
            assert_eq!(luma(v, v, v), v);
        }
        assert_eq!(luma(0, 0, 255), 29);
        assert_eq!(luma(255, 0, 0), 76);
    }

    #[test]
    fn adam7_rows_cover_every_pixel_once() {
        for (w, h) in [(1, 1), (3, 2), (8, 8), (9, 5), (17, 13), (1, 9)] {
            let mut rows = Rows::new(w, h, true);
            let mut seen = vec![0; w * h];
            while !rows.done() {
                let info = Adam7Info::new(rows.pass as u8 + 1, rows.line as u32, w as u32);
                let (y, x0, step, n) = rows.next(&InterlaceInfo::Adam7(info)).unwrap();
                for i in 0..n {
                    seen[y * w + x0 + i * step] += 1;
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{w}x{h}: {seen:?}");
        }
    }
}
