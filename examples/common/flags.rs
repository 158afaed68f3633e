//! The flags the examples share, each declared once as a clap `Args` struct, and the range checks
//! their values parse with (a value out of range is a usage error, exit code 2, never a panic).
//!
//! An example flattens the structs it needs into its `Parser` and sets its own defaults with
//! `#[command(mut_arg("epochs", |a| a.default_value("5")))]` (the id is the field name).

use super::nets::ARCHS;
use super::optim::OPTIMIZERS;
use clap::builder::PossibleValuesParser;
use clap::error::ErrorKind;
use clap::{Args, CommandFactory};
use std::path::PathBuf;

/// How long a training run goes and in what order it sees the data.
#[derive(Args, Clone, Debug)]
pub struct TrainFlags {
    /// Training epochs
    #[arg(long, value_name = "N", default_value_t = 20, allow_hyphen_values = true)]
    pub epochs: usize,
    /// Samples per mini-batch
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = at_least_one, allow_hyphen_values = true)]
    pub batch_size: usize,
    /// Seed of the weights, the validation split and the batch order
    #[arg(long, value_name = "N", default_value_t = nn::DEFAULT_SEED, allow_hyphen_values = true)]
    pub seed: u64,
    /// Threads for nn's kernels (default: all logical CPUs); any count trains to the same bits
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_hyphen_values = true)]
    pub threads: Option<usize>,
}

impl TrainFlags {
    /// Sets nn's thread count to `--threads`, when given.
    pub fn apply_threads(&self) {
        if let Some(n) = self.threads {
            nn::set_num_threads(n);
        }
    }
}

/// The learning rate: without a default here, as an example either sets one with `mut_arg` or
/// derives it from the optimizer.
#[derive(Args, Clone, Debug)]
pub struct LrFlag {
    /// Learning rate
    #[arg(long, value_name = "F", value_parser = positive, allow_hyphen_values = true)]
    pub lr: Option<f32>,
}

impl LrFlag {
    /// The rate given, or `default` when `--lr` is absent.
    pub fn or(&self, default: f32) -> f32 {
        self.lr.unwrap_or(default)
    }

    /// The rate of an example that gave `--lr` a default with `mut_arg`.
    ///
    /// # Panics
    /// When the example gave no default (a programmer error).
    pub fn get(&self) -> f32 {
        self.lr
            .expect("--lr has no default: set one with #[command(mut_arg(\"lr\", ...))]")
    }
}

/// The optimizer and how its rate and stopping are controlled over the run.
#[derive(Args, Clone, Debug)]
pub struct OptimFlags {
    /// Optimizer
    #[arg(long, value_name = "NAME", default_value = OPTIMIZERS[0],
          value_parser = PossibleValuesParser::new(OPTIMIZERS.iter().copied()))]
    pub optimizer: String,
    #[command(flatten)]
    pub lr: LrFlag,
    /// Learning-rate schedule (cosine: to 0 over the run; step: x0.1 at each third)
    #[arg(long, value_name = "NAME", default_value = SCHEDULES[0],
          value_parser = PossibleValuesParser::new(SCHEDULES.iter().copied()))]
    pub schedule: String,
    /// L2 weight decay of the optimizer
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = non_negative, allow_hyphen_values = true)]
    pub weight_decay: f32,
    /// Early stopping after N epochs in a row without a better validation loss (Keras' patience; 0: off)
    #[arg(long, value_name = "N", default_value_t = 0, allow_hyphen_values = true)]
    pub patience: usize,
}

/// The names `--schedule` accepts; the first is the default.
pub const SCHEDULES: &[&str] = &["cosine", "constant", "step"];

impl OptimFlags {
    /// Early stopping watches the validation loss, so `--patience` needs a validation split: the
    /// one check that spans two flags, reported as a usage error of the command `C`.
    pub fn check_patience<C: CommandFactory>(&self, valid_fraction: f64) -> Result<(), clap::Error> {
        if self.patience > 0 && valid_fraction == 0.0 {
            return Err(C::command().error(
                ErrorKind::ArgumentConflict,
                "--patience: early stopping watches the validation loss; give --valid-fraction above 0",
            ));
        }
        Ok(())
    }
}

/// Where an example writes its files.
#[derive(Args, Clone, Debug)]
pub struct OutFlag {
    /// Output directory
    #[arg(id = "out", long = "out", value_name = "DIR", default_value = "out")]
    pub dir: PathBuf,
}

/// Where to write the network as an ONNX model (see `export.rs`).
#[derive(Args, Clone, Debug)]
pub struct OnnxFlag {
    /// Also write the network as an ONNX model (opset 17: onnxruntime, tract, ...) to FILE
    #[arg(long, value_name = "FILE")]
    pub onnx: Option<PathBuf>,
}

/// A trained checkpoint and the network it belongs to, for the examples that load one.
#[derive(Args, Clone, Debug)]
pub struct ModelFlags {
    /// Checkpoint to load (nn::save's safetensors, or a PyTorch state_dict of the same network)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The checkpoint's network (mlp: mlp_batchnorm's; cnn: cnn_mnist's; resnet: resnet_mnist's)
    #[arg(long, value_name = "NAME", default_value = ARCHS[0],
          value_parser = PossibleValuesParser::new(ARCHS.iter().copied()))]
    pub arch: String,
}

/// The shape of a benchmark's epoch: threads, batch size and samples.
#[derive(Args, Clone, Debug)]
pub struct WorkloadFlags {
    /// Threads for nn's kernels
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = at_least_one, allow_hyphen_values = true)]
    pub threads: usize,
    /// Samples per training step
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = at_least_one, allow_hyphen_values = true)]
    pub batch_size: usize,
    /// Training samples per epoch
    #[arg(long, value_name = "N", default_value_t = 50_000, value_parser = at_least_one, allow_hyphen_values = true)]
    pub samples: usize,
}

/// The flags of the training benchmarks (bench_mlp, bench_cnn): the workload, how many epochs
/// are timed, the inference batch, real or synthetic data, and the per-layer profile.
#[derive(Args, Clone, Debug)]
pub struct BenchFlags {
    /// Timed epochs after one warm-up epoch
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = at_least_one, allow_hyphen_values = true)]
    pub epochs: usize,
    #[command(flatten)]
    pub workload: WorkloadFlags,
    /// Samples of the inference batch (at most the test set's size with --data-dir)
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = at_least_one, allow_hyphen_values = true)]
    pub infer_samples: usize,
    /// Real MNIST (the four IDX files) instead of synthetic data
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Print the time per layer and step phase (--profile alone means true)
    #[arg(long, value_name = "BOOL", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub profile: bool,
}

/// A finite number above 0, such as a learning rate (the optimizers panic on any other).
pub fn positive(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("expected a number above 0, such as 0.001 or 1e-3".into()),
    }
}

/// A finite number of at least 0, such as a weight decay.
pub fn non_negative(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("expected a number of at least 0, such as 0 or 1e-4".into()),
    }
}

/// A finite number of seconds above 0.
pub fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("expected a number of seconds above 0, such as 60 or 0.5".into()),
    }
}

/// A whole number of at least 1, such as a batch size.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err("expected a whole number of at least 1".into()),
    }
}
