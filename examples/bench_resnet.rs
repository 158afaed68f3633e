//! Benchmark: trains the standard workload R, a small ResNet, and prints its speed, for
//! side-by-side comparison with PyTorch (`bench/compare.sh --workload resnet`, docs/PERFORMANCE.md).
//!
//! R: stem Conv2d(1 -> 16, 3x3, padding 1, no bias) -> BatchNorm2d -> ReLU; torchvision
//! BasicBlocks 16 -> 16, 16 -> 32 (stride 2) and 32 -> 64 (stride 2), each with a 1x1 strided
//! projection (no bias) + BatchNorm2d where the shape changes; global average pooling -> Flatten
//! -> Linear(64 -> 10); He init, softmax cross-entropy, Adam (lr 1e-3), batch 100, the first
//! 50,000 MNIST training images per epoch, f32, 2 threads. After one warm-up epoch it prints one
//! line per timed epoch, then inference (Eval forward of the 10,000 test images as one batch),
//! and last the line `median_epoch_s=<f> samples_per_s=<f> infer_samples_per_s=<f>`.
//!
//! The modules are numbered as in PyTorch's twin (`bench/torch_resnet.py`), an `nn.Sequential`
//! (`3.conv1.weight`, `4.downsample.0.weight`, `8.bias`), so the two checkpoints share names.
//!
//! ```sh
//! cargo run --release --example bench_resnet -- --data-dir DIR   # DIR: the four MNIST IDX files
//! cargo run --release --example bench_resnet -- --data-dir DIR --profile true   # where the time goes
//! cargo run --release --example bench_resnet -- --samples 2000 --infer-samples 1000   # synthetic
//! ```

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::bench::{image_data, Flop, Setup, TimedNet};
use common::flags::{BenchFlags, WorkloadFlags};
use common::nets::{conv, BasicBlock};
use common::timed::Timed;
use nn::prelude::*;
use std::time::Duration;

/// The network of R, numbered as PyTorch's `nn.Sequential`: stem (0-2), blocks (3-5), head (6-8).
#[derive(Sequential)]
struct ResNetR(
    Timed<Conv2d>,
    Timed<BatchNorm2d>,
    Timed<Relu>,
    Timed<BasicBlock>,
    Timed<BasicBlock>,
    Timed<BasicBlock>,
    Timed<GlobalAvgPool2d>,
    Timed<Flatten>,
    Timed<Linear>,
);

/// Multiply-adds of one image's forward: the stem, each block (its two 3x3 convolutions and
/// projection) and fc. Backward does twice as many, less the stem's input gradient, which is
/// skipped.
const FORWARD_MACS: [usize; 5] = [
    16 * 9 * 28 * 28,
    2 * 16 * 16 * 9 * 28 * 28,
    (16 * 32 * 9 + 32 * 32 * 9 + 16 * 32) * 14 * 14,
    (32 * 64 * 9 + 64 * 64 * 9 + 32 * 64) * 7 * 7,
    64 * 10,
];

impl ResNetR {
    fn new(rng: &mut StdRng) -> Self {
        ResNetR(
            // The first layer's input is data: no gradient needed for it (PyTorch skips it too).
            Timed::new(conv(1, 16, 3, 1, rng).with_input_grad(false)),
            Timed::new(BatchNorm2d::new(16)),
            Timed::new(Relu::new()),
            Timed::new(BasicBlock::new(16, 16, 1, rng)),
            Timed::new(BasicBlock::new(16, 32, 2, rng)),
            Timed::new(BasicBlock::new(32, 64, 2, rng)),
            Timed::new(GlobalAvgPool2d::new()),
            Timed::new(Flatten::new()),
            Timed::new(Linear::new(64, 10, Init::He, rng)),
        )
    }
}

impl TimedNet for ResNetR {
    fn timers(&mut self, on: bool) -> Vec<(&'static str, Duration, Duration)> {
        timers!(self, on; 0, 1, 2, 3, 4, 5, 6, 7, 8)
    }
}

/// Trains R (a 3x3 stem, three torchvision BasicBlocks, global average pooling, Linear; Adam,
/// batch 100) and prints epoch times and samples/s; the last line is
/// `median_epoch_s=.. samples_per_s=.. infer_samples_per_s=..`.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("epochs", |a| a.default_value("2")))]
struct Cli {
    #[command(flatten)]
    bench: BenchFlags,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    } = Cli::parse().bench;
    nn::set_num_threads(threads);

    let (train, infer) = image_data(data_dir.as_deref(), samples, infer_samples)?;
    let source = data_dir.as_deref().unwrap_or("synthetic");
    println!(
        "R: conv3x3(16)-bn-relu, BasicBlocks 16, 32/2, 64/2, avgpool-fc, Adam 1e-3, batch \
         {batch_size}, {} samples/epoch ({source}), {threads} threads; layers 0-2 stem, 3-5 \
         blocks, 6-8 head",
        train.len()
    );

    let mut rng = nn::seeded(nn::DEFAULT_SEED);
    let mut net = ResNetR::new(&mut rng);
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
    common::bench::run(&mut net, &train, None, &infer, &setup)
}

/// Floating-point operations of the matrix work of one training epoch of `samples` images.
fn epoch_flop(samples: usize) -> f64 {
    let [stem, b1, b2, b3, fc] = FORWARD_MACS.map(|m| m as f64);
    // Forward, weight gradient and (except the stem) input gradient; two FLOP per multiply-add.
    2.0 * samples as f64 * (2.0 * stem + 3.0 * (b1 + b2 + b3 + fc))
}

/// Multiply-adds per image of the convolutions' forward (`true`) or backward pass, by module.
fn layer_macs(name: &str, forward: bool) -> Option<usize> {
    let twice = if forward { 1 } else { 2 };
    match name {
        // The stem's backward is the weight gradient only.
        "0" => Some(FORWARD_MACS[0]),
        "3" => Some(FORWARD_MACS[1] * twice),
        "4" => Some(FORWARD_MACS[2] * twice),
        "5" => Some(FORWARD_MACS[3] * twice),
        _ => None,
    }
}
