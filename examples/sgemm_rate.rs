//! Measures nn's matrix product (`nn::linalg::matmul_into`) on the shapes of workload W and
//! prints the GEMM-bound epoch time: the epoch's matrix-multiply FLOPs at the rates measured
//! here. bench_mlp's epoch time minus this is what the framework spends outside the GEMMs.
//!
//! ```sh
//! cargo run --release --example sgemm_rate -- --threads 2
//! ```

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::flags::{at_least_one, WorkloadFlags};
use ndarray::{Array2, ShapeBuilder};
use nn::linalg::matmul_into;
use std::time::Instant;

/// One product of a training step of W at batch `b`: `(name, m, k, n, a transposed, b transposed)`,
/// laid out as `Linear` does (`y = x W^T`, `dW = G^T x`, `dx = G W`).
fn shapes(b: usize) -> Vec<(&'static str, usize, usize, usize, bool, bool)> {
    vec![
        ("fc1 forward  x W^T", b, 784, 128, false, true),
        ("fc1 weight   G^T x", 128, b, 784, true, false),
        ("fc2 forward", b, 128, 64, false, true),
        ("fc2 weight", 64, b, 128, true, false),
        ("fc2 input    G W", b, 64, 128, false, false),
        ("fc3 forward", b, 64, 10, false, true),
        ("fc3 weight", 10, b, 64, true, false),
        ("fc3 input", b, 10, 64, false, false),
    ]
}

/// A matrix of `rows x cols` (column-major in memory when `transposed`) with varied values.
fn matrix(rows: usize, cols: usize, transposed: bool) -> Array2<f32> {
    let values: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    if transposed {
        Array2::from_shape_vec((rows, cols).f(), values).expect("sized")
    } else {
        Array2::from_shape_vec((rows, cols), values).expect("sized")
    }
}

/// Best and median seconds per product over `rounds` rounds of repeated products.
fn time_product(m: usize, k: usize, n: usize, ta: bool, tb: bool, rounds: usize) -> (f64, f64) {
    let a = matrix(m, k, ta);
    let b = matrix(k, n, tb);
    let mut c = Array2::<f32>::zeros((m, n));
    let macs = (m * k * n) as f64;
    let reps = ((2e7 / macs) as usize).clamp(1, 10_000);
    for _ in 0..reps {
        matmul_into(a.view(), b.view(), c.view_mut(), false);
    }
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                matmul_into(a.view(), b.view(), c.view_mut(), false);
            }
            start.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2])
}

/// Measures nn's sgemm rate on the shapes of W and prints the GEMM-bound epoch time.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
struct Cli {
    #[command(flatten)]
    workload: WorkloadFlags,
    /// Timing rounds per shape (best and median are printed)
    #[arg(long, value_name = "N", default_value_t = 15, value_parser = at_least_one, allow_hyphen_values = true)]
    rounds: usize,
}

fn main() {
    let Cli {
        workload:
            WorkloadFlags {
                threads,
                batch_size: batch,
                samples,
            },
        rounds,
    } = Cli::parse();
    nn::set_num_threads(threads);
    let steps = samples.div_ceil(batch);

    println!(
        "{threads} threads, batch {batch}, {steps} steps per epoch; GFLOP/s best / median of {rounds} rounds"
    );
    let (mut flops, mut best_s, mut median_s) = (0.0, 0.0, 0.0);
    for (name, m, k, n, ta, tb) in shapes(batch) {
        let f = 2.0 * (m * k * n) as f64;
        let (best, median) = time_product(m, k, n, ta, tb, rounds);
        println!(
            "  {name:<20} {m:>5} x {k:>4} x {n:>4}  {:6.1} / {:6.1} GFLOP/s  ({:7.1} us best)",
            f / best / 1e9,
            f / median / 1e9,
            best * 1e6
        );
        flops += f * steps as f64;
        best_s += best * steps as f64;
        median_s += median * steps as f64;
    }
    let (best_sq, _) = time_product(1024, 1024, 1024, false, false, 5);
    println!(
        "  {:<20} 1024 x 1024 x 1024  {:6.1} GFLOP/s best",
        "square",
        2.0 * 1024f64.powi(3) / best_sq / 1e9
    );
    println!(
        "epoch GEMMs: {:.1} GFLOP; GEMM-bound epoch {best_s:.3} s at the best rates ({:.0} GFLOP/s), \
         {median_s:.3} s at the median rates",
        flops / 1e9,
        flops / best_s / 1e9
    );
}
