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

use common::cli::{Cli, NonNegative, Positive};
use common::nets::SeedNet;
use nn::prelude::*;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

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

/// Settings from the command line.
struct Settings {
    epochs: usize,
    batch_size: usize,
    lr: f32,
    optimizer: &'static str,
    seed: u64,
    schedule: &'static str,
    weight_decay: f32,
    patience: usize,
    data: common::DataFlags,
    out: PathBuf,
}

fn parse_flags() -> Settings {
    let mut cli = Cli::from_env(
        "Trains the seed notebook's MNIST network (784-128-64-10, BatchNorm, ReLU, He init) and \
         reports its test accuracy.",
    );
    let epochs = cli.get("epochs", "N", "training epochs", 20usize);
    let batch_size: NonZeroUsize = cli.get(
        "batch-size",
        "N",
        "samples per mini-batch",
        NonZeroUsize::new(100).expect("nonzero"),
    );
    let lr: Option<Positive> = cli.optional(
        "lr",
        "F",
        "learning rate (default: 0.005 for adam/adamw/rmsprop, 0.05 for momentum/nesterov/adagrad, 0.5 for sgd)",
    );
    let optimizer = cli.choice("optimizer", "optimizer", common::OPTIMIZERS);
    let seed = cli.get(
        "seed",
        "N",
        "seed of the split, the weights and the shuffles",
        nn::DEFAULT_SEED,
    );
    let schedule = cli.choice(
        "schedule",
        "learning-rate schedule (cosine: to 0 over the run; step: x0.1 at each third)",
        &["cosine", "constant", "step"],
    );
    let weight_decay = cli.get(
        "weight-decay",
        "F",
        "L2 weight decay of the optimizer",
        NonNegative(0.0),
    );
    let patience = cli.get(
        "patience",
        "N",
        "early stopping after N epochs in a row without a better validation loss (Keras' patience; 0: off)",
        0usize,
    );
    let data = common::DataFlags::parse(&mut cli);
    let out: String = cli.get("out", "DIR", "output directory", "out/mlp_batchnorm".to_string());
    let usage = cli.usage();
    cli.finish();
    let lr = lr.map_or_else(|| default_lr(optimizer), |lr| lr.0);
    if patience > 0 && data.valid_fraction.value() == 0.0 {
        eprintln!(
            "error: --patience: early stopping watches the validation loss; give --valid-fraction \
             above 0\n\n{usage}"
        );
        std::process::exit(2);
    }
    Settings {
        epochs,
        batch_size: batch_size.get(),
        lr,
        optimizer,
        seed,
        schedule,
        weight_decay: weight_decay.0,
        patience,
        data,
        out: PathBuf::from(out),
    }
}

fn main() {
    let settings = parse_flags();
    match run(&settings) {
        Ok(accuracy) => println!("test_accuracy={accuracy:.4}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

fn run(s: &Settings) -> nn::Result<f32> {
    // Now, not after training: a bad --out must not cost the run.
    nn::fsutil::prepare_output_dir(&s.out)?;
    let mut net = SeedNet::new(&mut seeded(s.seed));
    println!("{}", nn::summary(&mut net, &[1, 784]));

    let data = common::load_data(&s.data, s.seed)?;
    println!(
        "{}: {} training, {} validation, {} test images",
        data.name,
        data.train.len(),
        data.valid.len(),
        data.test.len()
    );
    println!(
        "{} lr={} batch_size={} epochs={} seed={}",
        s.optimizer, s.lr, s.batch_size, s.epochs, s.seed
    );

    let mut opt = common::optimizer(s.optimizer, s.lr);
    opt.set_weight_decay(s.weight_decay);
    let mut trainer = Trainer::new(opt)
        .epochs(s.epochs)
        .batch_size(s.batch_size)
        .seed(s.seed)
        .schedule(match s.schedule {
            "cosine" => LrSchedule::cosine(s.epochs),
            "step" => LrSchedule::StepDecay {
                every: s.epochs.div_ceil(3).max(1),
                gamma: 0.1,
            },
            _ => LrSchedule::Constant,
        });
    if s.patience > 0 {
        trainer = trainer.early_stopping(EarlyStopping::new(s.patience));
    }
    let history = match trainer.fit(&mut net, &data.train, data.valid()) {
        Ok(history) => history,
        Err(e) => {
            // Keep the curve up to the failure (a diverging loss): it shows how the run went.
            let path = s.out.join("history.csv");
            if !trainer.history().is_empty() && trainer.history().save_csv(&path).is_ok() {
                eprintln!("wrote {} (the epochs before the failure)", path.display());
            }
            return Err(e);
        }
    };
    let test = trainer.evaluate(&mut net, &data.test)?;

    let path = |name: &str| -> PathBuf { Path::new(&s.out).join(name) };
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
