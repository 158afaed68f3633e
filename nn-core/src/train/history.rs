//! [`History`]: the record of a training run, one row per epoch with the loss and the chosen
//! metrics, and the epoch whose weights the model kept; saved and read back as CSV.

use crate::error::{Error, Result};
use crate::fsutil::atomic_write;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

/// Metric values by name, in the order the metrics were chosen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricValues(Vec<(String, f32)>);

impl MetricValues {
    /// No values.
    pub fn new() -> Self {
        MetricValues::default()
    }

    /// Appends `name`'s value.
    pub fn push(&mut self, name: impl Into<String>, value: f32) {
        self.0.push((name.into(), value));
    }

    /// The value of the metric called `name`.
    pub fn get(&self, name: &str) -> Option<f32> {
        self.0.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    /// `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f32)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<(S, f32)> for MetricValues {
    fn from_iter<I: IntoIterator<Item = (S, f32)>>(iter: I) -> Self {
        MetricValues(iter.into_iter().map(|(n, v)| (n.into(), v)).collect())
    }
}

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch number, counting from 1.
    pub epoch: usize,
    /// The mean training loss over the epoch's batches.
    pub train_loss: f32,
    /// The chosen metrics over the epoch's training batches (Train mode), by name.
    pub train_metrics: MetricValues,
    /// The validation loss after the epoch (Eval mode), if there is a validation set.
    pub valid_loss: Option<f32>,
    /// The chosen metrics on the validation set after the epoch; empty without one.
    pub valid_metrics: MetricValues,
    /// The learning rate the epoch trained with.
    pub lr: f32,
    /// Wall-clock seconds the epoch took, validation included.
    pub seconds: f64,
}

impl EpochRecord {
    /// The training value of the metric called `name` (`"acc"`).
    pub fn train_metric(&self, name: &str) -> Option<f32> {
        self.train_metrics.get(name)
    }

    /// The validation value of the metric called `name`, if there was validation.
    pub fn valid_metric(&self, name: &str) -> Option<f32> {
        self.valid_metrics.get(name)
    }

    /// The value of the history column `column` (`train_loss`, `valid_acc`, `lr`, … as in
    /// [`History::csv_header`]), if the record has it.
    pub fn get(&self, column: &str) -> Option<f32> {
        match column {
            "train_loss" => Some(self.train_loss),
            "valid_loss" => self.valid_loss,
            "lr" => Some(self.lr),
            _ => match (column.strip_prefix("train_"), column.strip_prefix("valid_")) {
                (Some(metric), _) => self.train_metric(metric),
                (_, Some(metric)) => self.valid_metric(metric),
                _ => None,
            },
        }
    }
}

/// Every epoch's loss and metrics, in order, and which epoch's weights the model ended with.
///
/// Drawn as a PNG by `History::plot` (the `plot` feature, `nn_core::plot`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    records: Vec<EpochRecord>,
    best_epoch: Option<usize>,
    /// The loss's name (`SoftmaxCrossEntropy`), for charts; empty when unknown (read from CSV).
    loss: String,
    /// The metrics' names, the columns of every record.
    metrics: Vec<String>,
}

impl History {
    /// An empty history; it takes its metrics' names from the first record pushed.
    pub fn new() -> Self {
        History::default()
    }

    /// An empty history of a run with the loss called `loss` and the metrics called `metrics`.
    pub fn with_metrics(loss: impl Into<String>, metrics: Vec<String>) -> Self {
        History {
            loss: loss.into(),
            metrics,
            ..History::default()
        }
    }

    /// Appends one epoch's record.
    ///
    /// # Panics
    /// If its metrics are not the history's (names, in order), or its validation metrics are
    /// neither those nor none: every row has the same columns.
    pub fn push(&mut self, record: EpochRecord) {
        if self.records.is_empty() && self.metrics.is_empty() {
            self.metrics = record.train_metrics.names().map(str::to_string).collect();
        }
        let matches = |m: &MetricValues| m.names().eq(self.metrics.iter().map(String::as_str));
        assert!(
            matches(&record.train_metrics)
                && (record.valid_metrics.is_empty() || matches(&record.valid_metrics)),
            "History::push: epoch {} has metrics {:?} / {:?}, but the history's are {:?}",
            record.epoch,
            record.train_metrics.names().collect::<Vec<_>>(),
            record.valid_metrics.names().collect::<Vec<_>>(),
            self.metrics
        );
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

    /// The names of the metrics every record holds, in order.
    pub fn metric_names(&self) -> &[String] {
        &self.metrics
    }

    /// The name of the loss trained (empty for a history read from CSV).
    pub fn loss_name(&self) -> &str {
        &self.loss
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

    /// The CSV header: `epoch,train_loss,train_<metric>...,valid_loss,valid_<metric>...,lr,seconds`
    /// (`epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds` for a classifier).
    pub fn csv_header(&self) -> String {
        let mut s = "epoch,train_loss".to_string();
        for m in &self.metrics {
            let _ = write!(s, ",train_{m}");
        }
        s.push_str(",valid_loss");
        for m in &self.metrics {
            let _ = write!(s, ",valid_{m}");
        }
        s.push_str(",lr,seconds");
        s
    }

    /// The history as CSV text: [`History::csv_header`], then one line per epoch. Numbers are
    /// written in Rust's shortest round-trip form, so reading them back gives the same bits; a
    /// missing validation value is an empty field.
    pub fn to_csv(&self) -> String {
        let mut s = String::with_capacity(64 * (self.records.len() + 1));
        s.push_str(&self.csv_header());
        s.push('\n');
        for r in &self.records {
            self.write_row(&mut s, r);
        }
        s
    }

    /// `record` as a CSV line of this history's columns, newline included.
    pub fn csv_row(&self, record: &EpochRecord) -> String {
        let mut s = String::with_capacity(64);
        self.write_row(&mut s, record);
        s
    }

    fn write_row(&self, s: &mut String, r: &EpochRecord) {
        let _ = write!(s, "{},{}", r.epoch, r.train_loss);
        for (_, v) in r.train_metrics.iter() {
            let _ = write!(s, ",{v}");
        }
        s.push(',');
        if let Some(v) = r.valid_loss {
            let _ = write!(s, "{v}");
        }
        for m in &self.metrics {
            s.push(',');
            if let Some(v) = r.valid_metric(m) {
                let _ = write!(s, "{v}");
            }
        }
        let _ = writeln!(s, ",{},{}", r.lr, r.seconds);
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
        const SHAPE: &str = "epoch,train_loss,[train_<metric>,...]valid_loss,[valid_<metric>,...]lr,seconds";
        let mut lines = text.lines().enumerate();
        let header = match lines.next() {
            Some((_, header)) => header.trim_end(),
            None => return Err(format!("the file is empty, expected a header `{SHAPE}`")),
        };
        let metrics = metric_columns(header)
            .ok_or_else(|| format!("line 1 is `{header}`, expected a header `{SHAPE}`"))?;
        let mut history = History::with_metrics("", metrics.clone());
        let columns: Vec<&str> = header.split(',').collect();
        let k = metrics.len();
        for (i, line) in lines {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.trim_end().split(',').collect();
            if fields.len() != columns.len() {
                return Err(format!(
                    "line {line_no} has {} fields, expected {} ({header})",
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
            let valid_loss = opt(2 + k)?;
            let mut train_metrics = MetricValues::new();
            let mut valid_metrics = MetricValues::new();
            for (j, m) in metrics.iter().enumerate() {
                train_metrics.push(m.as_str(), num(2 + j)?);
                if let Some(v) = opt(3 + k + j)? {
                    valid_metrics.push(m.as_str(), v);
                }
            }
            if !valid_metrics.is_empty() && valid_metrics.len() != k {
                return Err(format!(
                    "line {line_no}: some validation metrics are empty and some are not"
                ));
            }
            history.push(EpochRecord {
                epoch: fields[0].parse().map_err(|_| bad(0))?,
                train_loss: num(1)?,
                train_metrics,
                valid_loss,
                valid_metrics,
                lr: num(3 + 2 * k)?,
                seconds: fields[4 + 2 * k].parse().map_err(|_| bad(4 + 2 * k))?,
            });
        }
        Ok(history)
    }
}

/// The metric names of a header `epoch,train_loss,train_<m>...,valid_loss,valid_<m>...,lr,seconds`,
/// or `None` if it is not one.
fn metric_columns(header: &str) -> Option<Vec<String>> {
    let columns: Vec<&str> = header.split(',').collect();
    let rest = columns.strip_prefix(&["epoch", "train_loss"])?;
    let rest = rest.strip_suffix(&["lr", "seconds"])?;
    let split = rest.iter().position(|&c| c == "valid_loss")?;
    let (train, valid) = (&rest[..split], &rest[split + 1..]);
    let names: Vec<String> = train
        .iter()
        .map(|c| c.strip_prefix("train_").map(str::to_string))
        .collect::<Option<_>>()?;
    let same = valid.len() == names.len()
        && valid
            .iter()
            .zip(&names)
            .all(|(v, n)| v.strip_prefix("valid_") == Some(n.as_str()));
    same.then_some(names)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fsutil::tests::TempDir;

    /// Epoch `epoch` of a sample run whose validation loss is lowest at epoch 7.
    pub(crate) fn record(epoch: usize, valid: bool) -> EpochRecord {
        let e = epoch as f32;
        let acc = |v: f32| MetricValues::from_iter([("acc", v)]);
        EpochRecord {
            epoch,
            train_loss: 1.0 / e + 0.01,
            train_metrics: acc(1.0 - 0.3 / e),
            valid_loss: valid.then(|| 1.0 / e + 0.05 + 0.02 * (e - 6.0).max(0.0)),
            valid_metrics: if valid {
                acc(0.97 - 0.35 / e)
            } else {
                MetricValues::new()
            },
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
            valid_metrics: MetricValues::new(),
            ..record(5, false)
        });
        h.save_csv(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds"
        );
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
        let header = "epoch,train_loss,train_acc,valid_loss,valid_acc,lr,seconds";
        let short = format!("{header}\n1,2,3\n");
        assert_eq!(
            History::from_csv(&short).unwrap_err(),
            format!("line 2 has 3 fields, expected 7 ({header})")
        );
        for bad in [
            "epoch,train_loss,train_acc,valid_loss,valid_mae,lr,seconds",
            "epoch,train_loss,acc,valid_loss,valid_acc,lr,seconds",
            "epoch,train_loss,lr,seconds",
        ] {
            assert!(History::from_csv(bad).is_err(), "{bad}");
        }
        assert!(History::from_csv("a,b\n")
            .unwrap_err()
            .starts_with("line 1 is `a,b`"));
        assert!(History::from_csv("").is_err());
    }

    #[test]
    fn any_metrics_make_their_columns() {
        let mut h = History::with_metrics("MseLoss", vec!["mae".into(), "rmse".into()]);
        assert_eq!(
            h.csv_header(),
            "epoch,train_loss,train_mae,train_rmse,valid_loss,valid_mae,valid_rmse,lr,seconds"
        );
        let values = |a, b| MetricValues::from_iter([("mae", a), ("rmse", b)]);
        h.push(EpochRecord {
            epoch: 1,
            train_loss: 2.5,
            train_metrics: values(1.0, 1.5),
            valid_loss: Some(3.0),
            valid_metrics: values(1.25, 1.75),
            lr: 0.01,
            seconds: 0.5,
        });
        h.push(EpochRecord {
            epoch: 2,
            train_loss: 2.0,
            train_metrics: values(0.75, 1.0),
            valid_loss: None,
            valid_metrics: MetricValues::new(),
            lr: 0.01,
            seconds: 0.5,
        });
        let csv = h.to_csv();
        assert_eq!(csv.lines().nth(1), Some("1,2.5,1,1.5,3,1.25,1.75,0.01,0.5"));
        assert_eq!(csv.lines().nth(2), Some("2,2,0.75,1,,,,0.01,0.5"));
        let back = History::from_csv(&csv).unwrap();
        assert_eq!(back.records(), h.records());
        assert_eq!(back.metric_names(), ["mae", "rmse"]);
        // No metrics at all: loss columns only.
        let none = History::with_metrics("MseLoss", Vec::new());
        assert_eq!(none.csv_header(), "epoch,train_loss,valid_loss,lr,seconds");
        assert_eq!(
            History::from_csv(&none.to_csv()).unwrap().metric_names(),
            [] as [String; 0]
        );
    }

    #[test]
    #[should_panic(expected = "History::push: epoch 1 has metrics [\"mae\"]")]
    fn every_row_has_the_same_columns() {
        let mut h = History::with_metrics("", vec!["acc".into()]);
        h.push(EpochRecord {
            train_metrics: MetricValues::from_iter([("mae", 1.0)]),
            valid_metrics: MetricValues::new(),
            ..record(1, false)
        });
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
