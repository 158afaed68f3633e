//! Charts as PNG files, in pure Rust (the `plot` feature): training curves of one run
//! (`History::plot`) or several ([`plot_runs`]), and any set of [`Chart`]s ([`save_png`]), for
//! example per-iteration losses of several optimizers.
//!
//! Files: `chart.rs` (what a panel shows), `render.rs` (drawing with plotters and the bundled
//! font, PNG encoding), `history.rs` (charts of a [`History`](crate::train::History)).

mod chart;
mod history;
mod render;

pub use chart::{Chart, Series};
pub use history::plot_runs;
pub use render::{render_rgb, save_png, PANEL_SIZE};
