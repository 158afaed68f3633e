//! Running several configurations on the same data with the same seed, then printing a table
//! and drawing their curves into one PNG: the experiments the seed notebook describes in words.

use super::data::{load_data, Data, DataFlags};
use super::flags::{OutFlag, TrainFlags};
use clap::Args;
use nn::mlp::{Activation, Mlp};
use nn::plot::plot_runs;
use nn::train::{Evaluation, TrainError, Trainer};
use nn::{Init, Layer, Optimizer, Sgd, StdRng};
use std::path::PathBuf;
use std::time::Instant;

/// The flags every comparison example takes: the data, then 5 epochs per run by default; each
/// example names its `--out` folder with `mut_arg`.
#[derive(Args, Clone, Debug)]
#[command(mut_arg("epochs", |a| a.default_value("5").help("Epochs per run")))]
pub struct CompareFlags {
    #[command(flatten)]
    pub data: DataFlags,
    /// Epochs, batch size and the seed, the same for every run.
    #[command(flatten)]
    pub train: TrainFlags,
    /// The folder for the PNG and CSV files.
    #[command(flatten)]
    pub out: OutFlag,
}

impl CompareFlags {
    /// Checks that `--out` is a writable directory (creating it), then loads the data these
    /// flags name: a bad `--out` fails at once, not after every run has trained.
    pub fn load(&self) -> nn::Result<Data> {
        nn::fsutil::prepare_output_dir(&self.out.dir)?;
        load_data(&self.data, self.train.seed)
    }
}

/// Builds a network from an RNG seeded by `--seed`.
pub type BuildNet = Box<dyn Fn(&mut StdRng) -> Box<dyn Layer>>;

/// One configuration to train: a name for the table and legend, a way to build the network from
/// the shared seed, and its optimizer.
pub struct Run {
    /// Shown in the table and the legend.
    pub name: String,
    /// Builds the network; called with an RNG seeded by `--seed`, so every run starts alike.
    pub build: BuildNet,
    /// The optimizer for this run.
    pub optimizer: Box<dyn Optimizer>,
}

impl Run {
    /// The comparisons' deep MLP (784 -> five hidden layers of 100 -> 10, ReLU) from `init`,
    /// with or without BatchNorm, trained with plain SGD at `lr`.
    pub fn deep_relu_mlp(name: &str, init: Init, batch_norm: bool, lr: f32) -> Run {
        Run {
            name: name.to_string(),
            build: Box::new(move |rng: &mut StdRng| -> Box<dyn Layer> {
                Box::new(
                    Mlp::builder(784, &[100; 5], 10)
                        .activation(Activation::Relu)
                        .init(init)
                        .batch_norm(batch_norm)
                        // The input is data, which needs no gradient: skip that product.
                        .input_grad(false)
                        .build(rng),
                )
            }),
            optimizer: Box::new(Sgd::new(lr)),
        }
    }
}

/// What one run produced.
pub struct Outcome {
    /// The run's name.
    pub name: String,
    /// Per-epoch metrics.
    pub history: nn::train::History,
    /// Loss and accuracy on the test set after training.
    pub test: Evaluation,
    /// Wall-clock training time.
    pub seconds: f64,
}

/// Trains every run on `data` with the same seed and batch order, printing one line per epoch.
///
/// A run whose loss diverges (NaN or infinite) is reported and kept, with the epochs it completed
/// and its test evaluation, so that one unstable configuration does not throw away the others.
pub fn run_all(runs: Vec<Run>, data: &Data, flags: &CompareFlags) -> nn::Result<Vec<Outcome>> {
    flags.train.apply_threads();
    let mut outcomes = Vec::with_capacity(runs.len());
    for run in runs {
        println!("== {} ==", run.name);
        let train = &flags.train;
        let mut net = (run.build)(&mut nn::seeded(train.seed));
        let mut trainer = Trainer::new(run.optimizer)
            .epochs(train.epochs)
            .batch_size(train.batch_size)
            .seed(train.seed);
        let start = Instant::now();
        let history = match trainer.fit(&mut net, &data.train, data.valid()) {
            Ok(history) => history,
            Err(nn::Error::Train(e @ TrainError::NonFiniteLoss { .. })) => {
                println!("{}: {e}", run.name);
                trainer.history().clone()
            }
            Err(e) => return Err(e),
        };
        let seconds = start.elapsed().as_secs_f64();
        let test = trainer.evaluate(&mut net, &data.test)?;
        outcomes.push(Outcome {
            name: run.name,
            history,
            test,
            seconds,
        });
    }
    Ok(outcomes)
}

/// Prints one row per run: final training loss, best validation accuracy, test loss and accuracy.
pub fn print_table(outcomes: &[Outcome]) {
    let width = outcomes
        .iter()
        .map(|o| o.name.len())
        .chain([6])
        .max()
        .unwrap_or(6);
    println!();
    println!(
        "{:<width$}  {:>10}  {:>9}  {:>9}  {:>8}  {:>7}",
        "run", "train_loss", "valid_acc", "test_loss", "test_acc", "seconds"
    );
    for o in outcomes {
        let last = o.history.records().last();
        let train_loss = last.map_or(f32::NAN, |r| r.train_loss);
        let valid_acc = o
            .history
            .records()
            .iter()
            .filter_map(|r| r.valid_metric("acc"))
            .fold(f32::NAN, f32::max);
        println!(
            "{:<width$}  {:>10.4}  {:>9.4}  {:>9.4}  {:>8.4}  {:>7.1}",
            o.name,
            train_loss,
            valid_acc,
            o.test.loss,
            o.test.metric("acc").unwrap_or(f32::NAN),
            o.seconds
        );
    }
}

/// Draws every run's curves into `<out>/<file>` and writes each history as `<out>/<name>.csv`
/// (`<out>` was created by [`CompareFlags::load`]); returns the PNG's path.
pub fn save_outputs(
    outcomes: &[Outcome],
    flags: &CompareFlags,
    file: &str,
    title: &str,
) -> nn::Result<PathBuf> {
    for o in outcomes {
        let slug: String = o
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        o.history.save_csv(flags.out.dir.join(format!("{slug}.csv")))?;
    }
    let png = flags.out.dir.join(file);
    let runs: Vec<(&str, &nn::train::History)> =
        outcomes.iter().map(|o| (o.name.as_str(), &o.history)).collect();
    plot_runs(&png, title, &runs)?;
    Ok(png)
}

/// The end of every comparison example: the table, then the curves and CSVs in `--out`, then
/// where they went.
pub fn report(outcomes: &[Outcome], flags: &CompareFlags, file: &str, title: &str) -> nn::Result<()> {
    print_table(outcomes);
    let png = save_outputs(outcomes, flags, file, title)?;
    println!(
        "wrote {} and one CSV per run in {}",
        png.display(),
        flags.out.dir.display()
    );
    Ok(())
}
