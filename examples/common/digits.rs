//! Users' pictures of digits: a PNG file read into a 28×28 MNIST digit
//! (`nn::vision::read_mnist_digit`), a model's class probabilities for a set of digits, and
//! `predict`'s report line for each file.

use nn::prelude::*;
use nn::vision::read_mnist_digit;
use std::fmt;
use std::path::{Path, PathBuf};

/// Pixels in an MNIST digit.
pub const PIXELS: usize = 28 * 28;

/// The PNG file at `path` as an MNIST digit. The error names the file and says what is wrong.
///
/// Every PNG colour type is accepted (see `nn::vision::decode_file`); a picture larger than 1024
/// pixels a side is reduced while it is decoded, so a large scan needs megabytes, not gigabytes.
pub fn read_digit(path: &Path) -> Result<[u8; PIXELS], String> {
    read_mnist_digit(path).map_err(|e| e.to_string())
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

impl Prediction {
    /// The line [`Display`](fmt::Display) gives, with each class's name from `classes` in place
    /// of its index (a checkpoint's class names, [`nn::checkpoint::Metadata::classes`]).
    pub fn named(&self, classes: &[String]) -> String {
        let mut line = format!("{}:", self.path.display());
        for (i, &(class, p)) in self.top.iter().enumerate() {
            let name = classes.get(class).map_or_else(|| class.to_string(), Clone::clone);
            line += &format!("{} {name} ({p:.3})", if i == 0 { "" } else { "," });
        }
        line
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

/// One file's top three classes under `net`, or why there are none: the file cannot be read
/// as a digit, or the model's output for it is not a number (a damaged model), which would
/// otherwise print as `NaN` probabilities. Each file is read and predicted on its own, so a file
/// that fails costs nothing to the others.
pub fn predict_file(net: &mut dyn Layer, path: &Path) -> nn::Result<Result<Prediction, String>> {
    let digit = match read_digit(path) {
        Ok(digit) => digit,
        Err(e) => return Ok(Err(e)),
    };
    let probabilities = probabilities(net, &[digit])?;
    let row: Vec<f32> = probabilities.iter().copied().collect();
    if row.iter().any(|p| !p.is_finite()) {
        return Ok(Err(format!(
            "{}: the model's output for this picture is not a number (its probabilities are NaN \
             or infinite), so it predicts nothing; the model's weights are damaged: train it \
             again or load another checkpoint",
            path.display()
        )));
    }
    Ok(Ok(Prediction {
        path: path.to_path_buf(),
        top: top_k(&row, 3),
    }))
}

/// [`predict_file`] for each of `paths`, in order.
pub fn predict_files(net: &mut dyn Layer, paths: &[PathBuf]) -> nn::Result<Vec<Result<Prediction, String>>> {
    paths.iter().map(|path| predict_file(net, path)).collect()
}

/// `predict`'s exit code for these results: 0 if every file was predicted, 1 if any failed.
pub fn exit_code(results: &[Result<Prediction, String>]) -> i32 {
    i32::from(results.iter().any(Result::is_err))
}
