//! Extending nn with your own optimizer, written outside the framework: Lion (Chen et al., 2023,
//! "Symbolic Discovery of Optimization Algorithms") as an `UpdateRule` of about fifty lines.
//!
//! The rule only says how one parameter moves; `Optim<Lion>` adds the learning rate and its
//! schedule, L2 weight decay, gradient clipping, per-parameter state and saving. The example
//! trains the seed's MNIST network with it three ways: straight through; for the first half,
//! saving model and optimizer to files; and resumed from those files in a fresh network and
//! optimizer. It asserts that the resumed run ends bit for bit where the straight one did, and
//! its last line is `test_accuracy=<fraction>`, as in the main example.
//!
//! `cargo run --release --example custom_optimizer -- --data-dir nn-core/data/mnist-10k`

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::flags::{LrFlag, OutFlag, TrainFlags};
use ndarray::Zip;
use nn::optim::{check_non_negative, check_unit_interval, Optim, OptimizerState, Slot, Update, UpdateRule};
use nn::prelude::*;
use nn::train::EpochRecord;
use serde::{Deserialize, Serialize};

/// Lion: `c = beta1 * m + (1 - beta1) * g; theta -= lr * (sign(c) + wd * theta);
/// m = beta2 * m + (1 - beta2) * g`. Every element moves by exactly `lr` (before decay), so Lion
/// wants a learning rate 3-10 times smaller than Adam's.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Lion {
    beta1: f32,
    beta2: f32,
    /// Decoupled, as AdamW's; `weight_decay` is the optimizer's own (L2) setting.
    decoupled_weight_decay: f32,
}

impl UpdateRule for Lion {
    const NAME: &'static str = "Lion";
    const SLOTS: &'static [Slot] = &[Slot::new("m")];

    fn validate(&self) -> Result<(), String> {
        check_unit_interval("beta1", self.beta1)?;
        check_unit_interval("beta2", self.beta2)?;
        check_non_negative("decoupled_weight_decay", self.decoupled_weight_decay)
    }

    fn update(&self, u: Update<'_>) {
        let (lr, eff, b1, b2) = (u.lr, u.effective, self.beta1, self.beta2);
        // Weights only, not biases nor BatchNorm's scale and shift.
        let decay = if u.decays {
            lr * self.decoupled_weight_decay
        } else {
            0.0
        };
        let [m] = u.slots else {
            unreachable!("Lion has one slot")
        };
        Zip::from(u.value).and(u.grad).and(m).for_each(|w, &g, m| {
            let g = eff.at(g, *w);
            let c = b1 * *m + (1.0 - b1) * g;
            // torch.sign: 0 stays 0 (f32::signum would give 1).
            let sign = if c > 0.0 {
                1.0
            } else if c < 0.0 {
                -1.0
            } else {
                0.0
            };
            *w -= decay * *w + lr * sign;
            *m = b2 * *m + (1.0 - b2) * g;
        });
    }
}

/// A user-written optimizer (Lion) through nn's UpdateRule trait: train on MNIST, save mid-run,
/// resume from the files, check the resumed run matches an uninterrupted one
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("epochs", |a| a.default_value("6").help("Training epochs (at least 2)")))]
#[command(mut_arg("lr", |a| a.default_value("1e-3").help("Lion's learning rate")))]
#[command(mut_arg("out", |a| a.default_value("out/custom_optimizer")))]
struct Cli {
    #[command(flatten)]
    data: common::DataFlags,
    #[command(flatten)]
    train: TrainFlags,
    #[command(flatten)]
    lr: LrFlag,
    #[command(flatten)]
    out: OutFlag,
}

fn main() -> nn::Result<()> {
    let cli = Cli::parse();
    cli.train.apply_threads();
    let (epochs, seed, lr) = (cli.train.epochs, cli.train.seed, cli.lr.get());
    let epochs = epochs.max(2);
    let half = epochs / 2;
    let out = &cli.out.dir;
    nn::fsutil::prepare_output_dir(out)?;
    let data = common::load_data(&cli.data, seed)?;

    let net = |seed| {
        Mlp::builder(784, &[128, 64], 10)
            .batch_norm(true)
            .build(&mut seeded(seed))
    };
    let lion = Lion {
        beta1: 0.9,
        beta2: 0.99,
        decoupled_weight_decay: 0.1,
    };
    let trainer = || {
        Trainer::new(Optim::from_rule(lion.clone(), lr))
            .epochs(epochs)
            .batch_size(cli.train.batch_size)
            .seed(seed)
            .schedule(LrSchedule::cosine(epochs))
    };

    println!("straight through {epochs} epochs:");
    let mut straight = net(seed);
    let full = trainer().fit(&mut straight, &data.train, data.valid())?;

    println!("the first {half} epochs, then saving model and optimizer:");
    let mut first = net(seed);
    let mut t = trainer().epochs(half);
    t.fit(&mut first, &data.train, data.valid())?;
    let (model_file, state_file) = (out.join("model.safetensors"), out.join("optimizer.json"));
    nn::save(&mut first, &model_file)?;
    t.optimizer().state().save_json(&state_file)?;

    println!(
        "resumed from {} and {}:",
        model_file.display(),
        state_file.display()
    );
    // A fresh network (other weights) and optimizer (no state): the files bring everything back.
    let mut resumed = net(seed + 1);
    nn::load(&mut resumed, &model_file)?;
    let mut t = trainer().initial_epoch(half);
    t.optimizer_mut()
        .load_state(&OptimizerState::load_json(&state_file)?)?;
    let tail = t.fit(&mut resumed, &data.train, data.valid())?;

    let without_time = |r: &[EpochRecord]| -> Vec<EpochRecord> {
        r.iter()
            .map(|r| EpochRecord {
                seconds: 0.0,
                ..r.clone()
            })
            .collect()
    };
    assert_eq!(
        without_time(tail.records()),
        without_time(&full.records()[half..])
    );
    assert_eq!(
        values(&mut resumed),
        values(&mut straight),
        "final weights differ"
    );
    println!(
        "the resumed run's last {} epochs and final weights equal the straight run's, bit for bit",
        epochs - half
    );

    let test = t.evaluate(&mut resumed, &data.test)?;
    println!("test_loss={:.4}", test.loss);
    println!("test_accuracy={:.4}", test.metric("acc").unwrap_or(f32::NAN));
    Ok(())
}

/// Every parameter and buffer value of `net`, in visiting order.
fn values(net: &mut dyn Layer) -> Vec<f32> {
    let mut all = Vec::new();
    nn::for_each_param(net, |_, p| all.extend(p.value.iter().copied()));
    nn::for_each_buffer(net, |_, t| all.extend(t.iter().copied()));
    all
}
