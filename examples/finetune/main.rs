//! Fine-tuning: a CNN trained on MNIST digits (cnn_mnist's network, loaded with `--model` or
//! pretrained here on the upright digits) is given a new task with a hundred samples: the same
//! digits turned a quarter turn, labelled even or odd (see `task.rs` for why this task).
//!
//! 1. Its last Linear is replaced by a two-way head and the body is frozen: only the head trains
//!    (the body computes no gradient; its BatchNorm keeps its running statistics).
//! 2. Everything is unfrozen and trained with a parameter group per part: the body at a tenth of
//!    the head's rate, both annealed by a cosine schedule.
//! 3. For comparison, the same network is trained from scratch on the same samples.
//!
//! ```sh
//! cargo run --release --example finetune                        # pretrains on the bundled digits
//! cargo run --release --example finetune -- --model out/cnn_mnist/model.safetensors
//! ```
//!
//! Writes `history.csv` (the fine-tuning stage, line by line as it trains), `history_head.csv`,
//! `history_scratch.csv`, `curves.png`, `model.safetensors` and `optimizer.json` (with its two
//! groups) into `--out`, and `pretrained.safetensors` when it pretrains; prints
//! `head_test_accuracy=`, `scratch_test_accuracy=` and, last, `test_accuracy=<fraction>` for the
//! fine-tuned network.

#[path = "../common/mod.rs"]
mod common;
mod task;

use clap::Parser;
use common::flags::OutFlag;
use common::nets::Cnn;
use nn::prelude::*;
use nn::Optimizer;
use std::path::PathBuf;
use task::{Labels, Stage, Style};

/// Fine-tunes an MNIST CNN to tell even from odd digits turned a quarter turn, from a hundred
/// samples, beside the same network trained from scratch.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("out", |a| a.default_value("out/finetune")))]
struct Cli {
    /// A checkpoint of cnn_mnist's network to start from (default: pretrain one here)
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Epochs of pretraining on upright digits when no --model is given
    #[arg(long, value_name = "N", default_value_t = 2)]
    pretrain_epochs: usize,
    /// How the new task draws its digits
    #[arg(long, value_name = "STYLE", value_enum, default_value_t = Style::Turned)]
    style: Style,
    /// What the new task's labels say
    #[arg(long, value_name = "LABELS", value_enum, default_value_t = Labels::Parity)]
    labels: Labels,
    /// Training samples of the new task
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = common::flags::at_least_one)]
    samples: usize,
    /// Validation samples of the new task
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = common::flags::at_least_one)]
    valid_samples: usize,
    /// Epochs of the head alone on the frozen body
    #[arg(long, value_name = "N", default_value_t = 10)]
    head_epochs: usize,
    /// Epochs of the whole network (and of the network trained from scratch: the two stages')
    #[arg(long, value_name = "N", default_value_t = 10)]
    finetune_epochs: usize,
    /// Adam's rate for the head (both stages)
    #[arg(long, value_name = "F", default_value_t = 3e-3, value_parser = common::flags::positive)]
    head_lr: f32,
    /// Adam's rate for the body once unfrozen
    #[arg(long, value_name = "F", default_value_t = 3e-4, value_parser = common::flags::positive)]
    body_lr: f32,
    /// Adam's rate for the network trained from scratch
    #[arg(long, value_name = "F", default_value_t = 2e-3, value_parser = common::flags::positive)]
    scratch_lr: f32,
    /// Samples per mini-batch
    #[arg(long, value_name = "N", default_value_t = 25, value_parser = common::flags::at_least_one)]
    batch_size: usize,
    /// Seed of the new head, the batch order, pretraining and the network trained from scratch
    #[arg(long, value_name = "N", default_value_t = nn::DEFAULT_SEED)]
    seed: u64,
    #[command(flatten)]
    data: common::DataSource,
    #[command(flatten)]
    out: OutFlag,
}

fn main() {
    let cli = Cli::parse();
    common::training::report(run(&cli));
}

fn run(cli: &Cli) -> nn::Result<f32> {
    let out = &cli.out.dir;
    nn::fsutil::prepare_output_dir(out)?;
    let flags = common::DataFlags {
        source: cli.data.clone(),
        valid_fraction: "0".parse().expect("a fraction"),
    };
    let digits = common::load_data(&flags, cli.seed)?;
    let needed = cli.samples + cli.valid_samples;
    let task_train = task::samples(&digits.train, cli.samples, cli.style, cli.labels)?;
    let rest: Vec<usize> = (cli.samples..needed.min(digits.train.len())).collect();
    let task_valid = task::samples(
        &digits.train.subset(&rest)?,
        cli.valid_samples,
        cli.style,
        cli.labels,
    )?;
    let task_test = task::samples(&digits.test, digits.test.len(), cli.style, cli.labels)?;
    println!(
        "new task: {} digits ({:?}), labelled by {:?}: {} training, {} validation, {} test",
        digits.name,
        cli.style,
        cli.labels,
        task_train.len(),
        task_valid.len(),
        task_test.len()
    );

    let mut net = base(cli, &digits, needed)?;
    let mut rng = nn::seeded(cli.seed);
    task::new_head(&mut net, cli.labels.classes(), &mut rng);
    let stage = |epochs: usize, log: &str| Stage {
        epochs,
        batch_size: cli.batch_size,
        seed: cli.seed,
        log: Some(out.join(log)),
    };

    println!(
        "\n1. the new head alone on the frozen body (Adam {})",
        cli.head_lr
    );
    let head_stage = stage(cli.head_epochs, "history_head.csv");
    let mut head = task::train_head(&mut net, &head_stage, cli.head_lr, &task_train, &task_valid)?;
    let optimizer = head.optimizer();
    let frozen = |name: &str| optimizer.is_frozen(name);
    println!(
        "{}",
        nn::summary::summary_frozen(&mut net, &[1, 1, 28, 28], &frozen)
    );
    let head_accuracy = accuracy(&mut head, &mut net, &task_test)?;
    println!("head_test_accuracy={head_accuracy:.4}");

    let rates = (cli.body_lr, cli.head_lr);
    println!(
        "\n2. everything, the body at {} and the head at {} (one parameter group each)",
        rates.0, rates.1
    );
    let stage_all = stage(cli.finetune_epochs, "history.csv");
    let mut all = task::train_all(&mut net, &stage_all, rates, &task_train, &task_valid)?;
    let finetuned = accuracy(&mut all, &mut net, &task_test)?;

    println!(
        "\n3. the same network from scratch on the same samples (Adam {})",
        cli.scratch_lr
    );
    let scratch_stage = stage(cli.head_epochs + cli.finetune_epochs, "history_scratch.csv");
    let (mut scratch, mut scratch_trainer) = task::train_scratch(
        cli.seed,
        cli.labels.classes(),
        &scratch_stage,
        cli.scratch_lr,
        &task_train,
        &task_valid,
    )?;
    let scratch_accuracy = accuracy(&mut scratch_trainer, &mut scratch, &task_test)?;

    let files = [
        out.join("curves.png"),
        out.join("model.safetensors"),
        out.join("optimizer.json"),
    ];
    all.history().plot(&files[0])?;
    nn::save(&mut net, &files[1])?;
    all.optimizer().state().save_json(&files[2])?;
    for f in ["history_head.csv", "history.csv", "history_scratch.csv"] {
        println!("wrote {}", out.join(f).display());
    }
    for f in &files {
        println!("wrote {}", f.display());
    }
    println!("head_test_accuracy={head_accuracy:.4}");
    println!("scratch_test_accuracy={scratch_accuracy:.4}");
    Ok(finetuned)
}

/// The network to fine-tune: `--model`, or cnn_mnist's network trained here for
/// `--pretrain-epochs` on the upright digits after the first `skip` (kept for the new task).
fn base(cli: &Cli, digits: &common::Data, skip: usize) -> nn::Result<Cnn> {
    let mut net = Cnn::new(&mut nn::seeded(cli.seed));
    if let Some(model) = &cli.model {
        nn::load(&mut net, model)?;
        println!("starting from {}", model.display());
        return Ok(net);
    }
    let images = |d: &Dataset| d.clone().with_feature_shape(&[1, 28, 28]);
    let rest: Vec<usize> = (skip.min(digits.train.len())..digits.train.len()).collect();
    let upright = images(&digits.train.subset(&rest)?)?;
    println!(
        "\n0. pretraining cnn_mnist's network on {} upright digits for {} epochs (Adam 2e-3, cosine)",
        upright.len(),
        cli.pretrain_epochs
    );
    let mut trainer = Trainer::new(Adam::new(2e-3))
        .epochs(cli.pretrain_epochs)
        .batch_size(100)
        .seed(cli.seed)
        .schedule(LrSchedule::cosine(cli.pretrain_epochs))
        .verbosity(Verbosity::Lines);
    trainer.fit(&mut net, &upright, None)?;
    let test = trainer.evaluate(&mut net, &images(&digits.test)?)?;
    println!(
        "pretrained: ten-digit test accuracy {:.4}",
        test.metric("acc").unwrap_or(f32::NAN)
    );
    let path = cli.out.dir.join("pretrained.safetensors");
    nn::save(&mut net, &path)?;
    println!("wrote {}", path.display());
    Ok(net)
}

/// `net`'s accuracy on `data`, evaluated by `trainer` (its batch size, loss and metrics).
fn accuracy<O: Optimizer>(trainer: &mut Trainer<O>, net: &mut Cnn, data: &Dataset) -> nn::Result<f32> {
    Ok(trainer
        .evaluate(net, data)?
        .metric("acc")
        .expect("a classifier records accuracy"))
}
