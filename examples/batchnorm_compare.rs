//! With vs without BatchNorm: the same deep MLP (five hidden layers of 100, ReLU, He init, plain
//! SGD) trained on the same batches, the experiment the seed's BatchNorm section motivates.
//!
//! `cargo run --release --example batchnorm_compare -- --data-dir nn-core/data/mnist-10k`

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::compare::{report, run_all, CompareFlags, Run};
use nn::prelude::*;

/// Train a 5x100 ReLU MLP with SGD, with and without BatchNorm, on the same batches
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("out", |a| a.default_value("out/batchnorm_compare")))]
#[command(mut_arg("lr", |a| a.default_value("0.1").help("SGD learning rate for both runs")))]
struct Cli {
    #[command(flatten)]
    flags: CompareFlags,
    #[command(flatten)]
    lr: common::flags::LrFlag,
}

fn main() -> nn::Result<()> {
    let cli = Cli::parse();
    let (flags, lr) = (cli.flags, cli.lr.get());

    let data = flags.load()?;
    let runs = [("with BatchNorm", true), ("without BatchNorm", false)]
        .into_iter()
        .map(|(name, batch_norm)| Run::deep_relu_mlp(name, Init::He, batch_norm, lr))
        .collect();
    let outcomes = run_all(runs, &data, &flags)?;
    report(&outcomes, &flags, "batchnorm.png", "BatchNorm")
}
