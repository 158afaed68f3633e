//! Trains the same MLP on MNIST with each optimizer (same seed, same batches) and prints a table of
//! loss and accuracy per optimizer, then draws every optimizer's curves into one PNG: the
//! comparison the seed notebook describes in words.
//!
//! `cargo run --release --example compare_optimizers -- --data-dir nn-core/data/mnist-10k`

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::compare::{report, run_all, CompareFlags, Run};
use nn::mlp::{Activation, Mlp};
use nn::prelude::*;

/// Train one MLP (784-100-100-100-100-10, ReLU, He init) with every optimizer on the same batches
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("out", |a| a.default_value("out/compare_optimizers")))]
struct Cli {
    #[command(flatten)]
    flags: CompareFlags,
}

fn main() -> nn::Result<()> {
    let flags = Cli::parse().flags;

    let data = flags.load()?;
    let runs = common::OPTIMIZERS
        .iter()
        .map(|&name| {
            let lr = common::default_lr(name);
            Run {
                name: format!("{name} (lr {lr})"),
                build: Box::new(|rng: &mut StdRng| -> Box<dyn Layer> {
                    Box::new(
                        Mlp::builder(784, &[100, 100, 100, 100], 10)
                            .activation(Activation::Relu)
                            .init(Init::He)
                            // The input is data, which needs no gradient: skip that product.
                            .input_grad(false)
                            .build(rng),
                    )
                }),
                optimizer: common::optimizer(name, lr),
            }
        })
        .collect();
    let outcomes = run_all(runs, &data, &flags)?;
    report(&outcomes, &flags, "optimizers.png", "Optimizers")
}
