//! `predict`'s logic (examples/common/digits.rs) on the committed pictures of digits
//! (examples/digits/, drawn by tools/make_digit_pictures.py) with the committed model
//! (examples/models/mlp_mnist10k.safetensors, trained by `mlp_batchnorm` on the 10k MNIST subset).

use crate::common;

use common::digits::{exit_code, predict_file, predict_files, read_digit, top_k, Prediction};
use std::path::{Path, PathBuf};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/models/mlp_mnist10k.safetensors"
);
const DIGITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/digits");

/// The committed pictures, sorted; each file name starts with the digit drawn.
fn pictures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(DIGITS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    paths.sort();
    paths
}

fn drawn(path: &Path) -> usize {
    let name = path.file_name().unwrap().to_string_lossy();
    name[..1].parse().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nn-test-predict-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_committed_picture_is_read_in_its_own_format_and_predicted_as_the_digit_drawn() {
    let paths = pictures();
    assert_eq!(paths.len(), 20, "two pictures in each of ten styles");
    let mut net = common::nets::load("mlp", Path::new(MODEL)).unwrap();
    let results = predict_files(&mut *net, &paths).unwrap();
    for (path, result) in paths.iter().zip(&results) {
        let prediction = result.as_ref().unwrap();
        assert_eq!(&prediction.path, path);
        assert_eq!(prediction.top.len(), 3);
        assert_eq!(prediction.top[0].0, drawn(path), "{prediction}");
        assert!(prediction.top[0].1 > 0.5, "{prediction}");
    }
    assert_eq!(exit_code(&results), 0);
}

#[test]
fn a_file_that_cannot_be_read_is_an_error_naming_it_and_the_others_are_still_predicted() {
    let dir = temp_dir("bad");
    let not_png = dir.join("notes.png");
    std::fs::write(&not_png, "a text file, not a picture").unwrap();
    let missing = dir.join("missing.png");
    // A blank picture decodes but holds no digit.
    let blank = dir.join("blank.png");
    let mut encoder = png::Encoder::new(std::fs::File::create(&blank).unwrap(), 8, 8);
    encoder.set_color(png::ColorType::Grayscale);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&[255; 64])
        .unwrap();
    let good = pictures().into_iter().find(|p| drawn(p) == 7).unwrap();

    let mut net = common::nets::load("mlp", Path::new(MODEL)).unwrap();
    let paths = [not_png.clone(), good.clone(), missing.clone(), blank.clone()];
    let results = predict_files(&mut *net, &paths).unwrap();
    let error = |i: usize| results[i].clone().unwrap_err();
    assert!(
        error(0).starts_with(&format!("{}: not a PNG or JPEG image", not_png.display())),
        "{}",
        error(0)
    );
    assert_eq!(results[1].as_ref().unwrap().top[0].0, 7);
    assert!(
        error(2).starts_with(&format!("{}: cannot open", missing.display())),
        "{}",
        error(2)
    );
    assert!(
        error(3).starts_with(&format!("{}: the picture is blank", blank.display())),
        "{}",
        error(3)
    );
    assert_eq!(exit_code(&results), 1);
    // None readable: still a report per file, not a failure of the whole run.
    let results = predict_files(&mut *net, &[missing]).unwrap();
    assert!(results[0].is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_report_line_lists_the_top_three_classes_with_their_probabilities() {
    let top = top_k(&[0.05, 0.6, 0.0, 0.3, 0.05], 3);
    assert_eq!(
        top,
        vec![(1, 0.6), (3, 0.3), (0, 0.05)],
        "ties keep the lower class first"
    );
    let line = Prediction {
        path: "a/b.png".into(),
        top,
    }
    .to_string();
    assert_eq!(line, "a/b.png: 1 (0.600), 3 (0.300), 0 (0.050)");
}

#[test]
fn sixteen_bit_and_palette_pictures_decode_like_their_eight_bit_versions() {
    // One committed picture re-encoded as 16-bit grey and as a palette image.
    let dir = temp_dir("formats");
    let source = pictures()
        .into_iter()
        .find(|p| p.ends_with("5-black-on-white.png"))
        .unwrap();
    let reference = read_digit(&source).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&source).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut grey = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut grey).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width, info.height);
    let write = |name: &str, color, depth, data: &[u8], palette: Option<Vec<u8>>| {
        let path = dir.join(name);
        let mut encoder = png::Encoder::new(std::fs::File::create(&path).unwrap(), w, h);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if let Some(p) = palette {
            encoder.set_palette(p);
        }
        encoder.write_header().unwrap().write_image_data(data).unwrap();
        read_digit(&path).unwrap()
    };
    let sixteen: Vec<u8> = grey.iter().flat_map(|&v| [v, v]).collect(); // v * 257, big-endian
    assert_eq!(
        write(
            "16.png",
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &sixteen,
            None
        ),
        reference
    );
    let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
    assert_eq!(
        write(
            "p.png",
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            &grey,
            Some(palette)
        ),
        reference
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A PNG file from its chunks, CRCs computed here (IHDR, then `chunks`, then IEND).
fn png_file(ihdr: [u8; 13], chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    let all = std::iter::once((b"IHDR", ihdr.to_vec()))
        .chain(chunks.iter().map(|(k, d)| (*k, d.clone())))
        .chain(std::iter::once((b"IEND", vec![])));
    for (kind, data) in all {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut typed = kind.to_vec();
        typed.extend_from_slice(&data);
        out.extend_from_slice(&typed);
        out.extend_from_slice(&crc32(&typed).to_be_bytes());
    }
    out
}

/// An IHDR: width, height, bit depth, colour type, no interlacing.
fn ihdr(width: u32, height: u32, depth: u8, colour_type: u8) -> [u8; 13] {
    let mut h = [0; 13];
    h[..4].copy_from_slice(&width.to_be_bytes());
    h[4..8].copy_from_slice(&height.to_be_bytes());
    h[8] = depth;
    h[9] = colour_type;
    h
}

/// Issue 23.2 and 23.3: an 855-byte PNG declaring 100000×100000 aborted predict allocating 40 GB,
/// a 4-byte palette panicked inside the decoder (exit 101), and since every file was read before
/// any was predicted, the good files beside them were lost too. Each is now its own error.
#[test]
fn a_huge_header_and_a_broken_palette_are_errors_and_the_files_beside_them_are_predicted() {
    let dir = temp_dir("hostile");
    let huge = dir.join("huge.png");
    // A zlib stream of one empty final block: the decoder never gets that far.
    let idat = vec![0x78, 0x9c, 0x03, 0x00, 0, 0, 0, 1];
    std::fs::write(
        &huge,
        png_file(ihdr(100_000, 100_000, 8, 6), &[(b"IDAT", idat.clone())]),
    )
    .unwrap();
    let palette = dir.join("palette.png");
    let chunks = [(b"PLTE", vec![0, 0, 0, 255]), (b"IDAT", idat)];
    std::fs::write(&palette, png_file(ihdr(1, 1, 8, 3), &chunks)).unwrap();
    let seven = pictures().into_iter().find(|p| drawn(p) == 7).unwrap();
    let four = pictures().into_iter().find(|p| drawn(p) == 4).unwrap();

    let mut net = common::nets::load("mlp", Path::new(MODEL)).unwrap();
    let paths = [seven.clone(), huge.clone(), palette.clone(), four.clone()];
    let results = predict_files(&mut *net, &paths).unwrap();
    assert_eq!(results[0].as_ref().unwrap().top[0].0, 7);
    assert_eq!(results[3].as_ref().unwrap().top[0].0, 4);
    let huge_err = results[1].clone().unwrap_err();
    assert_eq!(
        huge_err,
        format!(
            "{}: the picture is 100000×100000 pixels, beyond the limit of 32768 pixels per side; \
             fix: scale it down, or raise the limit (vision::Limits)",
            huge.display()
        )
    );
    let palette_err = results[2].clone().unwrap_err();
    assert!(
        palette_err.starts_with(&format!(
            "{}: the PNG data is damaged (its palette (PLTE chunk) has 4 bytes",
            palette.display()
        )),
        "{palette_err}"
    );
    assert_eq!(exit_code(&results), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Issue 23.4: with a NaN in `fc3.bias`, predict printed `0 (NaN)` and exited 0. Loading now
/// refuses the file; a model that computes NaN anyway gets an error for each picture.
#[test]
fn a_model_whose_output_is_not_a_number_predicts_nothing() {
    let dir = temp_dir("nan");
    let mut net = common::nets::load("mlp", Path::new(MODEL)).unwrap();
    nn::for_each_param(&mut *net, |name, mut p| {
        if name == "fc3.bias" {
            p.value[[0]] = f32::NAN;
        }
    });
    let broken = dir.join("nan.safetensors");
    nn::save(&mut *net, &broken).unwrap();
    let err = common::nets::load("mlp", &broken)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("tensor `fc3.bias` holds NaN at index [0]"), "{err}");

    let seven = pictures().into_iter().find(|p| drawn(p) == 7).unwrap();
    let err = predict_file(&mut *net, &seven).unwrap().unwrap_err();
    assert!(
        err.starts_with(&format!(
            "{}: the model's output for this picture is not a number",
            seven.display()
        )),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
