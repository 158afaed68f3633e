//! Code shared by the examples: the flags they share (clap `Args` structs), the data flags with
//! loading and splitting the dataset, choosing an optimizer by name, the networks (`--arch`),
//! reading users' pictures of digits, the recipe of an image-folder model, what evaluate
//! measures, the comparison driver, the training
//! run of mlp_batchnorm and cnn_mnist, and the benchmarks' stopwatch and run.
//!
//! ```ignore
//! #[path = "common/mod.rs"]
//! mod common;
//! /// What this example does (the first line of --help).
//! #[derive(clap::Parser)]
//! #[command(version, mut_arg("epochs", |a| a.default_value("10")))]
//! struct Cli {
//!     #[command(flatten)]
//!     data: common::DataFlags,
//!     #[command(flatten)]
//!     train: common::flags::TrainFlags,
//! }
//! let cli = <Cli as clap::Parser>::parse(); // --help, --version, or exit code 2 on a bad flag
//! let data = common::load_data(&cli.data, cli.train.seed)?; // data.train, data.valid(), data.test
//! let opt = common::optimizer("adam", common::default_lr("adam"));
//! ```
#![allow(dead_code, unused_imports)] // each example uses a different part

pub mod bench;
pub mod compare;
pub mod data;
pub mod digits;
pub mod evaluation;
pub mod export;
pub mod flags;
pub mod folder;
pub mod image_layers;
pub mod nets;
pub mod optim;
pub mod sgemm;
pub mod timed;
pub mod training;

pub use data::{load_data, Data, DataFlags, DataSource, Fraction, DATASETS};
pub use optim::{default_lr, optimizer, OPTIMIZERS};
