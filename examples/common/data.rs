//! The data flags the examples take (`--dataset`, `--data-dir`, `--cache-dir`,
//! `--valid-fraction`) and loading the chosen dataset into training, validation and test sets.

use clap::builder::PossibleValuesParser;
use clap::Args;
use nn::data::{FashionMnist, IdxDataset, Loader, Mnist};
use nn::{seeded, Dataset};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The datasets `--dataset` accepts; the first is the default.
pub const DATASETS: &[&str] = &["mnist", "fashion-mnist"];

/// Where the data comes from: the dataset and the directories it is read from or cached in.
#[derive(Args, Clone, Debug)]
pub struct DataSource {
    /// Dataset
    #[arg(long, value_name = "NAME", default_value = DATASETS[0],
          value_parser = PossibleValuesParser::new(DATASETS.iter().copied()))]
    pub dataset: String,
    /// Directory with the four IDX files, gzipped or not (overrides MNIST_DIR / FASHION_MNIST_DIR)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory the downloads are cached in (default: $NN_CACHE_DIR/MNIST, else ./data/MNIST;
    /// FashionMNIST for fashion-mnist)
    // The directory itself, not a parent: `NN_CACHE_DIR` names a parent.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// Where the data comes from and how much of the training set is held out for validation.
#[derive(Args, Clone, Debug)]
pub struct DataFlags {
    #[command(flatten)]
    pub source: DataSource,
    /// Share of the training set held out for validation, as 0.2 or 1/5
    #[arg(long, value_name = "F", default_value = "1/6", allow_hyphen_values = true)]
    pub valid_fraction: Fraction,
}

/// A fraction in `[0, 1)` written as a decimal (`0.2`) or a ratio (`1/6`), shown as it was written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fraction {
    num: f64,
    den: f64,
}

impl Fraction {
    /// Its value.
    pub fn value(self) -> f64 {
        self.num / self.den
    }

    /// `round(n * fraction)`: the number of samples out of `n` it stands for.
    pub fn of(self, n: usize) -> usize {
        (n as f64 * self.value()).round() as usize
    }
}

impl FromStr for Fraction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parse = |t: &str| {
            t.trim()
                .parse::<f64>()
                .map_err(|_| format!("expected a fraction such as 0.2 or 1/5, got '{s}'"))
        };
        let f = match s.split_once('/') {
            Some((n, d)) => Fraction {
                num: parse(n)?,
                den: parse(d)?,
            },
            None => Fraction {
                num: parse(s)?,
                den: 1.0,
            },
        };
        let v = f.value();
        if !(0.0..1.0).contains(&v) {
            return Err(format!("must be at least 0 and below 1, got {v}"));
        }
        Ok(f)
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1.0 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// The training, validation and test sets an example works with.
pub struct Data {
    /// "MNIST" or "Fashion-MNIST", for messages.
    pub name: &'static str,
    /// The training set minus the validation split.
    pub train: Dataset,
    /// The held-out validation split (empty when `--valid-fraction 0`).
    pub valid: Dataset,
    /// The test set.
    pub test: Dataset,
}

impl Data {
    /// The validation set, or `None` when it is empty.
    pub fn valid(&self) -> Option<&dyn nn::DataSource> {
        (!self.valid.is_empty()).then_some(&self.valid as &dyn nn::DataSource)
    }
}

/// Loads the dataset `flags` names (local directory, verified cache or download; for MNIST, the
/// bundled 10k subset when none of those can supply it) and splits
/// `flags.valid_fraction` of its training set off for validation, shuffled by `seed`.
pub fn load_data(flags: &DataFlags, seed: u64) -> nn::Result<Data> {
    fn configure<T: IdxDataset>(flags: &DataSource) -> Loader<T> {
        let mut loader = Loader::<T>::new();
        if let Some(dir) = &flags.data_dir {
            loader = loader.local_dir(dir);
        }
        if let Some(dir) = &flags.cache_dir {
            loader = loader.cache_dir(dir);
        }
        loader
    }
    let (name, train, test) = match flags.source.dataset.as_str() {
        "fashion-mnist" => {
            let d = configure::<FashionMnist>(&flags.source).load()?;
            ("Fashion-MNIST", d.train, d.test)
        }
        _ => match configure::<Mnist>(&flags.source).load() {
            Ok(d) => ("MNIST", d.train, d.test),
            // No MNIST here and none to be had: train on the 10,000 digits built into nn rather
            // than not at all, and say so. A broken local directory is still an error.
            Err(nn::Error::Data(e)) if e.is_unavailable() => {
                eprintln!(
                    "warning: MNIST is not available here (no --data-dir or MNIST_DIR, no verified \
                     cache, no mirror reachable); training on the 10,000 real digits bundled with \
                     nn instead. For full MNIST, set MNIST_DIR=/dir/with/the/four/files (or \
                     --data-dir) or allow the download."
                );
                let d = Mnist::bundled()?;
                ("MNIST (bundled 10k subset)", d.train, d.test)
            }
            Err(e) => return Err(e),
        },
    };
    let n_valid = flags.valid_fraction.of(train.len());
    let (train, valid) = train.split_valid(n_valid, &mut seeded(seed))?;
    Ok(Data {
        name,
        train,
        valid,
        test,
    })
}
