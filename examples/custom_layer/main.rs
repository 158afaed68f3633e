//! Extending nn with your own layer, written outside the framework (in `layers.rs`): `LeakyRelu`,
//! an activation with no parameters. It is verified with the public gradient check, then used in a
//! derived sub-network that the built-in `Residual` wraps (adding its input back, with no
//! backward to write), as fields of a derived network that trains on MNIST; with `--onnx FILE`
//! the trained network is written as an ONNX model, `LeakyRelu` through its own `to_onnx`. The
//! last line is `test_accuracy=<fraction>`, as in the main example.
//!
//! `cargo run --release --example custom_layer -- --data-dir nn-core/data/mnist-10k`

#[path = "../common/mod.rs"]
mod common;
mod layers;

use clap::Parser;
use layers::LeakyRelu;
use nn::prelude::*;

/// The sub-network inside the residual block: a derived network like any other.
#[derive(Sequential)]
struct Block {
    fc1: Linear,
    act: LeakyRelu,
    fc2: Linear,
}

impl Block {
    fn new(width: usize, rng: &mut StdRng) -> Self {
        Block {
            fc1: Linear::new(width, width, Init::He, rng),
            act: LeakyRelu::new(0.01),
            fc2: Linear::new(width, width, Init::Std(0.01), rng),
        }
    }
}

/// The network trained on MNIST: a custom layer and a residual block as plain fields of a derived
/// struct. `Residual` adds no names: the block's weights are `block.fc1.weight`, ...
#[derive(Sequential)]
struct Net {
    fc_in: Linear,
    bn: BatchNorm,
    act: LeakyRelu,
    block: Residual<Block>,
    fc_out: Linear,
}

impl Net {
    fn new(rng: &mut StdRng) -> Self {
        Net {
            fc_in: Linear::new(784, 128, Init::He, rng),
            bn: BatchNorm::new(128),
            act: LeakyRelu::new(0.01),
            block: Residual(Block::new(128, rng)),
            fc_out: Linear::new(128, 10, Init::He, rng),
        }
    }
}

/// A custom layer (LeakyReLU) in a residual block around a derived sub-network: gradient-check
/// them, then train on MNIST
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("epochs", |a| a.default_value("10")))]
struct Cli {
    #[command(flatten)]
    data: common::DataFlags,
    #[command(flatten)]
    train: common::flags::TrainFlags,
    // The layers describe themselves as ONNX nodes (`to_onnx` in layers.rs), so the trained
    // network exports like one of built-in layers.
    #[command(flatten)]
    onnx: common::flags::OnnxFlag,
}

fn main() -> nn::Result<()> {
    let cli = Cli::parse();
    cli.train.apply_threads();
    let seed = cli.train.seed;
    cli.onnx.prepare()?;

    // 1. Verify each custom layer's backward against finite differences before trusting it. (Not
    // the whole Net: after a BatchNorm over 4 samples, a step of 1e-2 in fc_in.weight moves
    // some activations across LeakyReLU's kink at 0, where finite differences are meaningless.)
    let mut rng = seeded(seed);
    let checks: [(&str, GradReport); 2] = [
        ("LeakyRelu", gradcheck(&mut LeakyRelu::new(0.1), &[4, 10])),
        (
            "Residual<Block>",
            gradcheck(&mut Residual(Block::new(8, &mut rng)), &[4, 8]),
        ),
    ];
    for (name, report) in &checks {
        let worst = report.worst().map_or("nothing checked".to_string(), |w| {
            format!("worst relative error {:.2e} at {}", w.worst_error, w.name)
        });
        println!(
            "gradcheck {name:<16} {} ({worst})",
            if report.passed() { "passed" } else { "FAILED" }
        );
    }
    if let Some((name, report)) = checks.iter().find(|(_, r)| !r.passed()) {
        eprintln!("{name} failed its gradient check:\n{report}");
        std::process::exit(1);
    }

    // 2. Train the network that uses them, exactly as a network of built-in layers.
    let data = common::load_data(&cli.data, seed)?;
    let mut net = Net::new(&mut seeded(seed));
    println!("{}", nn::summary(&mut net, &[1, 784]));
    let mut trainer = Trainer::new(Adam::new(1e-3))
        .epochs(cli.train.epochs)
        .batch_size(cli.train.batch_size)
        .seed(seed);
    trainer.fit(&mut net, &data.train, data.valid())?;
    let test = trainer.evaluate(&mut net, &data.test)?;
    cli.onnx.export(&mut net, &[784])?;
    println!("test_loss={:.4}", test.loss);
    println!("test_accuracy={:.4}", test.metric("acc").unwrap_or(f32::NAN));
    Ok(())
}
