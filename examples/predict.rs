//! Reads pictures of handwritten digits (PNG files) and prints a trained model's three most
//! probable classes for each.
//!
//! ```sh
//! cargo run --release --example mlp_batchnorm -- --data-dir nn-core/data/mnist-10k
//! cargo run --release --example predict -- --model out/mlp_batchnorm/model.safetensors examples/digits/*.png
//! ```
//!
//! Each picture goes through MNIST's own preparation (`nn::data::mnist_digit`: grey, white ink on
//! black, cropped, scaled into 20×20, centred by centre of mass in 28×28), so a photo or a drawing
//! in any colours and size works. One line per picture:
//! `<path>: <class> (<prob>), <class> (<prob>), <class> (<prob>)`. A file that cannot be read is
//! a one-line error on stderr, and the other files are still predicted. Exit code: 0 if every
//! file was predicted, 1 if some failed, 2 for a usage error.

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::flags::ModelFlags;
use std::path::PathBuf;

/// Prints a trained MNIST model's three most probable classes for each picture of a digit.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
struct Cli {
    #[command(flatten)]
    model: ModelFlags,
    /// Pictures of digits: PNG, any size and colours
    #[arg(value_name = "IMAGE.png", required = true)]
    images: Vec<PathBuf>,
}

fn main() {
    let Cli {
        model: ModelFlags { model, arch },
        images,
    } = Cli::parse();
    let results = match common::nets::load(&arch, &model)
        .and_then(|mut net| common::digits::predict_files(&mut *net, &images))
    {
        Ok(results) => results,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    for result in &results {
        match result {
            Ok(prediction) => println!("{prediction}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    std::process::exit(common::digits::exit_code(&results));
}
