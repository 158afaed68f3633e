//! An MLP on any CSV table of numbers: classification (softmax cross-entropy, accuracy) or
//! regression (MSE, MAE and RMSE), split into training, validation and test sets by seed, each
//! column standardised with the training split's mean and deviation.
//!
//! ```sh
//! cargo run --release --example tabular                          # penguins: species, from the rest
//! cargo run --release --example tabular -- --task regression     # penguins: body mass, from the rest
//! cargo run --release --example tabular -- --csv data.csv --target price --task regression
//! ```
//!
//! With no `--csv` it trains on the Palmer penguins bundled in `examples/data/penguins.csv`
//! (CC0; see the README beside it). Writes `history.csv`, `curves.png`, `model.safetensors` and
//! `optimizer.json` into `--out`. Classification ends with `test_accuracy=<fraction>`;
//! regression prints `baseline_rmse=<value>` (predicting the training targets' mean) and ends
//! with `test_rmse=<value>` and `test_mae=<value>`, in the target column's units.

#[path = "common/mod.rs"]
mod common;

use clap::builder::PossibleValuesParser;
use clap::Parser;
use common::data::Fraction;
use common::flags::{OptimFlags, OutFlag, TrainFlags};
use common::training::{fit, save_run, trainer};
use nn::data::{CsvTable, Standardizer};
use nn::metrics::{MeanAbsoluteError, Metric, RootMeanSquaredError};
use nn::prelude::*;
use std::path::PathBuf;

/// The bundled table, compiled in so the example runs from any directory.
const PENGUINS: &str = include_str!("data/penguins.csv");

/// The MLP's hidden layers.
const HIDDEN: &[usize] = &[64, 32];

/// Trains an MLP on a CSV table of numbers (by default the bundled Palmer penguins) for
/// classification or regression, and reports its test accuracy or error.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
#[command(mut_arg("epochs", |a| a.default_value("200")))]
#[command(mut_arg("patience", |a| a.default_value("10")))]
#[command(mut_arg("batch_size", |a| a.default_value("32")))]
#[command(mut_arg("lr", |a| a.help(
    "Learning rate (default: 0.001 for adam/adamw/rmsprop, 0.01 for momentum/nesterov/adagrad, 0.1 for sgd)"
)))]
#[command(mut_arg("schedule", |a| a.default_value("constant")))]
#[command(mut_arg("out", |a| a.default_value("out/tabular")))]
struct Cli {
    /// CSV file with a header row and numbers only (default: the bundled Palmer penguins)
    #[arg(long, value_name = "FILE", requires = "target")]
    csv: Option<PathBuf>,
    /// The column to predict (default for the penguins: species, or body_mass_g for regression)
    #[arg(long, value_name = "COLUMN")]
    target: Option<String>,
    /// Feature columns, comma-separated (default: every column but the target)
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    features: Vec<String>,
    /// classification: the target holds class indices 0, 1, 2, ...; regression: any numbers
    #[arg(long, value_name = "TASK", default_value = "classification",
          value_parser = PossibleValuesParser::new(["classification", "regression"]))]
    task: String,
    /// Share of the rows held out for validation, as 0.2 or 1/5
    #[arg(long, value_name = "F", default_value = "0.2", allow_hyphen_values = true)]
    valid_fraction: Fraction,
    /// Share of the rows held out for the test, as 0.2 or 1/5
    #[arg(long, value_name = "F", default_value = "0.2", allow_hyphen_values = true)]
    test_fraction: Fraction,
    #[command(flatten)]
    train: TrainFlags,
    #[command(flatten)]
    optim: OptimFlags,
    #[command(flatten)]
    out: OutFlag,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = cli.optim.check_patience::<Cli>(cli.valid_fraction.value()) {
        e.exit();
    }
    if let Err(e) = run(&cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The training, validation and test splits of the table, standardised with the training split's
/// statistics.
struct Splits {
    train: Dataset,
    valid: Dataset,
    test: Dataset,
}

fn run(cli: &Cli) -> nn::Result<()> {
    let regression = cli.task == "regression";
    let out = &cli.out.dir;
    nn::fsutil::prepare_output_dir(out)?;
    let table = match &cli.csv {
        Some(path) => CsvTable::read(path)?,
        None => CsvTable::parse("penguins.csv (bundled)", PENGUINS)?,
    };
    let target = match (&cli.target, regression) {
        (Some(t), _) => t.clone(),
        (None, false) => "species".into(),
        (None, true) => "body_mass_g".into(),
    };
    let features: Vec<&str> = cli.features.iter().map(String::as_str).collect();
    let data = if regression {
        table.regression(&[&target], &features)?
    } else {
        table.classification(&target, &features)?
    };

    // Test, then validation, split off by seed; then every feature standardised with the
    // training split's mean and deviation (nothing about the held-out rows leaks in).
    let mut rng = nn::seeded(cli.train.seed);
    let (rest, test) = data.split_valid(cli.test_fraction.of(data.len()), &mut rng)?;
    let (train, valid) = rest.split_valid(cli.valid_fraction.of(data.len()), &mut rng)?;
    let scaler = Standardizer::fit_features(&train);
    let splits = Splits {
        train: scaler.features(&train)?,
        valid: scaler.features(&valid)?,
        test: scaler.features(&test)?,
    };
    let inputs = splits.train.feature_len();
    println!(
        "{}: {} rows, {} features -> {target} ({}); {} training, {} validation, {} test",
        table.path().display(),
        table.rows(),
        inputs,
        cli.task,
        splits.train.len(),
        splits.valid.len(),
        splits.test.len()
    );
    let lr = cli.optim.lr.or(common::default_lr(&cli.optim.optimizer));
    println!(
        "{} lr={lr} batch_size={} epochs={} seed={}",
        cli.optim.optimizer, cli.train.batch_size, cli.train.epochs, cli.train.seed
    );
    if regression {
        regress(cli, splits, lr)
    } else {
        classify(cli, splits, lr)
    }
}

/// The MLP: `inputs` -> HIDDEN (ReLU) -> `outputs`.
fn mlp(inputs: usize, outputs: usize, seed: u64) -> Mlp {
    Mlp::builder(inputs, HIDDEN, outputs)
        .input_grad(false)
        .build(&mut nn::seeded(seed))
}

fn classify(cli: &Cli, s: Splits, lr: f32) -> nn::Result<()> {
    let classes = s.train.classes().expect("class targets");
    let mut net = mlp(s.train.feature_len(), classes, cli.train.seed);
    println!("{}", nn::summary(&mut net, &[1, s.train.feature_len()]));
    let mut trainer = trainer(&cli.train, &cli.optim, lr);
    let valid = (!s.valid.is_empty()).then_some(&s.valid as &dyn DataSource);
    let history = fit(&mut trainer, &mut net, &s.train, valid, &cli.out.dir)?;
    let test = trainer.evaluate(&mut net, &s.test)?;
    save_run(&cli.out.dir, &history, &mut net, &trainer)?;
    println!("test_loss={:.4}", test.loss);
    println!("test_accuracy={:.4}", test.metric("acc").unwrap_or(f32::NAN));
    Ok(())
}

fn regress(cli: &Cli, s: Splits, lr: f32) -> nn::Result<()> {
    // The targets are standardised too, so that the network's last layer starts near the right
    // scale whatever the units (grams, dollars); predictions are turned back before scoring.
    let scaler = Standardizer::fit_targets(&s.train)?;
    let (train, valid) = (scaler.targets(&s.train)?, scaler.targets(&s.valid)?);
    let mut net = mlp(train.feature_len(), 1, cli.train.seed);
    println!("{}", nn::summary(&mut net, &[1, train.feature_len()]));

    // The baseline: the training targets' mean for every test row.
    let truth = target_tensor(&s.test);
    let mean = Tensor::from_elem(truth.raw_dim(), scaler.mean()[0]);
    let (baseline_rmse, _) = errors(&mean, &truth);
    println!("baseline_rmse={baseline_rmse:.4}");

    println!("(training metrics in standardised units; the test figures in the target's own)");
    let mut trainer = trainer(&cli.train, &cli.optim, lr)
        .loss(MseLoss::new())
        .metrics(["mae", "rmse"]);
    let valid = (!valid.is_empty()).then_some(&valid as &dyn DataSource);
    let history = fit(&mut trainer, &mut net, &train, valid, &cli.out.dir)?;
    let mut predicted = trainer.predict(&mut net, &s.test)?;
    scaler.inverse(&mut predicted);
    let (rmse, mae) = errors(&predicted, &truth);
    save_run(&cli.out.dir, &history, &mut net, &trainer)?;
    println!("test_rmse={rmse:.4}");
    println!("test_mae={mae:.4}");
    Ok(())
}

/// A dataset's value targets as `[N, 1]`.
fn target_tensor(data: &Dataset) -> Tensor {
    let values = data.target_values().expect("value targets").to_vec();
    Tensor::from_shape_vec(vec![values.len(), 1], values).expect("one target per row")
}

/// RMSE and MAE of `predicted` against `truth`, by nn's metrics.
fn errors(predicted: &Tensor, truth: &Tensor) -> (f32, f32) {
    let mut rmse = RootMeanSquaredError::new();
    let mut mae = MeanAbsoluteError::new();
    rmse.update(predicted, Targets::Values(truth));
    mae.update(predicted, Targets::Values(truth));
    (rmse.value(), mae.value())
}
