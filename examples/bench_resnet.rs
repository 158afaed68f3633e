//! Benchmark: trains the standard workload R, a small ResNet, and prints its speed, for
//! side-by-side comparison with PyTorch (`bench/compare.sh --workload resnet`, docs/PERFORMANCE.md).
//!
//! R: stem Conv2d(1 -> 16, 3x3, padding 1, no bias) -> BatchNorm2d -> ReLU; torchvision
//! BasicBlocks 16 -> 16, 16 -> 32 (stride 2) and 32 -> 64 (stride 2), each with a 1x1 strided
//! projection (no bias) + BatchNorm2d where the shape changes; global average pooling -> Flatten
//! -> Linear(64 -> 10); He init, softmax cross-entropy, Adam (lr 1e-3), batch 100, the first
//! 50,000 MNIST training images per epoch, f32, 2 threads. A ReLU right after a BatchNorm2d is
//! fused into it (`BatchNorm2d::with_relu`: the same function to the bit, one pass less over the
//! activations), and its own slot stays empty (`None`). After one warm-up epoch it prints one
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
use common::nets::conv;
use common::timed::{Rows, Timed};
use nn::prelude::*;

/// The network of R, numbered as PyTorch's `nn.Sequential`: stem (0-2), blocks (3-5), head (6-8).
#[derive(Sequential)]
struct ResNetR(
    Timed<Conv2d>,
    Timed<BatchNorm2d>,
    /// PyTorch's ReLU after the stem, fused into module 1.
    Option<Timed<Relu>>,
    Timed<Block>,
    Timed<Block>,
    Timed<Block>,
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

/// torchvision's `BasicBlock` as `common::nets::BasicBlock` builds it (the same fields and
/// parameter names), with a stopwatch on every layer, so the profile shows each convolution, and
/// `bn1` fused with the ReLU after it.
#[derive(Sequential)]
struct Block {
    conv1: Timed<Conv2d>,
    /// BatchNorm2d then ReLU, fused; `relu1` stays empty.
    bn1: Timed<BatchNorm2d>,
    relu1: Option<Timed<Relu>>,
    conv2: Timed<Conv2d>,
    bn2: Timed<BatchNorm2d>,
    #[sequential(shortcut)]
    downsample: Option<(Timed<Conv2d>, Timed<BatchNorm2d>)>,
    relu: Timed<Relu>,
}

impl Block {
    fn new(cin: usize, cout: usize, stride: usize, rng: &mut StdRng) -> Self {
        Block {
            conv1: Timed::new(conv(cin, cout, 3, stride, rng)),
            bn1: Timed::new(BatchNorm2d::new(cout).with_relu()),
            relu1: None,
            conv2: Timed::new(conv(cout, cout, 3, 1, rng)),
            bn2: Timed::new(BatchNorm2d::new(cout)),
            downsample: (stride != 1 || cin != cout).then(|| {
                (
                    Timed::new(conv(cin, cout, 1, stride, rng)),
                    Timed::new(BatchNorm2d::new(cout)),
                )
            }),
            relu: Timed::new(Relu::new()),
        }
    }

    /// The rows of the block `name` (its total less its layers is the residual sum and the
    /// copies the two paths need: `3.add`), its layers named `3.conv1` and so on.
    fn rows(block: &mut Timed<Block>, name: &str, on: bool) -> Rows {
        let (mut forward, mut backward) = block.reset(on);
        let b = &mut block.layer;
        let mut rows: Rows = timers!(b, on; conv1, bn1, conv2, bn2);
        if let Some((c, n)) = &mut b.downsample {
            let ((cf, cb), (nf, nb)) = (c.reset(on), n.reset(on));
            rows.push(("downsample.0".into(), cf, cb));
            rows.push(("downsample.1".into(), nf, nb));
        }
        rows.extend(timers!(b, on; relu));
        for (_, f, b) in &rows {
            forward = forward.saturating_sub(*f);
            backward = backward.saturating_sub(*b);
        }
        rows.push(("add".into(), forward, backward));
        rows.into_iter()
            .map(|(layer, f, b)| (format!("{name}.{layer}"), f, b))
            .collect()
    }
}

impl ResNetR {
    fn new(rng: &mut StdRng) -> Self {
        ResNetR(
            // The first layer's input is data: no gradient needed for it (PyTorch skips it too).
            Timed::new(conv(1, 16, 3, 1, rng).with_input_grad(false)),
            Timed::new(BatchNorm2d::new(16).with_relu()),
            None,
            Timed::new(Block::new(16, 16, 1, rng)),
            Timed::new(Block::new(16, 32, 2, rng)),
            Timed::new(Block::new(32, 64, 2, rng)),
            Timed::new(GlobalAvgPool2d::new()),
            Timed::new(Flatten::new()),
            Timed::new(Linear::new(64, 10, Init::He, rng)),
        )
    }
}

impl TimedNet for ResNetR {
    fn timers(&mut self, on: bool) -> Rows {
        let mut rows = timers!(self, on; 0, 1);
        rows.extend(Block::rows(&mut self.3, "3", on));
        rows.extend(Block::rows(&mut self.4, "4", on));
        rows.extend(Block::rows(&mut self.5, "5", on));
        rows.extend(timers!(self, on; 6, 7, 8));
        rows
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
        "R: conv3x3(16)-bn+relu, BasicBlocks 16, 32/2, 64/2, avgpool-fc, Adam 1e-3, batch \
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
    // (input channels, output channels, kernel taps, output pixels) of each convolution.
    let (cin, cout, taps, pixels) = match name {
        "0" => (1, 16, 9, 28 * 28),
        "3.conv1" | "3.conv2" => (16, 16, 9, 28 * 28),
        "4.conv1" => (16, 32, 9, 14 * 14),
        "4.conv2" => (32, 32, 9, 14 * 14),
        "4.downsample.0" => (16, 32, 1, 14 * 14),
        "5.conv1" => (32, 64, 9, 7 * 7),
        "5.conv2" => (64, 64, 9, 7 * 7),
        "5.downsample.0" => (32, 64, 1, 7 * 7),
        _ => return None,
    };
    // Backward is the weight and input gradients, except the stem's: the weight gradient only.
    let passes = if forward || name == "0" { 1 } else { 2 };
    Some(cin * cout * taps * pixels * passes)
}
