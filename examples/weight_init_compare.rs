//! Weight initialisation: std 0.01 vs Xavier vs He on the same deep ReLU MLP (five hidden layers of
//! 100, plain SGD), the comparison the seed's initialisation section motivates. With std 0.01 the
//! activations shrink layer by layer and the network barely learns; He keeps their scale.
//!
//! `cargo run --release --example weight_init_compare -- --data-dir nn-core/data/mnist-10k`

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::compare::{report, run_all, CompareFlags, Run};
use nn::prelude::*;

/// Train a 5x100 ReLU MLP with SGD from three weight initialisations: std 0.01, Xavier, He
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("out", |a| a.default_value("out/weight_init_compare")))]
#[command(mut_arg("lr", |a| a.default_value("0.01").help("SGD learning rate for every run")))]
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
    let runs = [
        ("std 0.01", Init::Std(0.01)),
        ("Xavier", Init::Xavier),
        ("He", Init::He),
    ]
    .into_iter()
    .map(|(name, init)| Run::deep_relu_mlp(name, init, false, lr))
    .collect();
    let outcomes = run_all(runs, &data, &flags)?;
    report(&outcomes, &flags, "weight_init.png", "Weight initialisation")
}
