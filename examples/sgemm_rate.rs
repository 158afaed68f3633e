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
use common::sgemm::{square_rate, time_product};

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
    let (best_sq, median_sq) = square_rate(5);
    println!(
        "  {:<20} 1024 x 1024 x 1024  {best_sq:6.1} / {median_sq:6.1} GFLOP/s",
        "square"
    );
    println!(
        "epoch GEMMs: {:.1} GFLOP; GEMM-bound epoch {best_s:.3} s at the best rates ({:.0} GFLOP/s), \
         {median_s:.3} s at the median rates",
        flops / 1e9,
        flops / best_s / 1e9
    );
}
