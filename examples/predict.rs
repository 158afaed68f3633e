//! Reads pictures of handwritten digits (PNG files) and prints a trained model's three most
//! probable classes for each.
//!
//! ```sh
//! cargo run --release --example mlp_batchnorm -- --data-dir nn-core/data/mnist-10k
//! cargo run --release --example predict -- --model out/mlp_batchnorm/model.safetensors examples/digits/*.png
//! ```
//!
//! Each picture goes through MNIST's own preparation (`nn::vision::mnist_digit`: grey, white ink
//! on black, cropped, scaled into 20×20, centred by centre of mass in 28×28), so a photo or a
//! drawing in any colours and size works. One line per picture, printed as soon as it is
//! predicted: `<path>: <class> (<prob>), <class> (<prob>), <class> (<prob>)`. A file that cannot
//! be read (damaged, too large, not a PNG, blank) is a one-line error on stderr, and the other
//! files are still predicted. Exit code: 0 if every file was predicted, 1 if some failed, 2 for a
//! usage error.
//!
//! A checkpoint that records class names in its metadata (one written by `image_folder`, or by
//! `nn::checkpoint::save_with_metadata` with `Metadata::with_classes`) prints names instead of
//! indices; one written by `image_folder` also says how its pictures are prepared (size, colour,
//! resizing, normalisation), and `predict` prepares each picture that way instead of as a
//! digit, whatever `--arch` says:
//!
//! ```sh
//! cargo run --release --example image_folder -- --data-dir pets --out out/pets
//! cargo run --release --example predict -- --model out/pets/model.safetensors photo.jpg
//! ```

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::flags::ModelFlags;
use common::folder::Recipe;
use nn::Layer;
use std::path::PathBuf;

/// Prints a trained MNIST model's three most probable classes for each picture of a digit.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
struct Cli {
    #[command(flatten)]
    model: ModelFlags,
    /// Pictures: PNG or JPEG, any size and colours
    #[arg(value_name = "IMAGE.png", required = true)]
    images: Vec<PathBuf>,
}

fn main() {
    let Cli {
        model: ModelFlags { model, arch },
        images,
    } = Cli::parse();
    let fail = |e: String| -> ! {
        eprintln!("error: {e}");
        std::process::exit(1);
    };
    let metadata = nn::checkpoint::read_metadata(&model).unwrap_or_else(|e| fail(e.to_string()));
    let classes = metadata.classes().unwrap_or_else(|e| fail(e.to_string()));
    let recipe =
        Recipe::from_metadata(&metadata).unwrap_or_else(|e| fail(format!("{}: {e}", model.display())));
    let mut net: Box<dyn Layer> = match &recipe {
        Some(recipe) => {
            let mut net = recipe.net();
            nn::load(&mut net, &model).unwrap_or_else(|e| fail(e.to_string()));
            Box::new(net)
        }
        None => common::nets::load(&arch, &model).unwrap_or_else(|e| fail(e.to_string())),
    };
    // File by file: each line is printed as soon as its picture is predicted, and a file that
    // fails (unreadable, damaged, too large) is one error line among the others.
    let mut failed = false;
    for path in &images {
        let predicted = match &recipe {
            Some(recipe) => recipe.predict_file(&mut *net, path),
            None => common::digits::predict_file(&mut *net, path),
        };
        match predicted {
            Ok(Ok(prediction)) => match &classes {
                Some(names) => println!("{}", prediction.named(names)),
                None => println!("{prediction}"),
            },
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                failed = true;
            }
            Err(e) => fail(e.to_string()),
        }
    }
    std::process::exit(i32::from(failed));
}
