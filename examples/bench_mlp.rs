//! Benchmark: trains the standard workload W and prints its speed, for side-by-side comparison
//! with PyTorch and numpy code in the notebook's style (`bench/compare.sh`, docs/PERFORMANCE.md).
//!
//! W: MLP 784 -> 128 -> 64 -> 10, each hidden layer Linear -> BatchNorm -> ReLU, He init, softmax
//! cross-entropy, Adam (lr 1e-3, betas 0.9 / 0.999, eps 1e-8), batch 100, 50,000 samples per
//! epoch, f32, 2 threads. After one warm-up epoch it prints one line per timed epoch, then
//! inference (Eval forward of 10,000 samples at batch 10,000), and last the line
//! `median_epoch_s=<f> samples_per_s=<f> infer_samples_per_s=<f>`.
//!
//! ```sh
//! cargo run --release --example bench_mlp -- --epochs 5
//! cargo run --release --example bench_mlp -- --profile          # where the time goes, per layer
//! cargo run --release --example bench_mlp -- --data-dir nn-core/data/mnist-10k
//! ```
//!
//! Synthetic data (the default) are uniform random pixels and labels: the arithmetic of an epoch
//! is the same as on MNIST. The pixels are bytes normalised by 1/255 as batches are filled, as
//! MNIST's are, which also keeps 50,000 samples at 39 MB instead of 157 MB of `f32`.

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::bench::{synthetic, Setup, TimedNet};
use common::flags::{BenchFlags, WorkloadFlags};
use common::timed::{Rows, Timed};
use nn::data::Mnist;
use nn::prelude::*;

/// The network of W.
#[derive(Sequential)]
struct Mlp {
    fc1: Timed<Linear>,
    bn1: Timed<BatchNorm>,
    act1: Timed<Relu>,
    fc2: Timed<Linear>,
    bn2: Timed<BatchNorm>,
    act2: Timed<Relu>,
    fc3: Timed<Linear>,
}

impl Mlp {
    fn new(rng: &mut StdRng) -> Self {
        Mlp {
            // The first layer's input is data: no gradient needed for it (PyTorch skips it too).
            fc1: Timed::new(Linear::new(784, 128, Init::He, rng).with_input_grad(false)),
            bn1: Timed::new(BatchNorm::new(128)),
            act1: Timed::new(Relu::new()),
            fc2: Timed::new(Linear::new(128, 64, Init::He, rng)),
            bn2: Timed::new(BatchNorm::new(64)),
            act2: Timed::new(Relu::new()),
            fc3: Timed::new(Linear::new(64, 10, Init::He, rng)),
        }
    }
}

impl TimedNet for Mlp {
    fn timers(&mut self, on: bool) -> Rows {
        timers!(self, on; fc1, bn1, act1, fc2, bn2, act2, fc3)
    }
}

/// Trains W (MLP 784-128-64-10 with BatchNorm, Adam, batch 100) and prints epoch times and
/// samples/s; the last line is `median_epoch_s=.. samples_per_s=.. infer_samples_per_s=..`.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
// With --data-dir, an epoch is the whole training set.
#[command(mut_arg("samples", |a| a.help("Synthetic training samples per epoch")))]
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

    let (train, infer) = match &data_dir {
        Some(dir) => {
            let mnist = Mnist::loader().env(false).progress(false).local_dir(dir).load()?;
            let n = infer_samples.min(mnist.test.len());
            let first: Vec<usize> = (0..n).collect();
            (mnist.train, mnist.test.subset(&first)?)
        }
        None => (
            synthetic(samples, &[784], 1)?,
            synthetic(infer_samples, &[784], 2)?,
        ),
    };
    let source = data_dir.as_deref().unwrap_or("synthetic");
    println!(
        "W: 784-128-64-10 BatchNorm+ReLU, Adam 1e-3, batch {batch_size}, {} samples/epoch ({source}), \
         {threads} threads",
        train.len()
    );

    let mut rng = nn::seeded(nn::DEFAULT_SEED);
    let mut net = Mlp::new(&mut rng);
    let setup = Setup {
        epochs,
        batch_size,
        infer_rounds: 5,
        profile,
        flop: None,
    };
    common::bench::run(&mut net, &train, None, &infer, &setup)
}
