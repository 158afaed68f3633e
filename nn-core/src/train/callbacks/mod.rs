//! The built-in [`Callback`](super::Callback)s: [`ModelCheckpoint`], [`ReduceLROnPlateau`] and
//! [`CsvLogger`] (and [`EarlyStopping`](super::EarlyStopping), in its own module).

mod checkpoint;
mod csv_logger;
mod plateau;

pub use checkpoint::ModelCheckpoint;
pub use csv_logger::CsvLogger;
pub use plateau::{ReduceLROnPlateau, ThresholdMode};
