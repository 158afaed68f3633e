//! Benchmark: one `Conv2d` layer alone, a Train forward and its backward on a batch of
//! synthetic images, the median of `--reps` steps each. The layers of workloads C and R
//! compared one at a time, between builds, without the rest of a network's step around them.
//!
//! ```sh
//! cargo run --release --example bench_conv -- --in 16 --out 32 --stride 2     # R's 4.conv1
//! cargo run --release --example bench_conv -- --in 1 --out 32 --no-input-grad  # C's conv1
//! ```

use clap::Parser;
use nn::prelude::*;
use std::time::Instant;

/// The command line.
#[derive(Parser, Debug)]
#[command(version, about = "Times one Conv2d layer's forward and backward")]
struct Flags {
    /// Input channels.
    #[arg(long = "in", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    in_channels: u32,
    /// Output channels.
    #[arg(long = "out", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    out_channels: u32,
    /// Kernel height and width.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    kernel: u32,
    /// Step between windows.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    stride: u32,
    /// Zeros on each side (default: kernel / 2, PyTorch's "same" for stride 1).
    #[arg(long)]
    padding: Option<u32>,
    /// Image height and width.
    #[arg(long, default_value_t = 28, value_parser = clap::value_parser!(u32).range(1..))]
    size: u32,
    /// Images per step.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Timed steps (after one untimed).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    reps: u32,
    /// Threads for nn's kernels [default: all logical CPUs].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Skip the input gradient, as for a network's first layer.
    #[arg(long)]
    no_input_grad: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let f = Flags::parse();
    if let Some(threads) = f.threads {
        nn::set_num_threads(threads as usize);
    }
    let [cin, cout, k, s, hw, n] = [
        f.in_channels,
        f.out_channels,
        f.kernel,
        f.stride,
        f.size,
        f.batch_size,
    ]
    .map(|v| v as usize);
    let padding = f.padding.map_or(k / 2, |p| p as usize);
    if hw + 2 * padding < k {
        eprintln!("error: a {k}x{k} kernel does not fit {hw}x{hw} images padded by {padding}");
        std::process::exit(2);
    }
    let mut conv = Conv2d::builder(cin, cout, k)
        .stride(s)
        .padding(padding)
        .build(Init::He, &mut nn::seeded(nn::DEFAULT_SEED))
        .with_input_grad(!f.no_input_grad);
    let x = Tensor::from_shape_fn(vec![n, cin, hw, hw], |i| {
        ((i[1] * 7 + i[2] * 3 + i[3]) % 11) as f32 * 0.2 - 1.0
    });
    let (mut forward, mut backward) = (Vec::new(), Vec::new());
    for rep in 0..=f.reps {
        let input = x.clone();
        let start = Instant::now();
        let y = conv.forward(input, Mode::Train);
        let fwd = start.elapsed().as_secs_f64();
        let start = Instant::now();
        drop(conv.backward(y));
        if rep > 0 {
            forward.push(fwd * 1e6);
            backward.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    let out = (hw + 2 * padding).saturating_sub(k) / s + 1;
    // Multiply-adds of the definition, two flops each; the backward does twice the forward's
    // (the weight and the input gradient), or as many without the input gradient.
    let gflop = 2.0 * (n * cout * out * out * cin * k * k) as f64 / 1e9;
    let backward_gflop = if f.no_input_grad { gflop } else { 2.0 * gflop };
    let (fwd, bwd) = (median(forward), median(backward));
    println!(
        "conv {cin} -> {cout}, {k}x{k}, stride {s}, padding {padding}, on {n} x {hw}x{hw}: \
         forward {fwd:.0} us ({:.1} GFLOP/s), backward {bwd:.0} us ({:.1} GFLOP/s), medians of {}",
        gflop / fwd * 1e6,
        backward_gflop / bwd * 1e6,
        f.reps
    );
}
