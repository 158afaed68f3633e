//! An autoencoder on MNIST: 784 -> 128 -> 32 -> 128 -> 784 with ReLU and a sigmoid output, trained
//! to reconstruct its input through the 32-number code, with binary cross-entropy (the sigmoid
//! fused into `BceWithLogitsLoss`, the stable form) or mean squared error. The dataset's targets
//! are its own inputs (`Dataset::inputs_as_targets`): the pixels are kept once.
//!
//! ```sh
//! cargo run --release --example autoencoder                      # MNIST: MNIST_DIR, cache or download
//! cargo run --release --example autoencoder -- --loss mse --data-dir nn-core/data/mnist-10k
//! ```
//!
//! Writes `history.csv`, `curves.png`, `model.safetensors`, `optimizer.json` and
//! `reconstructions.png` (test digits above, their reconstructions below) into `--out`; prints
//! `baseline_loss=<value>` (the loss of predicting the mean training image for every test image)
//! and ends with `test_loss=<value>`. `tools/autoencoder_twin.py` trains the same network with
//! the same settings in PyTorch, for comparison.

#[path = "common/mod.rs"]
mod common;

use clap::builder::PossibleValuesParser;
use clap::Parser;
use common::flags::{OptimFlags, OutFlag, TrainFlags};
use common::training::{fit, save_run, trainer};
use common::DataFlags;
use nn::data::Standardizer;
use nn::prelude::*;
use std::path::Path;

/// Encoder, code and decoder; `out` is the sigmoid for MSE, and `None` for BCE, whose loss
/// applies the sigmoid itself.
#[derive(Sequential)]
pub struct Autoencoder {
    pub enc1: Linear,
    pub act1: Relu,
    pub enc2: Linear,
    pub act2: Relu,
    pub dec1: Linear,
    pub act3: Relu,
    pub dec2: Linear,
    pub out: Option<Sigmoid>,
}

impl Autoencoder {
    /// 784 -> 128 -> 32 -> 128 -> 784, He-initialised weights from `rng`; a sigmoid layer at the
    /// end unless the loss applies it (`sigmoid_in_loss`).
    pub fn new(rng: &mut StdRng, sigmoid_in_loss: bool) -> Self {
        Autoencoder {
            // The input is data, which needs no gradient: skip that product.
            enc1: Linear::new(784, 128, Init::He, rng).with_input_grad(false),
            act1: Relu::new(),
            enc2: Linear::new(128, 32, Init::He, rng),
            act2: Relu::new(),
            dec1: Linear::new(32, 128, Init::He, rng),
            act3: Relu::new(),
            dec2: Linear::new(128, 784, Init::Xavier, rng),
            out: (!sigmoid_in_loss).then(Sigmoid::new),
        }
    }
}

/// Digits shown in `reconstructions.png`.
const SHOWN: usize = 10;

/// Trains an MNIST autoencoder (784-128-32-128-784, sigmoid output) with BCE or MSE and reports
/// its test reconstruction loss beside predicting the mean image.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("epochs", |a| a.default_value("10")))]
#[command(mut_arg("lr", |a| a.help(
    "Learning rate (default: 0.001 for adam/adamw/rmsprop, 0.01 for momentum/nesterov/adagrad, 0.1 for sgd)"
)))]
#[command(mut_arg("schedule", |a| a.default_value("constant")))]
#[command(mut_arg("out", |a| a.default_value("out/autoencoder")))]
struct Cli {
    /// Reconstruction loss: bce (binary cross-entropy on the sigmoid output) or mse
    #[arg(long, value_name = "NAME", default_value = "bce",
          value_parser = PossibleValuesParser::new(["bce", "mse"]))]
    loss: String,
    #[command(flatten)]
    data: DataFlags,
    #[command(flatten)]
    train: TrainFlags,
    #[command(flatten)]
    optim: OptimFlags,
    #[command(flatten)]
    out: OutFlag,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = cli.optim.check_patience::<Cli>(cli.data.valid_fraction.value()) {
        e.exit();
    }
    let bce = cli.loss == "bce";
    let loss: Box<dyn Loss> = if bce {
        Box::new(BceWithLogitsLoss::new())
    } else {
        Box::new(MseLoss::new())
    };
    match run(&cli, loss, bce) {
        Ok(test_loss) => println!("test_loss={test_loss:.4}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

fn run(cli: &Cli, mut loss: Box<dyn Loss>, bce: bool) -> nn::Result<f32> {
    let (t, out) = (&cli.train, &cli.out.dir);
    nn::fsutil::prepare_output_dir(out)?;
    let mut net = Autoencoder::new(&mut nn::seeded(t.seed), bce);
    println!("{}", nn::summary(&mut net, &[1, 784]));
    let data = common::load_data(&cli.data, t.seed)?;
    let test_labels = data.test.labels().map(<[usize]>::to_vec).unwrap_or_default();
    let (train, valid, test) = (
        data.train.inputs_as_targets(),
        data.valid.inputs_as_targets(),
        data.test.inputs_as_targets(),
    );
    println!(
        "{}: {} training, {} validation, {} test images, each its own target",
        data.name,
        train.len(),
        valid.len(),
        test.len()
    );
    let lr = cli.optim.lr.or(common::default_lr(&cli.optim.optimizer));
    println!(
        "{} {} lr={lr} batch_size={} epochs={} seed={}",
        loss.name(),
        cli.optim.optimizer,
        t.batch_size,
        t.epochs,
        t.seed
    );

    // The baseline: every test image predicted as the mean training image.
    let mean = Standardizer::fit_features(&train).mean().to_vec();
    let baseline = constant_loss(&mut *loss, &mean, bce, &test, t.batch_size)?;
    println!("baseline_loss={baseline:.4}");

    let mut trainer = trainer(t, &cli.optim, lr).loss(loss);
    let valid = (!valid.is_empty()).then_some(&valid as &dyn DataSource);
    let history = fit(&mut trainer, &mut net, &train, valid, out)?;
    let evaluation = trainer.evaluate(&mut net, &test)?;
    save_run(out, &history, &mut net, &trainer)?;
    let png = out.join("reconstructions.png");
    draw(&png, &mut net, &test, &test_labels, bce)?;
    println!("wrote {}", png.display());
    Ok(evaluation.loss)
}

/// The mean loss over `test` of predicting `mean` (pixels in [0, 1]) for every image, as the
/// trainer averages it: for BCE the loss takes logits, so the mean goes in as `logit(mean)`,
/// kept 1e-6 away from 0 and 1 (a pixel that is 0 in every training image would be -inf).
fn constant_loss(
    loss: &mut dyn Loss,
    mean: &[f32],
    bce: bool,
    test: &Dataset,
    batch: usize,
) -> nn::Result<f32> {
    let row: Vec<f32> = if bce {
        mean.iter()
            .map(|&m| {
                let m = m.clamp(1e-6, 1.0 - 1e-6);
                (m / (1.0 - m)).ln()
            })
            .collect()
    } else {
        mean.to_vec()
    };
    let (mut sum, mut seen) = (0f64, 0usize);
    let mut batches = test.batches_in_order(batch);
    while let Some(b) = batches.next_batch()? {
        let output = Tensor::from_shape_fn(vec![b.len(), row.len()], |i| row[i[1]]);
        sum += f64::from(loss.forward(output, b.targets())) * b.len() as f64;
        seen += b.len();
    }
    Ok((sum / seen as f64) as f32)
}

/// Draws the first test digits (above) and their reconstructions (below) into `path`.
fn draw(path: &Path, net: &mut dyn Layer, test: &Dataset, labels: &[usize], bce: bool) -> nn::Result<()> {
    let n = SHOWN.min(test.len());
    let first = test.subset(&(0..n).collect::<Vec<_>>())?;
    let mut outputs = nn::train::predict(net, &first, n.max(1))?;
    if bce {
        // The network ends in logits; the sigmoid is the loss's.
        outputs.mapv_inplace(|v| 1.0 / (1.0 + (-v).exp()));
    }
    let originals = first.pixels().expect("MNIST holds u8 pixels");
    let reconstructed: Vec<u8> = outputs
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let mut tiles: Vec<(&[u8], String)> = Vec::with_capacity(2 * n);
    for i in 0..n {
        let label = labels.get(i).map_or(String::new(), |l| format!("digit {l}"));
        tiles.push((&originals[i * 784..(i + 1) * 784], label));
    }
    for i in 0..n {
        tiles.push((&reconstructed[i * 784..(i + 1) * 784], "reconstructed".into()));
    }
    let caption =
        format!("{n} test digits (top) and their reconstructions through a 32-number code (bottom)");
    nn::plot::image_grid(path, &tiles, n.max(1), &caption)
}
