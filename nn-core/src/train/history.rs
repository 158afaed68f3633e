//! The record of a training run, one row per epoch, saved as CSV and drawn as a PNG.

use crate::error::{Error, Result};
use crate::fsutil::atomic_write;
use crate::train::plot::{save_png, Chart, Series};
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

/// Every epoch's metrics, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    records: Vec<EpochRecord>,
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

    /// The record with the lowest finite validation loss (the first of equals), if any epoch
    /// was validated.
    pub fn best_valid(&self) -> Option<&EpochRecord> {
        self.records
            .iter()
            .filter(|r| r.valid_loss.is_some_and(f32::is_finite))
            .fold(None, |best: Option<&EpochRecord>, r| match best {
                Some(b) if b.valid_loss <= r.valid_loss => Some(b),
                _ => Some(r),
            })
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

    /// The two panels [`History::plot`] draws: loss, and accuracy, each for training and
    /// validation, with the best validation epoch marked.
    pub fn charts(&self) -> [Chart; 2] {
        let epochs = || self.records.iter();
        let has_valid = self.records.iter().any(|r| r.valid_loss.is_some());
        let per_epoch = |name: &str, f: &dyn Fn(&EpochRecord) -> Option<f32>| {
            Series::new(
                name,
                epochs().filter_map(|r| f(r).map(|v| (r.epoch as f64, f64::from(v)))),
            )
        };
        let best = self.best_valid();

        let mut loss_title = "Loss".to_string();
        let mut acc_title = "Accuracy".to_string();
        if let Some(b) = best {
            let _ = write!(
                loss_title,
                " (best validation {:.4} at epoch {})",
                b.valid_loss.unwrap_or(f32::NAN),
                b.epoch
            );
        } else if let Some(last) = self.last() {
            let _ = write!(loss_title, " (final training {:.4})", last.train_loss);
        }
        if let Some(last) = self.last() {
            let shown = if has_valid {
                last.valid_acc
            } else {
                Some(last.train_acc)
            };
            if let Some(acc) = shown {
                let which = if has_valid { "validation" } else { "training" };
                let _ = write!(acc_title, " (final {which} {:.2}%)", acc * 100.0);
            }
        }

        let mut loss = Chart::new(loss_title, "epoch", "cross-entropy loss")
            .with(per_epoch("training", &|r| Some(r.train_loss)));
        let mut acc = Chart::new(acc_title, "epoch", "accuracy")
            .with(per_epoch("training", &|r| Some(r.train_acc)))
            .percent_y();
        if has_valid {
            loss = loss.with(per_epoch("validation", &|r| r.valid_loss));
            acc = acc.with(per_epoch("validation", &|r| r.valid_acc));
        }
        if let Some(b) = best {
            // Only worth a line when training went on past it (early stopping keeps those weights).
            if self.last().is_some_and(|l| l.epoch != b.epoch) {
                let label = format!("best epoch ({})", b.epoch);
                loss = loss.marker(b.epoch as f64, label.clone());
                acc = acc.marker(b.epoch as f64, label);
            }
        }
        [loss, acc]
    }

    /// Draws the loss and accuracy curves (training and validation) side by side into a PNG at
    /// `path`, written atomically.
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<()> {
        save_png(path, &self.charts())
    }
}

/// Compares several runs in one PNG: training loss per run (left) and validation accuracy per
/// run (right; training accuracy for runs without validation), one colour per run. For
/// experiments such as optimizer, initialisation or BatchNorm comparisons.
///
/// ```
/// use nn_core::train::{history::plot_runs, EpochRecord, History};
/// # let dir = std::env::temp_dir().join(format!("nn-doc-runs-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let mut a = History::new();
/// let mut b = History::new();
/// for epoch in 1..=5 {
///     let rec = |loss: f32| EpochRecord {
///         epoch, train_loss: loss, train_acc: 1.0 - loss / 3.0,
///         valid_loss: None, valid_acc: None, lr: 0.01, seconds: 1.0,
///     };
///     a.push(rec(2.0 / epoch as f32));
///     b.push(rec(1.0 / epoch as f32));
/// }
/// plot_runs(dir.join("compare.png"), "BatchNorm", &[("without", &a), ("with", &b)])?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn plot_runs(path: impl AsRef<Path>, title: &str, runs: &[(&str, &History)]) -> Result<()> {
    let all_valid = runs
        .iter()
        .all(|(_, h)| h.records.iter().any(|r| r.valid_acc.is_some()));
    let mut loss = Chart::new(format!("{title}: training loss"), "epoch", "cross-entropy loss");
    let acc_name = if all_valid {
        "validation accuracy"
    } else {
        "accuracy"
    };
    let mut acc = Chart::new(format!("{title}: {acc_name}"), "epoch", acc_name).percent_y();
    for (name, h) in runs {
        let points = |f: &dyn Fn(&EpochRecord) -> Option<f32>| -> Vec<(f64, f64)> {
            h.records
                .iter()
                .filter_map(|r| f(r).map(|v| (r.epoch as f64, f64::from(v))))
                .collect()
        };
        loss = loss.with(Series::new(*name, points(&|r| Some(r.train_loss))));
        let has_valid = h.records.iter().any(|r| r.valid_acc.is_some());
        acc = acc.with(Series::new(
            *name,
            points(&|r| if has_valid { r.valid_acc } else { Some(r.train_acc) }),
        ));
    }
    // Losses of different settings often differ by orders of magnitude.
    let spread = {
        let ys = loss
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|y| y.is_finite() && *y > 0.0);
        let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
        hi / lo
    };
    if spread > 20.0 {
        loss = loss.log_y();
    }
    save_png(path, &[loss, acc])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::tests::TempDir;

    fn record(epoch: usize, valid: bool) -> EpochRecord {
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

    pub(crate) fn sample(epochs: usize, valid: bool) -> History {
        scaled_sample(epochs, valid, 1.0)
    }

    /// A sample whose error terms are multiplied by `k`, to tell runs apart.
    fn scaled_sample(epochs: usize, valid: bool, k: f32) -> History {
        let mut h = History::new();
        for e in 1..=epochs {
            let mut r = record(e, valid);
            r.train_loss *= k;
            r.train_acc = 1.0 - (1.0 - r.train_acc) * k;
            r.valid_acc = r.valid_acc.map(|a| 1.0 - (1.0 - a) * k);
            h.push(r);
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
    fn best_valid_is_the_lowest_validation_loss() {
        let h = sample(12, true);
        // valid_loss = 1/e + 0.05 + 0.02*max(e-6, 0): lowest at e = 6 or 7; 1/6 < 1/7 + 0.02.
        assert_eq!(h.best_valid().unwrap().epoch, 7);
        assert!(sample(3, false).best_valid().is_none());
    }

    #[test]
    fn charts_hold_training_and_validation_curves_and_mark_the_best_epoch() {
        let [loss, acc] = sample(12, true).charts();
        assert_eq!(loss.series.len(), 2);
        assert_eq!(acc.series.len(), 2);
        assert_eq!(loss.series[1].name, "validation");
        assert_eq!(loss.series[0].points[2], (3.0, f64::from(1.0f32 / 3.0 + 0.01)));
        assert_eq!(loss.marker.as_ref().unwrap().0, 7.0);
        assert!(acc.percent_y);
        assert!(loss.title.contains("epoch 7"), "{}", loss.title);
        let [loss, acc] = sample(3, false).charts();
        assert_eq!((loss.series.len(), acc.series.len()), (1, 1));
        assert!(loss.marker.is_none());
    }

    #[test]
    fn plots_are_png_files() {
        let dir = TempDir::new("history-plot");
        let path = dir.join("curves.png");
        sample(20, true).plot(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (1280, 460));

        let runs = dir.join("runs.png");
        let (a, b) = (sample(10, true), sample(6, true));
        plot_runs(&runs, "Test", &[("a", &a), ("b", &b)]).unwrap();
        assert!(runs.exists());
    }
}
