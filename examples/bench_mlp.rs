//! Benchmark: trains the standard workload W and prints its speed, for side-by-side comparison
//! with PyTorch and the seed's numpy code (`../shared/bench/compare.sh`).
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
//! cargo run --release --example bench_mlp -- --data-dir ../shared/data/mnist-10k
//! ```
//!
//! Synthetic data (the default) are uniform random pixels and labels: the arithmetic of an epoch
//! is the same as on MNIST. The pixels are bytes normalised by 1/255 as batches are filled, as
//! MNIST's are, which also keeps 50,000 samples at 39 MB instead of 157 MB of `f32`.

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::flags::{BenchFlags, WorkloadFlags};
use common::timed::{median, time_inference, Timed};
use nn::data::{Batches, Dataset, Mnist};
use nn::prelude::*;
use rand::Rng as _;
use std::time::{Duration, Instant};

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
    fn new(rng: &mut Rng) -> Self {
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

    /// Each layer's name with its forward and backward time so far; then zeroes the timers and
    /// switches them on or off.
    fn timers(&mut self, on: bool) -> Vec<(&'static str, Duration, Duration)> {
        timers!(self, on; fc1, bn1, act1, fc2, bn2, act2, fc3)
    }
}

/// Where a step's time goes outside the layers.
#[derive(Default)]
struct StepTimes {
    batch: Duration,
    loss: Duration,
    optimizer: Duration,
}

/// One epoch over `batches`, written out step by step: batch -> forward(Train) -> loss ->
/// backward -> optimizer step. Returns the last batch's loss. (This is what `Trainer::fit` does
/// per epoch, minus its metrics; the benchmark keeps the loop bare so that it times W only.)
fn train_epoch(
    net: &mut Mlp,
    batches: &mut Batches<'_>,
    loss_fn: &mut SoftmaxCrossEntropy,
    optimizer: &mut Adam,
    times: Option<&mut StepTimes>,
) -> Result<f32, Box<dyn std::error::Error>> {
    let mut scratch = StepTimes::default();
    let times = times.unwrap_or(&mut scratch);
    let mut loss = f32::NAN;
    let mut t = Instant::now();
    while let Some(batch) = batches.next_batch() {
        let now = Instant::now();
        times.batch += now - t;
        let logits = net.forward(std::mem::take(&mut batch.images), Mode::Train);
        let t_loss = Instant::now();
        loss = loss_fn.forward(logits, Targets::Classes(&batch.labels));
        let grad = loss_fn.backward();
        times.loss += t_loss.elapsed();
        // The input gradient has the batch's shape: handing it back makes it the next batch's
        // buffer, so no step allocates one.
        batch.images = net.backward(grad);
        let t_opt = Instant::now();
        optimizer.step(net)?;
        t = Instant::now();
        times.optimizer += t - t_opt;
    }
    if !loss.is_finite() {
        return Err(format!("the loss diverged to {loss}").into());
    }
    Ok(loss)
}

/// `n` synthetic samples: uniform random byte pixels and uniform labels from `seed`.
fn synthetic(n: usize, seed: u64) -> nn::Result<Dataset> {
    let mut rng = nn::seeded(seed);
    let mut pixels = vec![0u8; n * 784];
    rng.fill(pixels.as_mut_slice());
    let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
    Dataset::from_u8(pixels, &[784], labels, 10)
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
        None => (synthetic(samples, 1)?, synthetic(infer_samples, 2)?),
    };
    let source = data_dir.as_deref().unwrap_or("synthetic");
    println!(
        "W: 784-128-64-10 BatchNorm+ReLU, Adam 1e-3, batch {batch_size}, {} samples/epoch ({source}), \
         {threads} threads",
        train.len()
    );

    let mut rng = nn::seeded(nn::DEFAULT_SEED);
    let mut net = Mlp::new(&mut rng);
    let mut loss_fn = SoftmaxCrossEntropy::new();
    let mut optimizer = Adam::new(1e-3).with_betas(0.9, 0.999).with_eps(1e-8);
    let mut batches = train.batches(batch_size, 1);

    let warm = Instant::now();
    let loss = train_epoch(&mut net, &mut batches, &mut loss_fn, &mut optimizer, None)?;
    println!(
        "warm-up epoch: {:.3} s, loss {loss:.4}",
        warm.elapsed().as_secs_f64()
    );

    net.timers(profile);
    let mut steps = StepTimes::default();
    let mut epoch_s = Vec::with_capacity(epochs);
    for epoch in 1..=epochs {
        let start = Instant::now();
        let loss = train_epoch(
            &mut net,
            &mut batches,
            &mut loss_fn,
            &mut optimizer,
            Some(&mut steps),
        )?;
        let s = start.elapsed().as_secs_f64();
        epoch_s.push(s);
        println!(
            "epoch {epoch}/{epochs}: {s:.3} s, {:.0} samples/s, loss {loss:.4}",
            train.len() as f64 / s
        );
    }
    let layers = net.timers(false);

    // Inference: Eval forward of the whole set as one batch, 5 times.
    let n_infer = infer.len();
    net.timers(profile);
    let (accuracy, mut infer_s) = time_inference(&mut net, &infer, 5);
    let infer_median = median(&mut infer_s);
    println!(
        "inference: {n_infer} samples at batch {n_infer}: {:.4} s median of 5, accuracy {accuracy:.4}",
        infer_median
    );

    let infer_layers = net.timers(false);

    if profile {
        print_profile(
            &layers,
            &steps,
            epoch_s.iter().sum(),
            epochs * batches.batches_per_epoch(),
        );
        println!("inference profile: milliseconds per forward of {n_infer} samples");
        let total: f64 = infer_s.iter().sum::<f64>() * 1e3 / infer_s.len() as f64;
        let mut layers_ms = 0.0;
        for (name, fwd, _) in infer_layers {
            let ms = fwd.as_secs_f64() * 1e3 / infer_s.len() as f64;
            layers_ms += ms;
            println!("  {name:<16} {ms:8.2} ms {:5.1} %", 100.0 * ms / total);
        }
        println!(
            "  {:<16} {:8.2} ms {:5.1} %",
            "other",
            total - layers_ms,
            100.0 * (total - layers_ms) / total
        );
    }

    let median_epoch = median(&mut epoch_s);
    println!(
        "median_epoch_s={median_epoch:.4} samples_per_s={:.0} infer_samples_per_s={:.0}",
        train.len() as f64 / median_epoch,
        n_infer as f64 / infer_median
    );
    Ok(())
}

/// The per-layer and per-phase breakdown of the timed epochs, in milliseconds per epoch.
fn print_profile(
    layers: &[(&'static str, Duration, Duration)],
    steps: &StepTimes,
    total_s: f64,
    n_steps: usize,
) {
    let per_step_us = |d: Duration| d.as_secs_f64() * 1e6 / n_steps as f64;
    println!("profile: microseconds per step ({n_steps} steps), share of the timed epochs");
    let total_us = total_s * 1e6 / n_steps as f64;
    let row = |name: &str, us: f64| println!("  {name:<16} {us:8.1} us {:5.1} %", 100.0 * us / total_us);
    let mut accounted = 0.0;
    for &(name, fwd, _) in layers {
        row(&format!("{name} forward"), per_step_us(fwd));
        accounted += per_step_us(fwd);
    }
    row("loss", per_step_us(steps.loss));
    accounted += per_step_us(steps.loss);
    for &(name, _, bwd) in layers.iter().rev() {
        row(&format!("{name} backward"), per_step_us(bwd));
        accounted += per_step_us(bwd);
    }
    row("optimizer step", per_step_us(steps.optimizer));
    row("batch fill", per_step_us(steps.batch));
    accounted += per_step_us(steps.optimizer) + per_step_us(steps.batch);
    row("other", total_us - accounted);
    row("total", total_us);
}
