//! Charts as PNG files, in pure Rust (the `plot` feature): training curves of one run
//! (`History::plot`) or several ([`plot_runs`]), and any set of [`Chart`]s ([`save_png`]), for
//! example per-iteration losses of several optimizers; a classifier's [`confusion_matrix`] and an
//! [`image_grid`] of the samples it got wrong.
//!
//! Files: `chart.rs` (what a panel shows), `render.rs` (drawing with plotters and the bundled
//! font, PNG encoding), `history.rs` (charts of a [`History`](crate::train::History)),
//! `classifier.rs` (the confusion matrix and image grid).

mod chart;
mod classifier;
mod history;
mod render;

pub use chart::{Chart, Series};
pub use classifier::{confusion_matrix, image_grid};
pub use history::plot_runs;
pub use render::{render_rgb, save_png, PANEL_SIZE};
