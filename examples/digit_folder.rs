//! Writes a folder of real pictures for `image_folder` to train on: digits from the 10,000
//! bundled with nn, as 28×28 grey PNG files, `OUT/train/<name>/<n>.png` and
//! `OUT/test/<name>/<n>.png`, the classes named `zero` to `nine`.
//!
//! ```sh
//! cargo run --release --example digit_folder -- --out /tmp/digits --per-class 100
//! cargo run --release --example image_folder -- --data-dir /tmp/digits --epochs 1
//! ```
//!
//! The names sort as `eight, five, four, nine, one, seven, six, three, two, zero`, so the class
//! indices an image folder gives them are not the digits: the names travel with the model.

use clap::Parser;
use nn::data::Mnist;
use std::path::{Path, PathBuf};

/// The class folder names, digit 0 first.
const NAMES: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// Writes bundled MNIST digits as a folder of PNG files, one sub-folder per digit.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
struct Cli {
    /// The folder to write (train/ and test/ inside)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Training pictures per digit
    #[arg(long, value_name = "N", default_value_t = 100)]
    per_class: usize,
    /// Test pictures per digit
    #[arg(long, value_name = "N", default_value_t = 20)]
    test_per_class: usize,
}

fn main() -> nn::Result<()> {
    let cli = Cli::parse();
    let mnist = Mnist::bundled()?;
    let train = write(&mnist.train, &cli.out.join("train"), cli.per_class)?;
    let test = write(&mnist.test, &cli.out.join("test"), cli.test_per_class)?;
    println!(
        "wrote {train} training and {test} test pictures into {}",
        cli.out.display()
    );
    Ok(())
}

/// Writes the first `per_class` digits of each class of `data` into `dir/<name>/<n>.png`;
/// returns how many were written.
fn write(data: &nn::Dataset, dir: &Path, per_class: usize) -> nn::Result<usize> {
    let (pixels, labels) = (
        data.pixels().expect("MNIST is pixels"),
        data.labels().expect("MNIST is labelled"),
    );
    let mut counts = [0usize; 10];
    for (digit, &label) in pixels.chunks_exact(784).zip(labels) {
        if counts[label] == per_class {
            continue;
        }
        let folder = dir.join(NAMES[label]);
        std::fs::create_dir_all(&folder).map_err(|e| nn::Error::io("creating", &folder, e))?;
        let path = folder.join(format!("{}.png", counts[label]));
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, 28, 28);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let written = encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(digit));
        written.map_err(|e| nn::Error::io("encoding", &path, std::io::Error::other(e)))?;
        nn::fsutil::atomic_write_bytes(&path, &bytes)?;
        counts[label] += 1;
    }
    Ok(counts.iter().sum())
}
