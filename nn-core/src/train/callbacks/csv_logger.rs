//! [`CsvLogger`]: the history as CSV, a line appended after each epoch.

use crate::error::{Error, Result};
use crate::fsutil::atomic_write;
use crate::train::callback::{Callback, Context};
use crate::train::history::EpochRecord;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;

/// Writes the history to a CSV file as training goes (Keras' `CSVLogger`): the header and the
/// epochs already recorded when training starts (a resumed run's earlier epochs), then one line
/// after each epoch, flushed to disk, so that a run killed at any point leaves the history of
/// every epoch it finished. The columns are [`History::csv_header`](crate::train::History::csv_header)'s,
/// and the file reads back with [`History::load_csv`](crate::train::History::load_csv).
///
/// ```
/// use nn_core::train::{CsvLogger, Trainer};
/// use nn_core::Adam;
/// let trainer = Trainer::new(Adam::new(1e-3)).callback(CsvLogger::new("out/history.csv"));
/// ```
#[derive(Debug)]
pub struct CsvLogger {
    path: PathBuf,
    file: Option<File>,
}

impl CsvLogger {
    /// A log at `path` (replaced when training starts).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvLogger {
            path: path.into(),
            file: None,
        }
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        // Written whole first (atomically), so that a stale file from another run never mixes in.
        let csv = ctx.history().to_csv();
        atomic_write(&self.path, |w| w.write_all(csv.as_bytes()))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io("opening the history log", &self.path, e))?;
        self.file = Some(file);
        Ok(())
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, record: &EpochRecord) -> Result<()> {
        let line = ctx.history().csv_row(record);
        if let Some(file) = &mut self.file {
            // One write per line and a sync per epoch: an epoch's line is whole or absent.
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io("appending to the history log", &self.path, e))?;
        }
        Ok(())
    }

    fn on_train_end(&mut self, _: &mut Context<'_>) -> Result<()> {
        self.file = None;
        Ok(())
    }
}
