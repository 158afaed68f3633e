//! Benchmark: trains the standard workload C and prints its speed, for side-by-side comparison
//! with PyTorch (`../shared/bench/compare.sh --workload cnn`).
//!
//! C: Conv2d(1 -> 32, 3x3) -> BatchNorm2d -> ReLU -> MaxPool2d(2) -> Conv2d(32 -> 64, 3x3) ->
//! BatchNorm2d -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(1600 -> 10); He init, zero biases,
//! softmax cross-entropy, Adam (lr 1e-3), batch 100, the first 50,000 MNIST training images per
//! epoch, f32, 2 threads. After one warm-up epoch it prints one line per timed epoch, then
//! inference (Eval forward of the 10,000 test images as one batch), and last the line
//! `median_epoch_s=<f> samples_per_s=<f> infer_samples_per_s=<f>`.
//!
//! ```sh
//! cargo run --release --example bench_cnn -- --data-dir ../shared/data/mnist
//! cargo run --release --example bench_cnn -- --data-dir ../shared/data/mnist --profile true
//! cargo run --release --example bench_cnn -- --samples 2000 --infer-samples 1000   # synthetic
//! ```

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::flags::{BenchFlags, WorkloadFlags};
use common::timed::{median, time_inference, Timed};
use nn::data::{Batches, Dataset, Mnist};
use nn::prelude::*;
use rand::Rng as _;
use std::time::{Duration, Instant};

/// The network of C.
#[derive(Sequential)]
struct Cnn {
    conv1: Timed<Conv2d>,
    bn1: Timed<BatchNorm2d>,
    act1: Timed<Relu>,
    pool1: Timed<MaxPool2d>,
    conv2: Timed<Conv2d>,
    bn2: Timed<BatchNorm2d>,
    act2: Timed<Relu>,
    pool2: Timed<MaxPool2d>,
    flat: Timed<Flatten>,
    fc: Timed<Linear>,
}

/// Multiply-adds of one image's forward: conv1, conv2, fc. Backward does twice as many, less
/// conv1's input gradient, which is skipped.
const FORWARD_MACS: [usize; 3] = [26 * 26 * 32 * 9, 11 * 11 * 64 * 32 * 9, 1600 * 10];

impl Cnn {
    fn new(rng: &mut Rng) -> Self {
        Cnn {
            // The first layer's input is data: no gradient needed for it (PyTorch skips it too).
            conv1: Timed::new(Conv2d::new(1, 32, 3, Init::He, rng).with_input_grad(false)),
            bn1: Timed::new(BatchNorm2d::new(32)),
            act1: Timed::new(Relu::new()),
            pool1: Timed::new(MaxPool2d::new(2)),
            conv2: Timed::new(Conv2d::new(32, 64, 3, Init::He, rng)),
            bn2: Timed::new(BatchNorm2d::new(64)),
            act2: Timed::new(Relu::new()),
            pool2: Timed::new(MaxPool2d::new(2)),
            flat: Timed::new(Flatten::new()),
            fc: Timed::new(Linear::new(1600, 10, Init::He, rng)),
        }
    }

    fn timers(&mut self, on: bool) -> Vec<(&'static str, Duration, Duration)> {
        timers!(self, on; conv1, bn1, act1, pool1, conv2, bn2, act2, pool2, flat, fc)
    }
}

/// Where a step's time goes outside the layers.
#[derive(Default)]
struct StepTimes {
    batch: Duration,
    loss: Duration,
    optimizer: Duration,
}

/// One epoch, written out step by step as in bench_mlp: batch -> forward(Train) -> loss ->
/// backward -> optimizer step. Returns the last batch's loss.
fn train_epoch(
    net: &mut Cnn,
    batches: &mut Batches<'_>,
    loss_fn: &mut SoftmaxCrossEntropy,
    optimizer: &mut Adam,
    times: &mut StepTimes,
) -> Result<f32, Box<dyn std::error::Error>> {
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
        // The input gradient has the batch's shape: it becomes the next batch's buffer.
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

/// `n` synthetic 1x28x28 images: uniform random byte pixels and labels from `seed`.
fn synthetic(n: usize, seed: u64) -> nn::Result<Dataset> {
    let mut rng = nn::seeded(seed);
    let mut pixels = vec![0u8; n * 784];
    rng.fill(pixels.as_mut_slice());
    let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
    Dataset::from_u8(pixels, &[1, 28, 28], labels, 10)
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
            let first = |n: usize| (0..n).collect::<Vec<usize>>();
            let train = mnist.train.subset(&first(samples.min(mnist.train.len())))?;
            let infer = mnist.test.subset(&first(infer_samples.min(mnist.test.len())))?;
            (
                train.with_feature_shape(&[1, 28, 28])?,
                infer.with_feature_shape(&[1, 28, 28])?,
            )
        }
        None => (synthetic(samples, 1)?, synthetic(infer_samples, 2)?),
    };
    let source = data_dir.as_deref().unwrap_or("synthetic");
    println!(
        "C: conv3x3(32)-bn-relu-pool-conv3x3(64)-bn-relu-pool-fc, Adam 1e-3, batch {batch_size}, {} \
         samples/epoch ({source}), {threads} threads",
        train.len()
    );

    let mut rng = nn::seeded(nn::DEFAULT_SEED);
    let mut net = Cnn::new(&mut rng);
    let mut loss_fn = SoftmaxCrossEntropy::new();
    let mut optimizer = Adam::new(1e-3).with_betas(0.9, 0.999).with_eps(1e-8);
    let mut batches = train.batches(batch_size, 1);

    let warm = Instant::now();
    let loss = train_epoch(
        &mut net,
        &mut batches,
        &mut loss_fn,
        &mut optimizer,
        &mut StepTimes::default(),
    )?;
    println!(
        "warm-up epoch: {:.3} s, loss {loss:.4}",
        warm.elapsed().as_secs_f64()
    );

    net.timers(profile);
    let mut steps = StepTimes::default();
    let mut epoch_s = Vec::with_capacity(epochs);
    let flop = epoch_flop(train.len());
    for epoch in 1..=epochs {
        let start = Instant::now();
        let loss = train_epoch(&mut net, &mut batches, &mut loss_fn, &mut optimizer, &mut steps)?;
        let s = start.elapsed().as_secs_f64();
        epoch_s.push(s);
        println!(
            "epoch {epoch}/{epochs}: {s:.3} s, {:.0} samples/s, {:.1} GFLOP/s, loss {loss:.4}",
            train.len() as f64 / s,
            flop / s / 1e9
        );
    }
    let layers = net.timers(false);

    // Inference: Eval forward of the whole set as one batch, 3 times.
    let n_infer = infer.len();
    net.timers(profile);
    let (accuracy, mut infer_s) = time_inference(&mut net, &infer, 3);
    let infer_median = median(&mut infer_s);
    println!(
        "inference: {n_infer} samples at batch {n_infer}: {infer_median:.4} s median of 3, accuracy {accuracy:.4}"
    );
    let infer_layers = net.timers(false);

    if profile {
        print_profile(
            &layers,
            &steps,
            epoch_s.iter().sum(),
            epochs * batches.batches_per_epoch(),
            batch_size,
        );
        println!("inference profile: milliseconds per forward of {n_infer} samples");
        let total: f64 = infer_s.iter().sum::<f64>() * 1e3 / infer_s.len() as f64;
        let mut layers_ms = 0.0;
        for (name, fwd, _) in infer_layers {
            let ms = fwd.as_secs_f64() * 1e3 / infer_s.len() as f64;
            layers_ms += ms;
            println!("  {name:<16} {ms:8.2} ms {:5.1} %", 100.0 * ms / total);
        }
        let other = total - layers_ms;
        println!("  {:<16} {other:8.2} ms {:5.1} %", "other", 100.0 * other / total);
    }

    let median_epoch = median(&mut epoch_s);
    println!(
        "median_epoch_s={median_epoch:.4} samples_per_s={:.0} infer_samples_per_s={:.0}",
        train.len() as f64 / median_epoch,
        n_infer as f64 / infer_median
    );
    Ok(())
}

/// Floating-point operations of the matrix work of one training epoch of `samples` images.
fn epoch_flop(samples: usize) -> f64 {
    let [conv1, conv2, fc] = FORWARD_MACS.map(|m| m as f64);
    // Forward, weight gradient and (except conv1) input gradient; two FLOP per multiply-add.
    2.0 * samples as f64 * (2.0 * conv1 + 3.0 * conv2 + 3.0 * fc)
}

/// The per-layer and per-phase breakdown of the timed epochs, in microseconds per step, with
/// the GFLOP/s of the convolutions.
fn print_profile(
    layers: &[(&'static str, Duration, Duration)],
    steps: &StepTimes,
    total_s: f64,
    n_steps: usize,
    batch: usize,
) {
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n_steps as f64;
    println!("profile: microseconds per step ({n_steps} steps of {batch}), share of the timed epochs");
    let total_us = total_s * 1e6 / n_steps as f64;
    let gflops = |macs: usize, t_us: f64| 2.0 * (macs * batch) as f64 / (t_us * 1e3);
    let row = |name: &str, t: f64, extra: String| {
        println!("  {name:<16} {t:8.1} us {:5.1} %{extra}", 100.0 * t / total_us)
    };
    let rate = |name: &str, fwd: bool, t: f64| -> String {
        let macs = match name {
            // conv1's backward is the weight gradient only.
            "conv1" => FORWARD_MACS[0],
            "conv2" => FORWARD_MACS[1] * if fwd { 1 } else { 2 },
            _ => return String::new(),
        };
        format!("  {:6.1} GFLOP/s", gflops(macs, t))
    };
    let mut accounted = 0.0;
    for &(name, fwd, _) in layers {
        row(&format!("{name} forward"), us(fwd), rate(name, true, us(fwd)));
        accounted += us(fwd);
    }
    row("loss", us(steps.loss), String::new());
    accounted += us(steps.loss);
    for &(name, _, bwd) in layers.iter().rev() {
        row(&format!("{name} backward"), us(bwd), rate(name, false, us(bwd)));
        accounted += us(bwd);
    }
    row("optimizer step", us(steps.optimizer), String::new());
    row("batch fill", us(steps.batch), String::new());
    accounted += us(steps.optimizer) + us(steps.batch);
    row("other", total_us - accounted, String::new());
    row("total", total_us, String::new());
}
