//! Benchmark: trains the standard workload C and prints its speed, for side-by-side comparison
//! with PyTorch (`bench/compare.sh --workload cnn`, docs/PERFORMANCE.md).
//!
//! C: Conv2d(1 -> 32, 3x3) -> BatchNorm2d -> ReLU -> MaxPool2d(2) -> Conv2d(32 -> 64, 3x3) ->
//! BatchNorm2d -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(1600 -> 10); He init, zero biases,
//! softmax cross-entropy, Adam (lr 1e-3), batch 100, the first 50,000 MNIST training images per
//! epoch, f32, 2 threads. Each ReLU is fused into the BatchNorm2d before it
//! (`BatchNorm2d::with_relu`: the same function to the bit, one pass less over the activations).
//! After one warm-up epoch it prints one line per timed epoch, then
//! inference (Eval forward of the 10,000 test images as one batch), and last the line
//! `median_epoch_s=<f> samples_per_s=<f> infer_samples_per_s=<f>`.
//!
//! ```sh
//! cargo run --release --example bench_cnn -- --data-dir DIR   # DIR: the four MNIST IDX files
//! cargo run --release --example bench_cnn -- --data-dir DIR --profile true   # where the time goes
//! cargo run --release --example bench_cnn -- --samples 2000 --infer-samples 1000   # synthetic
//! cargo run --release --example bench_cnn -- --data-dir DIR --augment   # augmentation's cost
//! ```
//!
//! `--augment` follows every timed epoch with one on the same images shifted, rotated and zoomed
//! as their batches are filled (cnn_mnist's `--augment`: one bilinear warp per image, on nn's
//! threads), and prints the extra time as a share of a plain step, measured in the same run:
//! `augment_cost_fill=<%> augment_cost_epoch=<%> augment_cost_cpu=<%>`: the batch fill's extra
//! wall time per step, the epochs' (noisy on a shared machine), and the fill's extra CPU time of
//! the calling thread (Linux; with `--threads 1` the whole step's work, unaffected by other
//! programs on the machine).

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::bench::{image_data, Flop, Setup, TimedNet};
use common::flags::{BenchFlags, WorkloadFlags};
use common::timed::{Rows, Timed};
use nn::data::Transformed;
use nn::prelude::*;

/// The network of C.
#[derive(Sequential)]
struct Cnn {
    conv1: Timed<Conv2d>,
    /// BatchNorm2d then ReLU, fused.
    bn1: Timed<BatchNorm2d>,
    pool1: Timed<MaxPool2d>,
    conv2: Timed<Conv2d>,
    bn2: Timed<BatchNorm2d>,
    pool2: Timed<MaxPool2d>,
    flat: Timed<Flatten>,
    fc: Timed<Linear>,
}

/// Multiply-adds of one image's forward: conv1, conv2, fc. Backward does twice as many, less
/// conv1's input gradient, which is skipped.
const FORWARD_MACS: [usize; 3] = [26 * 26 * 32 * 9, 11 * 11 * 64 * 32 * 9, 1600 * 10];

impl Cnn {
    fn new(rng: &mut StdRng) -> Self {
        Cnn {
            // The first layer's input is data: no gradient needed for it (PyTorch skips it too).
            conv1: Timed::new(Conv2d::new(1, 32, 3, Init::He, rng).with_input_grad(false)),
            bn1: Timed::new(BatchNorm2d::new(32).with_relu()),
            pool1: Timed::new(MaxPool2d::new(2)),
            conv2: Timed::new(Conv2d::new(32, 64, 3, Init::He, rng)),
            bn2: Timed::new(BatchNorm2d::new(64).with_relu()),
            pool2: Timed::new(MaxPool2d::new(2)),
            flat: Timed::new(Flatten::new()),
            fc: Timed::new(Linear::new(1600, 10, Init::He, rng)),
        }
    }
}

impl TimedNet for Cnn {
    fn timers(&mut self, on: bool) -> Rows {
        timers!(self, on; conv1, bn1, pool1, conv2, bn2, pool2, flat, fc)
    }
}

/// Trains C (two 3x3 convolutions with BatchNorm2d, ReLU and max pooling, then Linear; Adam,
/// batch 100) and prints epoch times and samples/s; the last line is
/// `median_epoch_s=.. samples_per_s=.. infer_samples_per_s=..`.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("epochs", |a| a.default_value("2")))]
struct Cli {
    #[command(flatten)]
    bench: BenchFlags,
    /// Also time epochs of augmented images (shifts, rotations, zoom), alternating with plain ones
    #[arg(long)]
    augment: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let BenchFlags {
        epochs,
        workload: WorkloadFlags {
            threads,
            batch_size,
            samples,
        },
        infer_samples,
        data_dir,
        profile,
    } = cli.bench;
    nn::set_num_threads(threads);

    let (train, infer) = image_data(data_dir.as_deref(), samples, infer_samples)?;
    let source = data_dir.as_deref().unwrap_or("synthetic");
    println!(
        "C: conv3x3(32)-bn+relu-pool-conv3x3(64)-bn+relu-pool-fc, Adam 1e-3, batch {batch_size}, {} \
         samples/epoch ({source}), {threads} threads",
        train.len()
    );

    let mut rng = nn::seeded(nn::DEFAULT_SEED);
    let mut net = Cnn::new(&mut rng);
    let setup = Setup {
        epochs,
        batch_size,
        infer_rounds: 3,
        profile,
        flop: Some(Flop {
            epoch: epoch_flop,
            layer_macs,
        }),
    };
    let augmented = match cli.augment {
        true => Some(Transformed::new(&train)?.augment(common::training::digit_augmentation())?),
        false => None,
    };
    common::bench::run(
        &mut net,
        &train,
        augmented.as_ref().map(|a| a as &dyn DataSource),
        &infer,
        &setup,
    )
}

/// Floating-point operations of the matrix work of one training epoch of `samples` images.
fn epoch_flop(samples: usize) -> f64 {
    let [conv1, conv2, fc] = FORWARD_MACS.map(|m| m as f64);
    // Forward, weight gradient and (except conv1) input gradient; two FLOP per multiply-add.
    2.0 * samples as f64 * (2.0 * conv1 + 3.0 * conv2 + 3.0 * fc)
}

/// Multiply-adds per image of the convolutions' forward (`true`) or backward pass.
fn layer_macs(name: &str, forward: bool) -> Option<usize> {
    match name {
        // conv1's backward is the weight gradient only.
        "conv1" => Some(FORWARD_MACS[0]),
        "conv2" => Some(FORWARD_MACS[1] * if forward { 1 } else { 2 }),
        _ => None,
    }
}
