//! Benchmark: the cost of each element-wise activation, and of Softmax, LayerNorm and GroupNorm,
//! on one hidden layer of workload W (`[100, 128]`: a Train forward and its backward) and on a
//! large inference batch (`[10000, 128]`, an Eval forward). Prints one line per layer with the
//! best time of 5 rounds, so layers can be compared with each other and with another build.
//!
//! ```sh
//! cargo run --release --example bench_activations
//! cargo run --release --example bench_activations -- --threads 1
//! ```
//!
//! docs/LAYERS.md compares Relu, Sigmoid and Tanh with the build before their move onto the
//! shared element-wise core, measured with the same loops.

use clap::Parser;
use nn::prelude::*;
use std::time::Instant;

/// The command line.
#[derive(Parser, Debug)]
#[command(version, about = "Times the activation and normalisation layers")]
struct Flags {
    /// Threads for nn's kernels (default: all logical CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

/// Distinct values over [-2.7, 2.7] in a scrambled order.
fn values(rows: usize) -> Tensor {
    Tensor::from_shape_fn(vec![rows, 128], |i| {
        ((i[0] * 131 + i[1] * 7) % 19) as f32 * 0.3 - 2.7
    })
}

/// The best time of 5 rounds of `reps` calls of `step`, in microseconds.
fn best_us(reps: usize, mut step: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                step();
            }
            start.elapsed().as_secs_f64() / reps as f64 * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let flags = Flags::parse();
    if let Some(threads) = flags.threads {
        nn::set_num_threads(threads);
    }
    let (x, big) = (values(100), values(10_000));
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Relu::new()),
        Box::new(LeakyRelu::default()),
        Box::new(Sigmoid::new()),
        Box::new(Tanh::new()),
        Box::new(Elu::default()),
        Box::new(Gelu::new()),
        Box::new(Gelu::tanh()),
        Box::new(Silu::new()),
        Box::new(Softplus::default()),
        Box::new(Softmax::new(1)),
        Box::new(LayerNorm::new(&[128])),
        Box::new(GroupNorm::new(8, 128)),
    ];
    println!("threads={}", nn::num_threads());
    for mut layer in layers {
        // Each step starts from the same values: the copy is part of both measurements.
        let mut t = x.clone();
        let train = best_us(4000, || {
            t.assign(&x);
            let y = layer.forward(std::mem::take(&mut t), Mode::Train);
            t = layer.backward(y);
        });
        let mut b = big.clone();
        let eval = best_us(20, || {
            b.assign(&big);
            b = layer.forward(std::mem::take(&mut b), Mode::Eval);
        });
        println!(
            "{:<32} train_step_us={train:.2} eval_10000x128_us={eval:.1}",
            layer.type_name()
        );
    }
}
