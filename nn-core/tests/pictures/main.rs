//! `nn_core::vision`'s PNG decoding on files written byte by byte (writer.rs): every colour type
//! and bit depth, interlaced or not, against the PNG rules computed here; reduction while
//! decoding; limits checked from the header before any allocation, with the heap measured; and
//! damaged files, which are errors, never panics.
//!
//! A binary of its own, because it installs a global allocator that tracks each thread's live
//! and peak heap bytes.

#[path = "../support/tracking.rs"]
mod tracking;
mod writer;

use nn_core::vision::{
    decode_bytes, mnist_digit, read_mnist_digit, Channels, Colour, DecodeOptions, ImageError, Limits, Size,
};
use rand::{Rng, SeedableRng};
use tracking::peak_during;
use writer::{channels, png, repeated_rows};

/// A stored sample of `depth` bits as 8 bits, as PNG viewers show it: 16 bits keep their high
/// byte, grey of 1, 2 or 4 bits is scaled to 0..=255.
fn to8(v: u16, depth: u8) -> u8 {
    match depth {
        16 => (v >> 8) as u8,
        8 => v as u8,
        bits => (u32::from(v) * 255 / ((1 << bits) - 1)) as u8,
    }
}

/// One pixel's colour on white paper, by the PNG rules: `(r, g, b)` after alpha.
fn on_white(rgba: [u8; 4]) -> [u8; 3] {
    let a = u32::from(rgba[3]);
    let over = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
    [over(rgba[0]), over(rgba[1]), over(rgba[2])]
}

fn luma([r, g, b]: [u8; 3]) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

/// A random picture of one PNG layout, with its expected grey and RGB pixels and the chunks
/// (palette, transparency) it needs.
struct Case {
    name: String,
    size: (usize, usize),
    layout: (u8, u8),
    samples: Vec<u16>,
    chunks: Vec<(&'static [u8; 4], Vec<u8>)>,
    rgb: Vec<u8>,
    grey: Vec<u8>,
    stored: Channels,
}

fn case(
    rng: &mut rand::rngs::StdRng,
    (width, height): (usize, usize),
    (colour_type, depth): (u8, u8),
    transparency: bool,
) -> Case {
    let ch = channels(colour_type);
    let top = if colour_type == 3 {
        1u32 << depth.min(8)
    } else {
        1u32 << depth
    };
    let mut samples: Vec<u16> = (0..width * height * ch)
        .map(|_| rng.random_range(0..top) as u16)
        .collect();
    let mut chunks = Vec::new();
    let mut palette = Vec::new();
    let mut key: Option<Vec<u16>> = None;
    if colour_type == 3 {
        // Fewer entries than indices, so that some index lies past the palette (black).
        let entries = (top as usize).clamp(1, 256) - usize::from(top > 2);
        palette = (0..entries)
            .map(|_| [rng.random(), rng.random(), rng.random(), 255u8])
            .collect::<Vec<[u8; 4]>>();
        chunks.push((b"PLTE", palette.iter().flat_map(|p| [p[0], p[1], p[2]]).collect()));
        if transparency {
            let alphas: Vec<u8> = (0..entries.div_ceil(2)).map(|_| rng.random()).collect();
            for (p, &a) in palette.iter_mut().zip(&alphas) {
                p[3] = a;
            }
            chunks.push((b"tRNS", alphas));
        }
    } else if transparency && (colour_type == 0 || colour_type == 2) {
        // The colour of the first pixel is the transparent one (a second pixel shares it).
        let k: Vec<u16> = samples[..ch].to_vec();
        if samples.len() >= 2 * ch {
            let last = samples.len() - ch;
            samples.copy_within(0..ch, last);
        }
        chunks.push((b"tRNS", k.iter().flat_map(|v| v.to_be_bytes()).collect()));
        key = Some(k);
    }
    let rgba: Vec<[u8; 4]> = samples
        .chunks_exact(ch)
        .map(|p| {
            let opaque = |v: u16| to8(v, depth);
            let keyed = key.as_deref() == Some(p);
            match colour_type {
                0 => [
                    opaque(p[0]),
                    opaque(p[0]),
                    opaque(p[0]),
                    if keyed { 0 } else { 255 },
                ],
                2 => [
                    opaque(p[0]),
                    opaque(p[1]),
                    opaque(p[2]),
                    if keyed { 0 } else { 255 },
                ],
                3 => palette.get(usize::from(p[0])).copied().unwrap_or([0, 0, 0, 255]),
                4 => [opaque(p[0]), opaque(p[0]), opaque(p[0]), opaque(p[1])],
                _ => [opaque(p[0]), opaque(p[1]), opaque(p[2]), opaque(p[3])],
            }
        })
        .collect();
    let rgb: Vec<u8> = rgba.iter().flat_map(|&p| on_white(p)).collect();
    let grey = rgba.iter().map(|&p| luma(on_white(p))).collect();
    let alpha = transparency || colour_type == 4 || colour_type == 6;
    let stored = match (colour_type, alpha) {
        (0, false) => Channels::Grey,
        (0 | 4, true) => Channels::GreyAlpha,
        (2 | 3, false) => Channels::Rgb,
        _ => Channels::Rgba,
    };
    Case {
        name: format!(
            "colour type {colour_type}, {depth} bits, {width}x{height}{}",
            if transparency { ", tRNS" } else { "" }
        ),
        size: (width, height),
        layout: (colour_type, depth),
        samples,
        chunks,
        rgb,
        grey,
        stored,
    }
}

fn cases() -> Vec<Case> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let layouts = [
        (0, 1),
        (0, 2),
        (0, 4),
        (0, 8),
        (0, 16),
        (2, 8),
        (2, 16),
        (3, 1),
        (3, 2),
        (3, 4),
        (3, 8),
        (4, 8),
        (4, 16),
        (6, 8),
        (6, 16),
    ];
    let mut out = Vec::new();
    for layout in layouts {
        for size in [(13, 7), (1, 1), (9, 1), (1, 10)] {
            out.push(case(&mut rng, size, layout, false));
            if matches!(layout.0, 0 | 2 | 3) {
                out.push(case(&mut rng, size, layout, true));
            }
        }
    }
    out
}

#[test]
fn every_colour_type_and_depth_decodes_to_the_png_rules_interlaced_or_not() {
    for case in cases() {
        for interlaced in [false, true] {
            let bytes = png(case.size, case.layout, interlaced, &case.samples, &case.chunks);
            for (colour, expected) in [(Colour::Grey, &case.grey), (Colour::Rgb, &case.rgb)] {
                let name = format!("{}, interlaced {interlaced}, {colour:?}", case.name);
                let picture = decode_bytes(&bytes, &DecodeOptions::new(colour))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!((picture.width, picture.height), case.size, "{name}");
                assert_eq!(&picture.pixels, expected, "{name}");
                assert_eq!(picture.stored, case.stored, "{name}");
            }
        }
    }
}

/// The grey mean of each `k` × `k` block (partial at the right and bottom), rounded.
fn blocks(grey: &[u8], (width, height): (usize, usize), k: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for by in (0..height).step_by(k) {
        for bx in (0..width).step_by(k) {
            let (mut sum, mut n) = (0u32, 0u32);
            for y in by..(by + k).min(height) {
                for x in bx..(bx + k).min(width) {
                    sum += u32::from(grey[y * width + x]);
                    n += 1;
                }
            }
            out.push(((sum + n / 2) / n) as u8);
        }
    }
    out
}

#[test]
fn a_reduced_picture_is_the_block_mean_of_the_full_one() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for (layout, interlaced) in [((0, 8), false), ((2, 16), true), ((3, 4), false), ((6, 8), true)] {
        let case = case(&mut rng, (37, 23), layout, true);
        let bytes = png(case.size, case.layout, interlaced, &case.samples, &case.chunks);
        for (side, k) in [(37, 1), (20, 2), (12, 4), (5, 8), (1, 37)] {
            let options = DecodeOptions::new(Colour::Grey).size(Size::Within(side));
            let picture = decode_bytes(&bytes, &options).unwrap();
            assert_eq!(
                (picture.width, picture.height),
                (37usize.div_ceil(k), 23usize.div_ceil(k)),
                "{}",
                case.name
            );
            assert_eq!(
                picture.pixels,
                blocks(&case.grey, case.size, k),
                "{}, within {side}",
                case.name
            );
        }
        let exact = DecodeOptions::new(Colour::Rgb).size(Size::Exact {
            width: 16,
            height: 40,
        });
        let picture = decode_bytes(&bytes, &exact).unwrap();
        assert_eq!(
            (picture.width, picture.height, picture.pixels.len()),
            (16, 40, 16 * 40 * 3)
        );
    }
}

/// Issue 23.2: an 855-byte PNG declaring 100000×100000 made the decoder allocate 40 GB.
#[test]
fn a_header_beyond_the_limits_is_refused_before_anything_is_allocated() {
    let bytes = writer::file(
        writer::header(100_000, 100_000, 6, 8, false),
        &[],
        &[0x78, 0x9c, 0x03, 0x00, 0, 0, 0, 1],
    );
    let (result, peak) = peak_during(|| decode_bytes(&bytes, &DecodeOptions::new(Colour::Grey)));
    let err = result.unwrap_err();
    assert!(matches!(err, ImageError::TooLarge { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "the picture is 100000×100000 pixels, beyond the limit of 32768 pixels per side; fix: scale \
         it down, or raise the limit (vision::Limits)"
    );
    assert!(peak < 64 << 10, "{peak} bytes held");
    // The limit on pixels in all, and limits of one's own.
    let wide = writer::file(writer::header(30_000, 30_000, 0, 8, false), &[], &[]);
    let err = decode_bytes(&wide, &DecodeOptions::new(Colour::Grey)).unwrap_err();
    assert!(
        err.to_string()
            .contains("beyond the limit of 536870912 pixels in all"),
        "{err}"
    );
    let small = Limits {
        max_side: 8,
        max_pixels: 100,
    };
    let case = case(&mut rand::rngs::StdRng::seed_from_u64(1), (9, 1), (0, 8), false);
    let bytes = png(case.size, case.layout, false, &case.samples, &[]);
    let err = decode_bytes(&bytes, &DecodeOptions::new(Colour::Grey).limits(small)).unwrap_err();
    assert!(
        err.to_string()
            .contains("9×1 pixels, beyond the limit of 8 pixels per side"),
        "{err}"
    );
}

/// A `side` × `side` PNG of a "1": a vertical bar, white on black, a tenth of the side wide and
/// three fifths high; compressed to about a thousandth of its pixels.
fn one(side: usize) -> Vec<u8> {
    let black = vec![0u8; side];
    let mut bar = black.clone();
    bar[side * 9 / 20..side * 11 / 20].fill(255);
    repeated_rows(side, side, &[black, bar], |y| {
        usize::from((side / 5..side * 4 / 5).contains(&y))
    })
}

/// Decodes `one(side)` within `within` pixels and as a digit (from a file), returning the heap
/// held at the peak of each.
fn decode_one(side: usize, within: usize) -> (usize, usize) {
    let bytes = one(side);
    let options = DecodeOptions::new(Colour::Grey).size(Size::Within(within));
    let (picture, decoded) = peak_during(|| decode_bytes(&bytes, &options).unwrap());
    let out = side.div_ceil(side.div_ceil(within));
    assert_eq!((picture.width, picture.height), (out, out));
    assert_eq!(picture.pixels[out / 2 * out + out / 2], 255);
    assert_eq!(picture.pixels[out / 10 * out + out / 2], 0);
    let dir = std::env::temp_dir().join(format!("nn-pictures-{side}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("one.png");
    std::fs::write(&path, &bytes).unwrap();
    let (digit, prepared) = peak_during(|| read_mnist_digit(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(digit[14 * 28 + 14], 255);
    (decoded, prepared)
}

/// Reduced while it is decoded, a picture holds its reduced pixels only: 2400×2400 within 300
/// holds 300×300 sums (360 kB) and the decoder's buffers (a few hundred kB), not its 5.8 MB.
#[test]
fn a_reduced_picture_holds_only_its_reduced_pixels() {
    let (decoded, _) = decode_one(2400, 300);
    assert!(decoded < 1 << 20, "{decoded} bytes held");
}

/// Issue 23.2: a legal 20000×20000 PNG cost 2.07 GB (and 3.6 s) decoded whole. Within 1024 it
/// holds 1000×1000 sums; prepared as a digit, a few times that. Hundreds of millions of pixels
/// take minutes in a debug build: `.ci/run` runs this in release.
#[test]
#[ignore = "decodes 400 million pixels: run in release (.ci/run does)"]
fn a_20000_pixel_square_picture_decodes_within_megabytes() {
    let (decoded, prepared) = decode_one(20_000, 1024);
    assert!(decoded < 12 << 20, "{decoded} bytes held");
    assert!(prepared < 48 << 20, "{prepared} bytes held");
}

/// Issue 23.3: png 0.18.1 panics on a palette of 4 bytes (`range end index 3 out of range`)
/// when it expands it; nn expands palettes itself and refuses a length that is not a multiple
/// of 3 as damage.
#[test]
fn a_palette_of_a_length_no_palette_has_is_damage_not_a_panic() {
    for len in [4, 5, 7, 8, 10, 0] {
        let plte: Vec<u8> = (0..len).map(|i| (i * 40) as u8).collect();
        let chunks: Vec<(&[u8; 4], Vec<u8>)> = if len == 0 { vec![] } else { vec![(b"PLTE", plte)] };
        let bytes = png((3, 2), (3, 8), false, &[0, 1, 0, 1, 0, 1], &chunks);
        let err = decode_bytes(&bytes, &DecodeOptions::new(Colour::Grey)).unwrap_err();
        assert!(
            matches!(err, ImageError::Damaged { .. }),
            "palette of {len} bytes: {err}"
        );
    }
    let bytes = png(
        (3, 2),
        (3, 8),
        false,
        &[0, 1, 0, 1, 0, 1],
        &[(b"PLTE", vec![10; 4])],
    );
    let err = decode_bytes(&bytes, &DecodeOptions::new(Colour::Grey)).unwrap_err();
    assert!(
        err.to_string().contains("its palette (PLTE chunk) has 4 bytes"),
        "{err}"
    );
}

#[test]
fn damaged_and_foreign_files_are_errors_saying_what_they_are() {
    let case = case(&mut rand::rngs::StdRng::seed_from_u64(9), (13, 7), (2, 8), false);
    let bytes = png(case.size, case.layout, false, &case.samples, &[]);
    let options = DecodeOptions::new(Colour::Rgb);
    for cut in [3, 8, 20, 33, 40, bytes.len() - 20, bytes.len() - 12] {
        let err = decode_bytes(&bytes[..cut], &options).unwrap_err();
        assert!(
            matches!(err, ImageError::Damaged { .. } | ImageError::Unsupported { .. }),
            "cut at {cut}: {err}"
        );
    }
    let err = decode_bytes(b"\xff\xd8\xff\xe0 JFIF", &options).unwrap_err();
    assert!(err.to_string().starts_with("the JPEG data is damaged ("), "{err}");
    let err = decode_bytes(b"a text file", &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a PNG or JPEG image (it starts with neither the PNG nor the JPEG signature); fix: \
         give a PNG or JPEG file"
    );
}

/// Issue 23.5: a 2000×2000 white sheet with two dots at its corners became a blank digit
/// (predicted `5 (0.653)`): its ink, scaled into 20×20, averaged to nothing.
#[test]
fn ink_that_vanishes_when_scaled_is_an_error() {
    let side = 2000;
    let mut sheet = vec![255u8; side * side];
    for (cx, cy) in [(100, 100), (1900, 1900)] {
        for y in cy - 2..cy + 3 {
            sheet[y * side + cx - 2..y * side + cx + 3].fill(0);
        }
    }
    let err = mnist_digit(side, side, Channels::Grey, &sheet).unwrap_err();
    assert!(matches!(err, ImageError::Faint { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("the ink is too sparse or too thin to make a digit: its 1805×1805-pixel extent"),
        "{err}"
    );
}

/// A progressive JPEG keeps every block's coefficients until its last scan, 2 bytes per sample
/// of each component, beside the pixels it gives. The fuzzer found a 1,631-byte file declaring
/// 19×12,299 pixels that held 2.48 MB, its coefficients (1.77 MB) and pixels (0.70 MB): bounded
/// by the byte per 256 pixels a JPEG must hold, but more than the 768× the fuzzer allowed. This
/// holds decoding to those two and nothing more.
#[test]
fn a_progressive_jpeg_holds_its_coefficients_and_pixels_only() {
    let (width, height) = (19u16, 12_299u16);
    let rgb: Vec<u8> = (0..usize::from(width) * usize::from(height))
        .flat_map(|i| [(i % 251) as u8, 128, 40])
        .collect();
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 30);
    encoder.set_progressive(true);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_1_1);
    encoder
        .encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    let (picture, peak) = peak_during(|| decode_bytes(&bytes, &DecodeOptions::new(Colour::Rgb)).unwrap());
    assert_eq!((picture.width, picture.height), (19, 12_299));
    // Blocks of 8×8 samples, every component at full size (as in the fuzzer's file).
    let padded = 24 * 12_304;
    let pixels = rgb.len();
    let coefficients = 2 * 3 * padded;
    assert!(
        peak > coefficients,
        "{peak} bytes held: the coefficients are no longer counted"
    );
    assert!(
        peak < pixels + coefficients + (256 << 10),
        "{peak} bytes held for {pixels} bytes of pixels and {coefficients} of coefficients"
    );
}
