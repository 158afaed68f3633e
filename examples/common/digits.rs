//! Users' pictures of digits: a PNG file read into a 28×28 MNIST digit (`nn::data::mnist_digit`),
//! a model's class probabilities for a set of digits, and `predict`'s report line for each file.

use nn::data::{mnist_digit, Channels};
use nn::prelude::*;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Pixels in an MNIST digit.
pub const PIXELS: usize = 28 * 28;

/// The PNG file at `path` as an MNIST digit. The error names the file and says what is wrong.
pub fn read_digit(path: &Path) -> Result<[u8; PIXELS], String> {
    let fail = |why: String| format!("{}: {why}", path.display());
    let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let picture = decode_png(BufReader::new(file), 64 << 20).map_err(fail)?;
    mnist_digit(picture.width, picture.height, picture.channels, &picture.samples)
        .map_err(|e| fail(e.to_string()))
}

/// A decoded picture: its size, channels and 8-bit samples, row after row.
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub channels: Channels,
    pub samples: Vec<u8>,
}

/// Decodes the PNG data `source` gives, refusing a picture whose decoded samples would take more
/// than `max_bytes` (its header is read first: a small file cannot claim a huge buffer). The
/// error says what is wrong.
///
/// Every PNG colour type is accepted: palette and grey images of under 8 bits are expanded, a
/// transparent colour (`tRNS`) becomes alpha, and 16-bit samples are reduced to 8 bits (the
/// digit is 8-bit, so the lost precision changes no output level by more than rounding).
pub fn decode_png(
    source: impl std::io::BufRead + std::io::Seek,
    max_bytes: usize,
) -> Result<Picture, String> {
    let mut decoder = png::Decoder::new_with_limits(source, png::Limits { bytes: max_bytes });
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("not a readable PNG image ({e}); fix: give a PNG file"))?;
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    let size = reader
        .output_buffer_size()
        .filter(|&size| size <= max_bytes)
        .ok_or_else(|| format!("the image is too large to decode: {width}x{height} pixels"))?;
    let mut samples = vec![0; size];
    let frame = reader
        .next_frame(&mut samples)
        .map_err(|e| format!("the PNG data is damaged ({e})"))?;
    samples.truncate(frame.buffer_size());
    let channels = match frame.color_type {
        png::ColorType::Grayscale => Channels::Grey,
        png::ColorType::GrayscaleAlpha => Channels::GreyAlpha,
        png::ColorType::Rgb => Channels::Rgb,
        png::ColorType::Rgba => Channels::Rgba,
        // `normalize_to_color8` expands palettes, so this is a decoder that broke its promise.
        png::ColorType::Indexed => return Err("palette image was not expanded".into()),
    };
    Ok(Picture {
        width: frame.width as usize,
        height: frame.height as usize,
        channels,
        samples,
    })
}

/// The class probabilities `net` gives each digit, `[digits.len(), 10]`: the digits as a tensor
/// of inputs (pixels / 255, as MNIST's batches are filled), which needs no labels.
pub fn probabilities(net: &mut dyn Layer, digits: &[[u8; PIXELS]]) -> nn::Result<Tensor> {
    let pixels = digits.iter().flatten().map(|&p| f32::from(p) / 255.0).collect();
    let inputs = Tensor::from_shape_vec(vec![digits.len(), PIXELS], pixels).expect("PIXELS per digit");
    nn::train::predict_proba(net, &inputs, 100)
}

/// One file's result: its most probable classes, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The picture's file.
    pub path: PathBuf,
    /// `(class, probability)`, most probable first.
    pub top: Vec<(usize, f32)>,
}

impl fmt::Display for Prediction {
    /// `<path>: <class> (<prob>), <class> (<prob>), <class> (<prob>)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.path.display())?;
        for (i, (class, p)) in self.top.iter().enumerate() {
            write!(f, "{} {class} ({p:.3})", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

/// The `k` largest entries of `probabilities` as `(index, value)`, largest first (the lower index
/// first on ties).
pub fn top_k(probabilities: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}

/// Each file's top three classes under `net`, or why the file could not be read; in the order of
/// `paths`. A file that fails does not stop the others.
pub fn predict_files(net: &mut dyn Layer, paths: &[PathBuf]) -> nn::Result<Vec<Result<Prediction, String>>> {
    let digits: Vec<Result<[u8; PIXELS], String>> = paths.iter().map(|p| read_digit(p)).collect();
    let readable: Vec<[u8; PIXELS]> = digits.iter().filter_map(|d| d.as_ref().ok().copied()).collect();
    let probabilities = probabilities(net, &readable)?;
    let mut rows = probabilities.rows().into_iter();
    Ok(paths
        .iter()
        .zip(digits)
        .map(|(path, digit)| {
            digit.map(|_| {
                let row = rows.next().expect("one row per readable digit");
                let row: Vec<f32> = row.iter().copied().collect();
                Prediction {
                    path: path.clone(),
                    top: top_k(&row, 3),
                }
            })
        })
        .collect())
}

/// `predict`'s exit code for these results: 0 if every file was predicted, 1 if any failed.
pub fn exit_code(results: &[Result<Prediction, String>]) -> i32 {
    i32::from(results.iter().any(Result::is_err))
}
