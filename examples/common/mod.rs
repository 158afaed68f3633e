//! Code shared by the examples: flag parsing, the data flags every example takes with loading
//! and splitting the dataset, choosing an optimizer by name, the networks (`--arch`), reading
//! users' pictures of digits, and what evaluate measures.
//!
//! ```ignore
//! #[path = "common/mod.rs"]
//! mod common;
//! let mut cli = common::cli::Cli::from_env("what this example does");
//! let data_flags = common::DataFlags::parse(&mut cli);
//! let name = cli.choice("optimizer", "algorithm", common::OPTIMIZERS);
//! cli.finish(); // --help, or exit code 2 on a bad flag
//! let data = common::load_data(&data_flags, seed)?; // data.train, data.valid(), data.test
//! let opt = common::optimizer(name, common::default_lr(name));
//! ```
#![allow(dead_code, unused_imports)] // each example uses a different part

pub mod cli;
pub mod compare;
pub mod data;
pub mod digits;
pub mod evaluation;
pub mod nets;
pub mod optim;
pub mod timed;

pub use data::{load_data, Data, DataFlags, Fraction, DATASETS};
pub use optim::{default_lr, optimizer, OPTIMIZERS};
