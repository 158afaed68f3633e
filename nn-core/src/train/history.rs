//! [`History`]: the record of a training run, one row per epoch, and the epoch whose weights the
//! model kept; saved and read back as CSV.

use crate::error::{Error, Result};
use crate::fsutil::atomic_write;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

/// The column names of the CSV written by [`History::save_csv`], in order.
pub const CSV_HEADER: &str = "epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds";

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch number, counting from 1.
    pub epoch: usize,
    /// The mean training loss over the epoch's batches.
    pub train_loss: f32,
    /// The training accuracy over the epoch, as a fraction.
    pub train_acc: f32,
    /// The validation loss after the epoch (Eval mode), if there is a validation set.
    pub valid_loss: Option<f32>,
    /// The validation accuracy after the epoch, as a fraction.
    pub valid_acc: Option<f32>,
    /// The learning rate the epoch trained with.
    pub lr: f32,
    /// Wall-clock seconds the epoch took, validation included.
    pub seconds: f64,
}

/// Every epoch's metrics, in order, and which epoch's weights the model ended with.
///
/// Drawn as a PNG by `History::plot` (the `plot` feature, `nn_core::plot`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    records: Vec<EpochRecord>,
    best_epoch: Option<usize>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Appends one epoch's record.
    pub fn push(&mut self, record: EpochRecord) {
        self.records.push(record);
    }

    /// All records, oldest first.
    pub fn records(&self) -> &[EpochRecord] {
        &self.records
    }

    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.records.last()
    }

    /// The number of epochs recorded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no epoch has been recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The best epoch as early stopping judged it (see
    /// [`EarlyStopping`](crate::train::EarlyStopping)): the epoch whose weights the model holds
    /// after `fit`, which restores them when training went on past it. `None` without early
    /// stopping (the model keeps the last epoch's weights), and for a history read from CSV.
    ///
    /// The one source of "best": the plot marks this epoch, not merely the lowest validation
    /// loss, which differs from it when `min_delta` is above zero.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// The record of [`History::best_epoch`].
    pub fn best(&self) -> Option<&EpochRecord> {
        let best = self.best_epoch?;
        self.records.iter().find(|r| r.epoch == best)
    }

    /// Records which epoch's weights the model ended with.
    pub(crate) fn set_best_epoch(&mut self, epoch: Option<usize>) {
        self.best_epoch = epoch;
    }

    /// The history as CSV text: [`CSV_HEADER`], then one line per epoch. Numbers are written
    /// in Rust's shortest round-trip form, so reading them back gives the same bits; a missing
    /// validation value is an empty field.
    pub fn to_csv(&self) -> String {
        let mut s = String::with_capacity(64 * (self.records.len() + 1));
        s.push_str(CSV_HEADER);
        s.push('\n');
        let opt = |v: Option<f32>| v.map(|v| v.to_string()).unwrap_or_default();
        for r in &self.records {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{}",
                r.epoch,
                r.train_loss,
                r.train_acc,
                opt(r.valid_loss),
                opt(r.valid_acc),
                r.lr,
                r.seconds
            );
        }
        s
    }

    /// Writes [`History::to_csv`] to `path` atomically.
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let csv = self.to_csv();
        atomic_write(path, |w| w.write_all(csv.as_bytes()))
    }

    /// Reads a history written by [`History::save_csv`], to continue a run or plot it again.
    pub fn load_csv(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading history", path, e))?;
        History::from_csv(&text).map_err(|msg| {
            Error::io(
                "reading history",
                path,
                io::Error::new(io::ErrorKind::InvalidData, msg),
            )
        })
    }

    /// Parses CSV text in the format of [`History::to_csv`]; the error names the line and column.
    pub fn from_csv(text: &str) -> std::result::Result<Self, String> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, header)) if header.trim_end() == CSV_HEADER => {}
            Some((_, header)) => {
                return Err(format!(
                    "line 1 is `{header}`, expected the header `{CSV_HEADER}`"
                ));
            }
            None => return Err(format!("the file is empty, expected the header `{CSV_HEADER}`")),
        }
        let columns: Vec<&str> = CSV_HEADER.split(',').collect();
        let mut history = History::new();
        for (i, line) in lines {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.trim_end().split(',').collect();
            if fields.len() != columns.len() {
                return Err(format!(
                    "line {line_no} has {} fields, expected {} ({CSV_HEADER})",
                    fields.len(),
                    columns.len()
                ));
            }
            let bad = |col: usize| {
                format!(
                    "line {line_no}, column {}: `{}` is not a number",
                    columns[col], fields[col]
                )
            };
            let num = |col: usize| fields[col].parse::<f32>().map_err(|_| bad(col));
            let opt = |col: usize| {
                if fields[col].is_empty() {
                    Ok(None)
                } else {
                    num(col).map(Some)
                }
            };
            history.push(EpochRecord {
                epoch: fields[0].parse().map_err(|_| bad(0))?,
                train_loss: num(1)?,
                train_acc: num(2)?,
                valid_loss: opt(3)?,
                valid_acc: opt(4)?,
                lr: num(5)?,
                seconds: fields[6].parse().map_err(|_| bad(6))?,
            });
        }
        Ok(history)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fsutil::tests::TempDir;

    /// Epoch `epoch` of a sample run whose validation loss is lowest at epoch 7.
    pub(crate) fn record(epoch: usize, valid: bool) -> EpochRecord {
        let e = epoch as f32;
        EpochRecord {
            epoch,
            train_loss: 1.0 / e + 0.01,
            train_acc: 1.0 - 0.3 / e,
            valid_loss: valid.then(|| 1.0 / e + 0.05 + 0.02 * (e - 6.0).max(0.0)),
            valid_acc: valid.then(|| 0.97 - 0.35 / e),
            lr: 0.001 * 0.5f32.powi(epoch as i32 / 5),
            seconds: 1.25 + epoch as f64 * 0.001,
        }
    }

    /// Epochs 1..=`epochs` of [`record`].
    pub(crate) fn sample(epochs: usize, valid: bool) -> History {
        let mut h = History::new();
        for e in 1..=epochs {
            h.push(record(e, valid));
        }
        h
    }

    #[test]
    fn csv_round_trips_bit_for_bit() {
        let dir = TempDir::new("history-csv");
        let path = dir.join("history.csv");
        let mut h = sample(4, true);
        h.push(EpochRecord {
            valid_loss: None,
            valid_acc: None,
            ..record(5, false)
        });
        h.save_csv(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 6);
        assert!(
            lines[5].contains(",,"),
            "missing validation is an empty field: {}",
            lines[5]
        );
        assert_eq!(History::load_csv(&path).unwrap(), h);
    }

    #[test]
    fn bad_csv_names_the_line_and_column() {
        let good = sample(2, true).to_csv();
        let bad_number = good.replacen("0.0", "zero", 1);
        let err = History::from_csv(&bad_number).unwrap_err();
        assert!(err.starts_with("line 2, column"), "{err}");
        let short = format!("{CSV_HEADER}\n1,2,3\n");
        assert_eq!(
            History::from_csv(&short).unwrap_err(),
            format!("line 2 has 3 fields, expected 7 ({CSV_HEADER})")
        );
        assert!(History::from_csv("a,b\n")
            .unwrap_err()
            .starts_with("line 1 is `a,b`"));
        assert!(History::from_csv("").is_err());
    }

    #[test]
    fn the_best_record_is_the_best_epochs() {
        let mut h = sample(12, true);
        assert!(h.best().is_none(), "no early stopping, no best epoch");
        h.set_best_epoch(Some(4));
        assert_eq!(h.best().unwrap().epoch, 4);
        // Resumed runs start past epoch 1: found by number, not by position.
        let mut tail = History::new();
        tail.push(record(5, true));
        tail.push(record(6, true));
        tail.set_best_epoch(Some(6));
        assert_eq!(tail.best(), Some(&record(6, true)));
    }
}
