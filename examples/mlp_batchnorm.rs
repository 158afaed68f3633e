//! The main job: the seed notebook's MNIST network (784 -> 128 -> 64 -> 10, BatchNorm and ReLU on
//! each hidden layer, He initialisation, Adam) trained with a held-out validation split and
//! evaluated on the test set.
//!
//! ```sh
//! cargo run --release --example mlp_batchnorm                      # MNIST: MNIST_DIR, cache or download
//! cargo run --release --example mlp_batchnorm -- --data-dir ../shared/data/mnist-10k
//! cargo run --release --example mlp_batchnorm -- --help
//! ```
//!
//! Writes `history.csv`, `curves.png`, `model.safetensors` and `optimizer.json` into `--out`; the
//! last line on stdout is `test_accuracy=<fraction>`.

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::flags::{OptimFlags, OutFlag, TrainFlags};
use common::nets::SeedNet;
use nn::prelude::*;
use std::path::PathBuf;

/// BatchNorm keeps each layer's inputs normalised whatever the weights' scale, so this network
/// trains stably at five times the usual rates, and with the rate annealed by the cosine
/// schedule it generalises better than at the usual rates: on the 10k MNIST subset, eight seeds
/// gave 95.6% mean test accuracy with Adam 5e-3 and cosine (README), and seeds 4321, 1 and 2
/// gave 95.1%, 94.9% and 94.4% with Adam 1e-3 at a constant rate.
/// Five times `common::default_lr`, written out so that it prints as typed.
fn default_lr(optimizer: &str) -> f32 {
    match optimizer {
        "sgd" => 0.5,
        "momentum" | "nesterov" | "adagrad" => 0.05,
        _ => 0.005,
    }
}

/// Trains the seed notebook's MNIST network (784-128-64-10, BatchNorm, ReLU, He init) and
/// reports its test accuracy.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("lr", |a| a.help(
    "Learning rate (default: 0.005 for adam/adamw/rmsprop, 0.05 for momentum/nesterov/adagrad, 0.5 for sgd)"
)))]
#[command(mut_arg("out", |a| a.default_value("out/mlp_batchnorm")))]
struct Cli {
    #[command(flatten)]
    train: TrainFlags,
    #[command(flatten)]
    optim: OptimFlags,
    #[command(flatten)]
    data: common::DataFlags,
    #[command(flatten)]
    out: OutFlag,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = cli.optim.check_patience::<Cli>(cli.data.valid_fraction.value()) {
        e.exit();
    }
    match run(&cli) {
        Ok(accuracy) => println!("test_accuracy={accuracy:.4}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

fn run(cli: &Cli) -> nn::Result<f32> {
    let (t, o, out) = (&cli.train, &cli.optim, &cli.out.dir);
    let lr = o.lr.or(default_lr(&o.optimizer));
    // Now, not after training: a bad --out must not cost the run.
    nn::fsutil::prepare_output_dir(out)?;
    let mut net = SeedNet::new(&mut seeded(t.seed));
    println!("{}", nn::summary(&mut net, &[1, 784]));

    let data = common::load_data(&cli.data, t.seed)?;
    println!(
        "{}: {} training, {} validation, {} test images",
        data.name,
        data.train.len(),
        data.valid.len(),
        data.test.len()
    );
    println!(
        "{} lr={} batch_size={} epochs={} seed={}",
        o.optimizer, lr, t.batch_size, t.epochs, t.seed
    );

    let mut opt = common::optimizer(&o.optimizer, lr);
    opt.set_weight_decay(o.weight_decay);
    let mut trainer = Trainer::new(opt)
        .epochs(t.epochs)
        .batch_size(t.batch_size)
        .seed(t.seed)
        .schedule(match o.schedule.as_str() {
            "cosine" => LrSchedule::cosine(t.epochs),
            "step" => LrSchedule::StepDecay {
                every: t.epochs.div_ceil(3).max(1),
                gamma: 0.1,
            },
            _ => LrSchedule::Constant,
        });
    if o.patience > 0 {
        trainer = trainer.early_stopping(EarlyStopping::new(o.patience));
    }
    let history = match trainer.fit(&mut net, &data.train, data.valid()) {
        Ok(history) => history,
        Err(e) => {
            // Keep the curve up to the failure (a diverging loss): it shows how the run went.
            let path = out.join("history.csv");
            if !trainer.history().is_empty() && trainer.history().save_csv(&path).is_ok() {
                eprintln!("wrote {} (the epochs before the failure)", path.display());
            }
            return Err(e);
        }
    };
    let test = trainer.evaluate(&mut net, &data.test)?;

    let path = |name: &str| -> PathBuf { out.join(name) };
    let files = [
        path("history.csv"),
        path("curves.png"),
        path("model.safetensors"),
        path("optimizer.json"),
    ];
    history.save_csv(&files[0])?;
    history.plot(&files[1])?;
    nn::save(&mut net, &files[2])?;
    trainer.optimizer().state().save_json(&files[3])?;
    for f in &files {
        println!("wrote {}", f.display());
    }
    println!("test_loss={:.4}", test.loss);
    Ok(test.accuracy)
}
