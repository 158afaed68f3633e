//! Evaluates a trained checkpoint on the test set: accuracy per class, a confusion matrix and the
//! digits it got most wrong.
//!
//! ```sh
//! cargo run --release --example evaluate -- --model out/mlp_batchnorm/model.safetensors \
//!     --data-dir nn-core/data/mnist-10k
//! ```
//!
//! The checkpoint is `nn::save`'s, or a PyTorch `state_dict` of the same network saved with
//! `safetensors.torch.save_file`. Writes `confusion.png` and `mistakes.png` into `--out`, and
//! with `--onnx FILE` the checkpoint as an ONNX model taking flat `[N, 784]` digits (written
//! first, before the test set is read); the last line on stdout is `test_accuracy=<fraction>`.

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::evaluation::{non_finite_rows, predicted_classes, worst_mistakes, Confusion};
use common::flags::{ModelFlags, OnnxFlag, OutFlag};
use common::{DataFlags, DataSource};
use std::error::Error;
use std::path::Path;

/// The mistakes shown: a 6 × 4 grid.
const MISTAKES: usize = 24;

/// Evaluates a trained checkpoint on the test set: per-class accuracy, confusion.png and
/// mistakes.png.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("out", |a| a.default_value("out/evaluate")))]
struct Cli {
    #[command(flatten)]
    model: ModelFlags,
    /// The test set's source (the training set is not used).
    #[command(flatten)]
    data: DataSource,
    #[command(flatten)]
    out: OutFlag,
    #[command(flatten)]
    onnx: OnnxFlag,
}

fn main() {
    let Cli {
        model: ModelFlags { model, arch },
        data,
        out,
        onnx,
    } = Cli::parse();
    let data = DataFlags {
        source: data,
        valid_fraction: "0".parse().expect("0 is a fraction"),
    };
    common::training::report(run(&arch, &model, &data, &out.dir, &onnx));
}

fn run(
    arch: &str,
    model: &Path,
    data: &DataFlags,
    out: &Path,
    onnx: &OnnxFlag,
) -> Result<f64, Box<dyn Error>> {
    nn::fsutil::prepare_output_dir(out)?;
    onnx.prepare()?;
    let mut net = common::nets::load(arch, model)?;
    // Every architecture takes flat digits here (the CNN reshapes them itself).
    onnx.export(&mut *net, &[common::digits::PIXELS])?;
    let test = common::load_data(data, nn::DEFAULT_SEED)?.test;
    let probabilities = nn::train::predict_proba(&mut *net, &test, 100)?;
    // A NaN row has no argmax worth counting: a damaged model is an error, not an accuracy.
    if let Some((first, count)) = non_finite_rows(&probabilities) {
        return Err(format!(
            "the model's output is not a number (NaN or infinite probabilities) for {count} of {} \
             test images, the first being image {first}; the model's weights are damaged: train \
             it again or load another checkpoint",
            test.len()
        )
        .into());
    }
    let (labels, classes) = (test.labels(), test.classes());
    let (labels, classes) = labels.zip(classes).expect("IDX test sets hold class labels");
    let confusion = Confusion::new(&predicted_classes(&probabilities), labels, classes);
    println!("{}: {} test images\n", model.display(), test.len());
    print!("{}", confusion.per_class_table());

    let files = [out.join("confusion.png"), out.join("mistakes.png")];
    let title = format!(
        "Confusion matrix: {} test images, accuracy {:.4}",
        test.len(),
        confusion.accuracy()
    );
    nn::plot::confusion_matrix(&files[0], &confusion.counts, &title)?;
    let pixels = test.pixels().expect("IDX test sets hold u8 pixels");
    let mistakes = worst_mistakes(&probabilities, labels, MISTAKES);
    let tiles: Vec<(&[u8], String)> = mistakes
        .iter()
        .map(|m| {
            let digit = &pixels[m.index * 784..(m.index + 1) * 784];
            (
                digit,
                format!("{} → {} ({:.3})", m.label, m.predicted, m.probability),
            )
        })
        .collect();
    let caption = format!(
        "The {} test digits most confidently misclassified: true → predicted (probability)",
        tiles.len()
    );
    nn::plot::image_grid(&files[1], &tiles, 6, &caption)?;
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(confusion.accuracy())
}
