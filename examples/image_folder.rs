//! Trains a small CNN on a folder of your own pictures, one sub-folder per class, and reports
//! its test accuracy.
//!
//! ```sh
//! cargo run --release --example image_folder -- --data-dir DIR [--size N] [--grey|--rgb] [--augment]
//! ```
//!
//! `DIR` is either `DIR/<class>/<picture>` (PNG or JPEG, in any sub-folders of the class folder;
//! split into training, validation and test pictures by `--seed`), or `DIR/train/<class>/...`
//! with `DIR/test/<class>/...` (and optionally `DIR/val/<class>/...`) beside it, the test
//! pictures held back for the last line. Classes are the folder names in sorted order. Every
//! picture is resized to `--size` × `--size` (stretched, or `--pad` to keep its aspect ratio),
//! made grey or RGB (`--grey`, `--rgb`; by default as stored), and normalised per channel with the
//! training pictures' mean and deviation. `--augment` shifts, rotates and zooms the training
//! pictures at random, differently every epoch (`--flip` adds mirror images: off by default,
//! since they are wrong for digits and text).
//!
//! Writes what mlp_batchnorm writes (`history.csv`, `curves.png`, `model.safetensors` with the
//! class names and how pictures are prepared in its metadata, `optimizer.json`) and
//! `samples.png`, a grid of augmented training pictures; the last line on stdout is
//! `test_accuracy=<fraction>`. `predict --model OUT/model.safetensors pictures...` then prints
//! class names.

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::flags::{OptimFlags, OutFlag, TrainFlags};
use common::folder::Recipe;
use common::nets::FolderCnn;
use common::training::{fit, save_run_with, trainer};
use common::Fraction;
use nn::data::{ImageFolder, ImageFolderOptions, Resize, Storage, Transformed};
use nn::prelude::*;
use nn::vision::{Colour, Compose, Normalize, RandomAffine, RandomHorizontalFlip, Transform};
use std::path::{Path, PathBuf};

/// Trains a small CNN on a folder of pictures (one sub-folder per class) and reports its test
/// accuracy.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("epochs", |a| a.default_value("10")))]
#[command(mut_arg("lr", |a| a.default_value("0.002")))]
#[command(mut_arg("out", |a| a.default_value("out/image_folder")))]
struct Cli {
    /// The folder: DIR/<class>/<picture>, or DIR/train/<class>/... with DIR/test/<class>/...
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Side of the square the pictures are resized to, in pixels (at least 4)
    #[arg(long, value_name = "N", default_value_t = 28, value_parser = clap::value_parser!(u32).range(4..=4096))]
    size: u32,
    /// Make every picture grey
    #[arg(long, conflicts_with = "rgb")]
    grey: bool,
    /// Make every picture RGB
    #[arg(long)]
    rgb: bool,
    /// Keep each picture's aspect ratio, padding it with black (else stretch it to the square)
    #[arg(long)]
    pad: bool,
    /// Decode pictures as their batches are filled instead of once into memory
    #[arg(long)]
    lazy: bool,
    /// Leave out pictures that cannot be read (with a warning) instead of stopping
    #[arg(long)]
    skip_bad_files: bool,
    /// Shift, rotate and zoom the training pictures at random, differently every epoch
    #[arg(long)]
    augment: bool,
    /// With --augment, also mirror half the training pictures left to right
    #[arg(long, requires = "augment")]
    flip: bool,
    /// Share of the pictures held out for validation, when the folder has no val/ folder
    #[arg(long, value_name = "F", default_value = "0.2", allow_hyphen_values = true)]
    valid_fraction: Fraction,
    /// Share of the pictures held out for the test, when the folder has no test/ folder
    #[arg(long, value_name = "F", default_value = "0.2", allow_hyphen_values = true)]
    test_fraction: Fraction,
    #[command(flatten)]
    train: TrainFlags,
    #[command(flatten)]
    optim: OptimFlags,
    #[command(flatten)]
    out: OutFlag,
}

fn main() {
    let cli = Cli::parse();
    common::training::report(run(&cli));
}

fn run(cli: &Cli) -> nn::Result<f32> {
    let out = &cli.out.dir;
    nn::fsutil::prepare_output_dir(out)?;
    let (train, valid, test) = open(cli)?;
    let classes = train.classes().to_vec();
    let [c, h, w] = [
        train.input_shape()[0],
        train.input_shape()[1],
        train.input_shape()[2],
    ];
    println!(
        "{}: {} classes ({}), {} training, {} validation, {} test pictures of {c}x{h}x{w}",
        cli.data_dir.display(),
        classes.len(),
        classes.join(", "),
        train.len(),
        valid.len(),
        test.len()
    );

    let normalize = Normalize::fit(&train)?;
    println!("normalize: {}", normalize.describe());
    let mut augment = Compose::new();
    if cli.augment {
        augment.push(
            RandomAffine::new()
                .degrees(10.0)
                .translate(0.1, 0.1)
                .scale(0.9, 1.1),
        );
        if cli.flip {
            augment.push(RandomHorizontalFlip::default());
        }
        println!("augment: {}", augment.describe());
    }
    let seed = cli.train.seed;
    let train = Transformed::new(&train)?
        .augment(augment)?
        .normalize(normalize.clone())?
        .seed(seed);
    let valid = Transformed::new(&valid)?.normalize(normalize.clone())?;
    let test = Transformed::new(&test)?.normalize(normalize.clone())?;
    write_samples(&train, &out.join("samples.png"))?;

    let mut net = FolderCnn::new(c, classes.len(), &mut seeded(seed));
    println!("{}", nn::summary(&mut net, &[1, c, h, w]));
    let lr = cli.optim.lr.get();
    println!(
        "{} lr={lr} batch_size={} epochs={} seed={seed}",
        cli.optim.optimizer, cli.train.batch_size, cli.train.epochs
    );
    let mut trainer = trainer(&cli.train, &cli.optim, lr);
    let valid_source = (!valid.is_empty()).then_some(&valid as &dyn DataSource);
    let history = fit(&mut trainer, &mut net, &train, valid_source, out)?;
    let evaluation = trainer.evaluate(&mut net, &test)?;
    let recipe = Recipe {
        classes,
        shape: [c, h, w],
        pad: cli.pad,
        normalize,
    };
    save_run_with(out, &history, &mut net, &trainer, &recipe.metadata())?;
    println!("wrote {}", out.join("samples.png").display());
    println!("test_loss={:.4}", evaluation.loss);
    Ok(evaluation.metric("acc").expect("a classifier records accuracy"))
}

/// The training, validation and test pictures: the folder's own train/, val/ and test/ folders
/// where it has them, the rest split off the training pictures by the seed.
fn open(cli: &Cli) -> nn::Result<(ImageFolder, ImageFolder, ImageFolder)> {
    let size = cli.size as usize;
    let mut options = ImageFolderOptions::new(size, size)
        .resize(if cli.pad { Resize::Pad } else { Resize::Stretch })
        .storage(if cli.lazy { Storage::Lazy } else { Storage::Memory })
        .skip_bad_files(cli.skip_bad_files);
    if cli.grey {
        options = options.colour(Colour::Grey);
    } else if cli.rgb {
        options = options.colour(Colour::Rgb);
    }
    let mut rng = seeded(cli.train.seed);
    let (all, valid, test) = if ImageFolder::has_splits(&cli.data_dir) {
        let splits = options.open_splits(&cli.data_dir)?;
        (splits.train, splits.valid, splits.test)
    } else {
        (options.open(&cli.data_dir)?, None, None)
    };
    for folder in std::iter::once(&all).chain(&valid).chain(&test) {
        if let Some(first) = folder.skipped().first() {
            let n = folder.skipped().len();
            eprintln!(
                "warning: skipped {n} unreadable picture{} in {} (the first: {first})",
                if n == 1 { "" } else { "s" },
                folder.root().display()
            );
        }
    }
    let (rest, test) = match test {
        Some(test) => (all, test),
        None => {
            let (rest, test) = all.split_valid(cli.test_fraction.of(all.len()), &mut rng)?;
            (rest, test)
        }
    };
    let (train, valid) = match valid {
        Some(valid) => (rest, valid),
        None => rest.split_valid(cli.valid_fraction.of(rest.len()), &mut rng)?,
    };
    Ok((train, valid, test))
}

/// Writes a grid of the first 32 training pictures as one training batch augments them (epoch
/// 0), the normalisation undone, each pixel shown as 2x2: what the network is shown.
fn write_samples(train: &Transformed<&ImageFolder>, path: &Path) -> nn::Result<()> {
    let n = train.len().min(32);
    let indices: Vec<usize> = (0..n).collect();
    let mut batch = nn::Batch::new();
    train.fill(&indices, &mut batch, nn::data::FillContext::train(0))?;
    let [c, h, w] = [
        train.input_shape()[0],
        train.input_shape()[1],
        train.input_shape()[2],
    ];
    let normalize = train.normalization().expect("normalised");
    let (cols, scale, gap) = (8usize, 2usize, 2usize);
    let rows = n.div_ceil(cols);
    let (gw, gh) = (cols * (w * scale + gap) + gap, rows * (h * scale + gap) + gap);
    let mut grid = vec![64u8; gw * gh * c];
    let pixels = batch.inputs.as_slice().expect("a filled batch is contiguous");
    for (k, sample) in pixels.chunks_exact(c * h * w).enumerate() {
        let (x0, y0) = (
            gap + (k % cols) * (w * scale + gap),
            gap + (k / cols) * (h * scale + gap),
        );
        for ch in 0..c {
            let (m, s) = (normalize.mean()[ch], normalize.std()[ch]);
            for y in 0..h * scale {
                for x in 0..w * scale {
                    let v = sample[ch * h * w + (y / scale) * w + x / scale] * s + m;
                    grid[((y0 + y) * gw + x0 + x) * c + ch] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, gw as u32, gh as u32);
    encoder.set_color(if c == 1 {
        png::ColorType::Grayscale
    } else {
        png::ColorType::Rgb
    });
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&grid));
    written.map_err(|e| nn::Error::io("encoding", path, std::io::Error::other(e)))?;
    nn::fsutil::atomic_write_bytes(path, &bytes)
}
