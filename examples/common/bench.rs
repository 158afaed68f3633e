//! The training benchmarks' shared part (bench_mlp, bench_cnn, bench_resnet): synthetic data,
//! the bare epoch loop, timing the epochs and inference, and printing them with the per-layer
//! profile; and the cost of augmentation, timed against plain epochs in the same run.

use super::sgemm::{square_rate, SQUARE};
use super::timed::{median, time_inference, Rows};
use nn::data::{Batches, DataSource, Dataset};
use nn::prelude::*;
use rand::Rng as _;
use std::time::{Duration, Instant};

/// A benchmark's network: a layer built of `Timed` layers, whose stopwatches it reads.
pub trait TimedNet: Layer {
    /// Each layer's name with its forward and backward time so far; then zeroes the timers and
    /// switches them on or off.
    fn timers(&mut self, on: bool) -> Rows;
}

/// The arithmetic a benchmark counts, for its GFLOP/s.
pub struct Flop {
    /// Floating-point operations of one training epoch of `samples` samples.
    pub epoch: fn(samples: usize) -> f64,
    /// Multiply-adds per sample of the named convolution's forward (`true`) or backward pass;
    /// `None` for every other layer (the profile counts the rest as outside the convolutions).
    pub layer_macs: fn(name: &str, forward: bool) -> Option<usize>,
}

/// How a benchmark runs once the data are loaded.
pub struct Setup {
    /// Timed epochs after the warm-up epoch.
    pub epochs: usize,
    pub batch_size: usize,
    /// Timed inference forwards, of which the median is reported.
    pub infer_rounds: usize,
    /// Whether to print the profile per layer and step phase.
    pub profile: bool,
    /// What GFLOP/s are shown from; `None` shows none.
    pub flop: Option<Flop>,
}

/// Where a step's time goes outside the layers.
#[derive(Default)]
pub struct StepTimes {
    batch: Duration,
    loss: Duration,
    optimizer: Duration,
    /// The calling thread's CPU time in the batch fill and in whole steps, where the system
    /// reports it.
    batch_cpu: Duration,
    step_cpu: Duration,
}

/// The time the calling thread has spent running on a CPU (Linux's
/// `/proc/thread-self/schedstat`), or `None` where it is not reported. Unlike the wall clock, it
/// does not grow while other programs hold the cores, so on a shared machine it times work.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// `n` synthetic samples of `shape`: uniform random byte pixels and uniform labels from `seed`.
pub fn synthetic(n: usize, shape: &[usize], seed: u64) -> nn::Result<Dataset> {
    let mut rng = nn::seeded(seed);
    let mut pixels = vec![0u8; n * shape.iter().product::<usize>()];
    rng.fill(pixels.as_mut_slice());
    let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
    Dataset::from_u8(pixels, shape, labels, 10)
}

/// The image benchmarks' data (`[N, 1, 28, 28]`): the first `samples` training and
/// `infer_samples` test images of the MNIST IDX files in `data_dir`, or synthetic images without
/// one.
pub fn image_data(
    data_dir: Option<&str>,
    samples: usize,
    infer_samples: usize,
) -> nn::Result<(Dataset, Dataset)> {
    let Some(dir) = data_dir else {
        return Ok((
            synthetic(samples, &[1, 28, 28], 1)?,
            synthetic(infer_samples, &[1, 28, 28], 2)?,
        ));
    };
    let mnist = nn::data::Mnist::loader()
        .env(false)
        .progress(false)
        .local_dir(dir)
        .load()?;
    let first = |n: usize| (0..n).collect::<Vec<usize>>();
    let train = mnist.train.subset(&first(samples.min(mnist.train.len())))?;
    let infer = mnist.test.subset(&first(infer_samples.min(mnist.test.len())))?;
    Ok((
        train.with_feature_shape(&[1, 28, 28])?,
        infer.with_feature_shape(&[1, 28, 28])?,
    ))
}

/// One epoch over `batches`, written out step by step: batch -> forward(Train) -> loss ->
/// backward -> optimizer step. Returns the last batch's loss. (This is what `Trainer::fit` does
/// per epoch, minus its metrics; the benchmark keeps the loop bare so that it times the network
/// only.)
fn train_epoch(
    net: &mut impl Layer,
    batches: &mut Batches<'_>,
    loss_fn: &mut SoftmaxCrossEntropy,
    optimizer: &mut Adam,
    times: &mut StepTimes,
) -> Result<f32, Box<dyn std::error::Error>> {
    let mut loss = f32::NAN;
    let mut t = Instant::now();
    let mut cpu = thread_cpu();
    while let Some(batch) = batches.next_batch()? {
        let now = Instant::now();
        times.batch += now - t;
        let filled = thread_cpu();
        if let (Some(start), Some(end)) = (cpu, filled) {
            times.batch_cpu += end.saturating_sub(start);
        }
        let logits = net.forward(std::mem::take(&mut batch.inputs), Mode::Train);
        let t_loss = Instant::now();
        loss = loss_fn.forward(logits, batch.targets());
        let grad = loss_fn.backward();
        times.loss += t_loss.elapsed();
        // The input gradient has the batch's shape: handing it back makes it the next batch's
        // buffer, so no step allocates one.
        batch.inputs = net.backward(grad);
        let t_opt = Instant::now();
        optimizer.step(net)?;
        t = Instant::now();
        times.optimizer += t - t_opt;
        let stepped = thread_cpu();
        if let (Some(start), Some(end)) = (cpu, stepped) {
            times.step_cpu += end.saturating_sub(start);
        }
        cpu = stepped;
    }
    if !loss.is_finite() {
        return Err(format!("the loss diverged to {loss}").into());
    }
    Ok(loss)
}

/// Trains `net` on `train` with Adam (lr 1e-3, betas 0.9 / 0.999, eps 1e-8): one warm-up epoch,
/// then `setup.epochs` timed ones, a line each; then times inference on `infer`; prints the
/// profile if asked, and last the line
/// `median_epoch_s=<f> samples_per_s=<f> infer_samples_per_s=<f>`.
///
/// With `augmented` (the same samples, augmented as their batches are filled), every timed epoch
/// on `train` is followed by one on `augmented`, and the cost of augmenting is printed as a share
/// of a plain step: measured in the same run, so that the load of a shared machine weighs on both
/// alike. The last line still describes the plain epochs.
pub fn run(
    net: &mut impl TimedNet,
    train: &dyn DataSource,
    augmented: Option<&dyn DataSource>,
    infer: &Dataset,
    setup: &Setup,
) -> Result<(), Box<dyn std::error::Error>> {
    let epochs = setup.epochs;
    let mut loss_fn = SoftmaxCrossEntropy::new();
    let mut optimizer = Adam::new(1e-3).with_betas(0.9, 0.999).with_eps(1e-8);
    let mut batches = Batches::new(train, setup.batch_size).shuffled(1).training(true);
    let mut augmented = augmented.map(|a| Batches::new(a, setup.batch_size).shuffled(1).training(true));

    for batches in std::iter::once(&mut batches).chain(augmented.as_mut()) {
        let warm = Instant::now();
        let loss = train_epoch(
            net,
            batches,
            &mut loss_fn,
            &mut optimizer,
            &mut StepTimes::default(),
        )?;
        println!(
            "warm-up epoch{}: {:.3} s, loss {loss:.4}",
            if batches.source().name().starts_with("Transformed") {
                " (augmented)"
            } else {
                ""
            },
            warm.elapsed().as_secs_f64()
        );
    }

    net.timers(setup.profile);
    let mut steps = StepTimes::default();
    let mut epoch_s = Vec::with_capacity(epochs);
    let (mut augmented_steps, mut augmented_s) = (StepTimes::default(), Vec::new());
    let flop = setup.flop.as_ref().map(|f| (f.epoch)(train.len()));
    for epoch in 1..=epochs {
        let start = Instant::now();
        let loss = train_epoch(net, &mut batches, &mut loss_fn, &mut optimizer, &mut steps)?;
        let s = start.elapsed().as_secs_f64();
        epoch_s.push(s);
        let rate = match flop {
            Some(flop) => format!(", {:.1} GFLOP/s", flop / s / 1e9),
            None => String::new(),
        };
        println!(
            "epoch {epoch}/{epochs}: {s:.3} s, {:.0} samples/s{rate}, loss {loss:.4}",
            train.len() as f64 / s
        );
        if let Some(batches) = augmented.as_mut() {
            let start = Instant::now();
            let loss = train_epoch(net, batches, &mut loss_fn, &mut optimizer, &mut augmented_steps)?;
            let s = start.elapsed().as_secs_f64();
            augmented_s.push(s);
            println!(
                "epoch {epoch}/{epochs} augmented: {s:.3} s, {:.0} samples/s, loss {loss:.4}",
                train.len() as f64 / s
            );
        }
    }
    let layers = net.timers(false);
    if !augmented_s.is_empty() {
        print_augment_cost(
            &steps,
            &augmented_steps,
            &mut epoch_s.clone(),
            &mut augmented_s,
            epochs * batches.batches_per_epoch(),
        );
    }

    // Inference: Eval forward of the whole set as one batch, `infer_rounds` times.
    let n_infer = infer.len();
    net.timers(setup.profile);
    let (accuracy, mut infer_s) = time_inference(net, infer, setup.infer_rounds);
    let infer_median = median(&mut infer_s);
    println!(
        "inference: {n_infer} samples at batch {n_infer}: {infer_median:.4} s median of {}, \
         accuracy {accuracy:.4}",
        setup.infer_rounds
    );
    let infer_layers = net.timers(false);

    if setup.profile {
        print_profile(
            &layers,
            &steps,
            epoch_s.iter().sum(),
            epochs * batches.batches_per_epoch(),
            setup,
        );
        println!("inference profile: milliseconds per forward of {n_infer} samples");
        let total: f64 = infer_s.iter().sum::<f64>() * 1e3 / infer_s.len() as f64;
        let mut layers_ms = 0.0;
        for (name, fwd, _) in infer_layers {
            let ms = fwd.as_secs_f64() * 1e3 / infer_s.len() as f64;
            layers_ms += ms;
            println!("  {name:<24} {ms:8.2} ms {:5.1} %", 100.0 * ms / total);
        }
        let other = total - layers_ms;
        println!("  {:<24} {other:8.2} ms {:5.1} %", "other", 100.0 * other / total);
    }

    let median_epoch = median(&mut epoch_s);
    println!(
        "median_epoch_s={median_epoch:.4} samples_per_s={:.0} infer_samples_per_s={:.0}",
        train.len() as f64 / median_epoch,
        n_infer as f64 / infer_median
    );
    Ok(())
}

/// The cost of augmentation per step, from the plain and augmented epochs of one run: the extra
/// time of the batch fill, and of the whole epoch, as shares of a plain step.
fn print_augment_cost(
    plain: &StepTimes,
    augmented: &StepTimes,
    plain_s: &mut [f64],
    augmented_s: &mut [f64],
    n_steps: usize,
) {
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n_steps as f64;
    let (plain_fill, augmented_fill) = (us(plain.batch), us(augmented.batch));
    let step = plain_s.iter().sum::<f64>() * 1e6 / n_steps as f64;
    let (plain_median, augmented_median) = (median(plain_s), median(augmented_s));
    println!(
        "augmentation: batch fill {augmented_fill:.0} us augmented, {plain_fill:.0} us plain, per \
         step of {step:.0} us; median epoch {augmented_median:.3} s augmented, {plain_median:.3} s plain"
    );
    // The calling thread's CPU time: with --threads 1 all of a step's work, and not inflated
    // by other programs' use of the cores.
    let cpu = match (plain.step_cpu.is_zero(), augmented.step_cpu.is_zero()) {
        (false, false) => {
            let (plain_fill, augmented_fill, step) =
                (us(plain.batch_cpu), us(augmented.batch_cpu), us(plain.step_cpu));
            println!(
                "augmentation, CPU time of the calling thread: batch fill {augmented_fill:.0} us augmented, \
                 {plain_fill:.0} us plain, per step of {step:.0} us"
            );
            format!(
                " augment_cost_cpu={:.1}%",
                100.0 * (augmented_fill - plain_fill) / step
            )
        }
        _ => String::new(),
    };
    println!(
        "augment_cost_fill={:.1}% augment_cost_epoch={:.1}%{cpu}",
        100.0 * (augmented_fill - plain_fill) / step,
        100.0 * (augmented_median - plain_median) / plain_median
    );
}

/// The per-layer and per-phase breakdown of the timed epochs, in microseconds per step, with the
/// GFLOP/s of the convolutions `setup.flop` counts (and then the batch size, which they depend
/// on), each against the rate of a large matrix product measured now on the same threads, and
/// the share of the step spent outside the convolutions.
fn print_profile(layers: &Rows, steps: &StepTimes, total_s: f64, n_steps: usize, setup: &Setup) {
    let batch = setup.batch_size;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n_steps as f64;
    let of_batch = match setup.flop {
        Some(_) => format!(" of {batch}"),
        None => String::new(),
    };
    // The reference rate, measured after training so that it sees the machine as the epochs did.
    let sgemm = setup.flop.as_ref().map(|_| square_rate(7));
    println!("profile: microseconds per step ({n_steps} steps{of_batch}), share of the timed epochs");
    if let Some((best, median)) = sgemm {
        println!(
            "  (sgemm reference: {SQUARE}^3 product on {} threads, {median:.1} GFLOP/s median, \
             {best:.1} best of 7)",
            nn::num_threads()
        );
        // Winograd computes a 3x3 convolution with fewer multiplications than its definition,
        // so such a layer can run above the reference.
        println!("  (a convolution's GFLOP/s counts the multiply-adds of its definition)");
    }
    let total_us = total_s * 1e6 / n_steps as f64;
    let gflops = |macs: usize, t_us: f64| 2.0 * (macs * batch) as f64 / (t_us * 1e3);
    let row = |name: &str, t: f64, extra: String| {
        println!("  {name:<24} {t:8.1} us {:5.1} %{extra}", 100.0 * t / total_us)
    };
    let macs = |name: &str, fwd: bool| setup.flop.as_ref().and_then(|f| (f.layer_macs)(name, fwd));
    let rate = |name: &str, fwd: bool, t: f64| -> String {
        match (macs(name, fwd), sgemm) {
            (Some(macs), Some((_, median))) => {
                let r = gflops(macs, t);
                format!("  {r:6.1} GFLOP/s {:4.0} % of sgemm", 100.0 * r / median)
            }
            _ => String::new(),
        }
    };
    // (label, layer name if a layer, forward?, time) of every phase of a step, in order.
    let mut phases: Vec<(String, Option<&str>, bool, Duration)> = Vec::new();
    for (name, fwd, _) in layers {
        phases.push((format!("{name} forward"), Some(name), true, *fwd));
    }
    phases.push(("loss".into(), None, true, steps.loss));
    for (name, _, bwd) in layers.iter().rev() {
        phases.push((format!("{name} backward"), Some(name), false, *bwd));
    }
    phases.push(("optimizer step".into(), None, true, steps.optimizer));
    phases.push(("batch fill".into(), None, true, steps.batch));
    let (mut accounted, mut convolutions) = (0.0, 0.0);
    for (label, name, fwd, t) in phases {
        let extra = name.map_or(String::new(), |name| rate(name, fwd, us(t)));
        row(&label, us(t), extra);
        accounted += us(t);
        if name.is_some_and(|name| macs(name, fwd).is_some()) {
            convolutions += us(t);
        }
    }
    row("other", total_us - accounted, String::new());
    row("total", total_us, String::new());
    if setup.flop.is_some() {
        row("convolutions", convolutions, String::new());
        row("outside them", total_us - convolutions, String::new());
    }
}
