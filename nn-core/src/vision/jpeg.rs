//! JPEG decoding with zune-jpeg: the header read and checked against the limits before any pixel
//! is decoded, the pixels converted to the colour asked for by the decoder itself (grey is the
//! JPEG's own luma), then reduced to the size asked for.
//!
//! Unlike PNG's, JPEG's pixels come whole (a progressive file refines every pixel in each
//! scan), so a JPEG holds its full-size pixels while it is reduced: the [`Limits`] bound them.
//! The decoder fills a cut-off file with grey rather than failing, so before decoding, the file
//! is walked marker by marker to its end-of-image marker: a file without one is damaged. And a
//! file must hold at least a byte per 256 pixels it declares (a baseline JPEG's least), so that
//! the pixels decoding holds are at most 768 times the file's size. Beside them a progressive
//! file keeps every block's coefficients until its last scan (2 bytes per sample of each
//! component, so up to 2,048 times the file's size for 4 components), and the decoder keeps
//! buffers for one row of blocks, which grow with the width alone (under 1 KiB a column).
//!
//! [`Limits`]: super::Limits

use super::decode::{Channels, DecodeOptions, Header, Picture};
use super::error::ImageError;
use super::reduce::{Plan, Reducer};
use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// The decoder's words for what is wrong, as a damaged-file error.
fn damaged(e: zune_jpeg::errors::DecodeErrors) -> ImageError {
    ImageError::Damaged {
        format: "JPEG",
        reason: e.to_string(),
    }
}

/// A decoder of `reader` producing `colour` pixels, its header read and checked against `options`.
fn open<R: BufRead + Seek>(
    reader: R,
    options: &DecodeOptions,
    out: ColorSpace,
) -> Result<(JpegDecoder<R>, Header), ImageError> {
    // The decoder's own size limits are lifted to JPEG's maximum so that ours, checked below
    // with nn's message, are the ones that apply.
    let decoder_options = DecoderOptions::default()
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX))
        .jpeg_set_out_colorspace(out);
    let mut decoder = JpegDecoder::new_with_options(reader, decoder_options);
    decoder.decode_headers().map_err(damaged)?;
    let (width, height) = decoder.dimensions().expect("the headers were decoded");
    options.requested_limits().check(width as u64, height as u64)?;
    if width == 0 || height == 0 {
        return Err(ImageError::Damaged {
            format: "JPEG",
            reason: format!("its header declares {width}×{height} pixels"),
        });
    }
    let stored = match decoder.input_colorspace() {
        Some(ColorSpace::Luma | ColorSpace::LumaA) => Channels::Grey,
        _ => Channels::Rgb,
    };
    Ok((
        decoder,
        Header {
            width,
            height,
            stored,
        },
    ))
}

/// The header of the JPEG `reader` holds (its signature already seen), checked against the
/// limits of `options`.
pub(crate) fn header(reader: impl BufRead + Seek, options: &DecodeOptions) -> Result<Header, ImageError> {
    open(reader, options, ColorSpace::RGB).map(|(_, header)| header)
}

/// Decodes the JPEG `reader` holds (its signature already seen) as `options` say.
pub(crate) fn decode(
    mut reader: impl BufRead + Seek,
    options: &DecodeOptions,
) -> Result<Picture, ImageError> {
    let start = reader.stream_position()?;
    let header = open(&mut reader, options, ColorSpace::RGB)?.1;
    // The whole file, to walk its markers: within what its pixels could need (three samples
    // each, uncompressed) plus room for metadata, so that a hostile file cannot fill memory.
    let bound = (header.width * header.height * 3 + (1 << 20)) as u64;
    reader.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    reader.take(bound + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > bound {
        return Err(ImageError::Damaged {
            format: "JPEG",
            reason: format!(
                "the file holds more than {bound} bytes for {}×{} pixels",
                header.width, header.height
            ),
        });
    }
    // A JPEG's pixels are all held while decoding, so a small file declaring a huge picture
    // would cost its declared size in memory: every 8×8 block takes at least 2 bits (a DC code
    // and an end-of-block), so a file holds at least a byte per 256 pixels.
    let pixels = header.width * header.height;
    if bytes.len() < pixels / 256 {
        return Err(ImageError::Damaged {
            format: "JPEG",
            reason: format!(
                "it declares {}×{} pixels but holds {} bytes, fewer than the {} such a picture \
                 needs (a byte per 256 pixels)",
                header.width,
                header.height,
                bytes.len(),
                pixels / 256
            ),
        });
    }
    if !ends_with_end_of_image(&bytes) {
        return Err(ImageError::Damaged {
            format: "JPEG",
            reason: "it ends before its end-of-image marker: the file is cut off".into(),
        });
    }
    let channels = options.colour().channels();
    let out = if channels == 1 {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    let (mut decoder, header) = open(Cursor::new(bytes), options, out)?;
    let pixels = decoder.decode().map_err(damaged)?;
    let (width, height) = (header.width, header.height);
    if pixels.len() != width * height * channels {
        return Err(ImageError::Damaged {
            format: "JPEG",
            reason: format!(
                "the decoder gave {} samples for {width}×{height} pixels of {channels}",
                pixels.len()
            ),
        });
    }
    let plan = Plan::new(width, height, options.requested_size());
    let mut reducer = Reducer::new(plan, channels)?;
    for (y, row) in pixels.chunks_exact(width * channels).enumerate() {
        reducer.add_row(y, 0, 1, row);
    }
    Ok(Picture {
        width: plan.out.0,
        height: plan.out.1,
        colour: options.colour(),
        stored: header.stored,
        pixels: reducer.finish(),
    })
}

/// Whether the JPEG `bytes` run from their start-of-image marker through segments (walked by
/// their lengths) and entropy-coded data (skipped to the next marker) to an end-of-image marker.
fn ends_with_end_of_image(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let mut i = 2; // after the start-of-image marker
    while i + 1 < n {
        if bytes[i] != 0xff {
            return false;
        }
        let marker = bytes[i + 1];
        match marker {
            0xd9 => return true,
            // A fill byte before a marker; restart markers and TEM have no length.
            0xff => {
                i += 1;
                continue;
            }
            0xd0..=0xd7 | 0x01 => {
                i += 2;
                continue;
            }
            _ => {}
        }
        if i + 3 >= n {
            return false;
        }
        let length = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if length < 2 {
            return false;
        }
        i += 2 + length;
        if marker == 0xda {
            // Entropy-coded data: 0xff is followed by a stuffed 0x00 or a restart marker, until
            // the next true marker.
            while i + 1 < n
                && !(bytes[i] == 0xff && bytes[i + 1] != 0x00 && !(0xd0..=0xd7).contains(&bytes[i + 1]))
            {
                i += 1;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use crate::vision::{decode_bytes, Channels, Colour, DecodeOptions, ImageError, Limits, Size};
    use jpeg_encoder::{ColorType, Encoder};

    /// A `width` × `height` JPEG at quality 100 of a smooth RGB gradient (or its grey version).
    fn jpeg(width: u16, height: u16, grey: bool) -> (Vec<u8>, Vec<u8>) {
        let (w, h) = (width as usize, height as usize);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 255 / w) as u8, (y * 255 / h) as u8, 128]
            })
            .collect();
        let (pixels, colour) = if grey {
            (rgb.chunks(3).map(|p| p[0]).collect(), ColorType::Luma)
        } else {
            (rgb, ColorType::Rgb)
        };
        let mut bytes = Vec::new();
        Encoder::new(&mut bytes, 100)
            .encode(&pixels, width, height, colour)
            .unwrap();
        (bytes, pixels)
    }

    #[test]
    fn colour_and_grey_jpegs_decode_close_to_what_was_encoded() {
        let (bytes, rgb) = jpeg(40, 30, false);
        let picture = decode_bytes(&bytes, &DecodeOptions::new(Colour::Rgb)).unwrap();
        assert_eq!(
            (picture.width, picture.height, picture.stored),
            (40, 30, Channels::Rgb)
        );
        let worst = picture
            .pixels
            .iter()
            .zip(&rgb)
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap();
        assert!(worst <= 8, "{worst}");
        let (bytes, grey) = jpeg(40, 30, true);
        let options = DecodeOptions::new(Colour::Grey).size(Size::Exact {
            width: 20,
            height: 15,
        });
        let picture = decode_bytes(&bytes, &options).unwrap();
        assert_eq!(
            (picture.width, picture.height, picture.stored),
            (20, 15, Channels::Grey)
        );
        // Each pixel the mean of a 2x2 block of the original.
        let mean = |x: usize, y: usize| {
            let at = |dx, dy| f32::from(grey[(2 * y + dy) * 40 + 2 * x + dx]);
            (at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4.0
        };
        assert!((f32::from(picture.pixels[7 * 20 + 9]) - mean(9, 7)).abs() <= 4.0);
    }

    #[test]
    fn a_cut_or_damaged_jpeg_is_an_error_never_a_panic_or_a_grey_picture() {
        let (bytes, _) = jpeg(24, 16, false);
        let options = DecodeOptions::new(Colour::Rgb);
        for cut in (3..bytes.len()).step_by(7) {
            let err = decode_bytes(&bytes[..cut], &options).unwrap_err();
            assert!(
                matches!(err, ImageError::Damaged { format: "JPEG", .. }),
                "cut at {cut}: {err}"
            );
        }
        for i in (2..bytes.len()).step_by(5) {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x5a;
            let _ = decode_bytes(&flipped, &options);
        }
    }

    #[test]
    fn a_small_file_declaring_a_huge_picture_is_refused_before_its_pixels_are_held() {
        let (mut bytes, _) = jpeg(16, 16, true);
        // The start-of-frame segment (0xffc0): height and width follow its length and precision.
        let sof = bytes.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        bytes[sof + 5..sof + 9].copy_from_slice(&[0x4e, 0x20, 0x4e, 0x20]); // 20000 × 20000
        let err = decode_bytes(&bytes, &DecodeOptions::new(Colour::Grey)).unwrap_err();
        assert!(
            err.to_string().contains("declares 20000×20000 pixels but holds"),
            "{err}"
        );
    }

    #[test]
    fn limits_are_checked_from_the_header() {
        let (bytes, _) = jpeg(40, 30, false);
        let options = DecodeOptions::new(Colour::Rgb).limits(Limits {
            max_side: 32,
            max_pixels: 1 << 20,
        });
        let err = decode_bytes(&bytes, &options).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the picture is 40×30 pixels, beyond the limit of 32 pixels per side; fix: scale it \
             down, or raise the limit (vision::Limits)"
        );
    }
}
