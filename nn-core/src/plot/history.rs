//! Training curves from a [`History`]: `History::charts` and `History::plot` for one run,
//! [`plot_runs`] to compare several.

use super::chart::{Chart, Series};
use super::render::save_png;
use crate::error::Result;
use crate::metrics::presentation;
use crate::train::{EpochRecord, History};
use std::fmt::Write as _;
use std::path::Path;

impl History {
    /// The panels [`History::plot`] draws: the loss, then each metric (accuracy for a
    /// classifier), each for training and validation, with [`History::best_epoch`] (the epoch
    /// whose weights early stopping restored) marked when training went on past it, and the
    /// value of the weights the model ends with in each title.
    pub fn charts(&self) -> Vec<Chart> {
        let records = self.records();
        let has_valid = records.iter().any(|r| r.valid_loss.is_some());
        let per_epoch = |name: &str, f: &dyn Fn(&EpochRecord) -> Option<f32>| {
            Series::new(
                name,
                records
                    .iter()
                    .filter_map(|r| f(r).map(|v| (r.epoch as f64, f64::from(v)))),
            )
        };

        let mut loss_title = "Loss".to_string();
        let _ = match (self.best(), self.last()) {
            (Some(best), _) => write!(
                loss_title,
                " (best validation {:.4} at epoch {})",
                best.valid_loss.unwrap_or(f32::NAN),
                best.epoch
            ),
            (None, Some(last)) => match last.valid_loss {
                Some(loss) => write!(loss_title, " (final validation {loss:.4})"),
                None => write!(loss_title, " (final training {:.4})", last.train_loss),
            },
            (None, None) => Ok(()),
        };
        let mut loss = Chart::new(loss_title, "epoch", loss_label(self.loss_name()))
            .with(per_epoch("training", &|r| Some(r.train_loss)));
        if has_valid {
            loss = loss.with(per_epoch("validation", &|r| r.valid_loss));
        }
        let mut charts = vec![loss];

        for name in self.metric_names() {
            let (mut title, axis, fraction) = presentation(name);
            // The value of the weights the model ends with: the restored epoch's, else the last's.
            if let Some(kept) = self.best().or(self.last()) {
                let which = if has_valid { "validation" } else { "training" };
                let value = if has_valid {
                    kept.valid_metric(name)
                } else {
                    kept.train_metric(name)
                };
                let shown = |v: f32| {
                    if fraction {
                        format!("{:.2}%", v * 100.0)
                    } else {
                        format!("{v:.4}")
                    }
                };
                let _ = match (value, self.best()) {
                    (None, _) => Ok(()),
                    (Some(v), Some(_)) => {
                        write!(title, " ({which} {} at epoch {})", shown(v), kept.epoch)
                    }
                    (Some(v), None) => write!(title, " (final {which} {})", shown(v)),
                };
            }
            let mut chart =
                Chart::new(title, "epoch", axis).with(per_epoch("training", &|r| r.train_metric(name)));
            if fraction {
                chart = chart.percent_y();
            }
            if has_valid {
                chart = chart.with(per_epoch("validation", &|r| r.valid_metric(name)));
            }
            charts.push(chart);
        }

        if let Some(best) = self.best_epoch() {
            // Only worth a line when training went on past it: the model has that epoch's
            // weights, not the last one's.
            if self.last().is_some_and(|l| l.epoch != best) {
                let label = format!("restored: epoch {best}");
                charts = charts
                    .into_iter()
                    .map(|c| c.marker(best as f64, label.clone()))
                    .collect();
            }
        }
        charts
    }

    /// Draws the loss and metric curves (training and validation) side by side into a PNG at
    /// `path`, written atomically.
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<()> {
        save_png(path, &self.charts())
    }
}

/// The loss axis's label for the loss called `name` (a loss nn does not know by its name).
fn loss_label(name: &str) -> String {
    match name {
        "SoftmaxCrossEntropy" => "cross-entropy loss",
        "MseLoss" => "mean squared error",
        "L1Loss" => "mean absolute error",
        "HuberLoss" => "Huber loss",
        "BceWithLogitsLoss" => "binary cross-entropy",
        "" => "loss",
        other => other,
    }
    .to_string()
}

/// Compares several runs in one PNG: training loss per run (left) and the first metric of the
/// runs (validation accuracy for classifiers; the training value for runs without validation)
/// per run (right), one colour per run. For experiments such as optimizer, initialisation or
/// BatchNorm comparisons.
///
/// ```
/// use nn_core::plot::plot_runs;
/// use nn_core::train::{EpochRecord, History, MetricValues};
/// # let dir = std::env::temp_dir().join(format!("nn-doc-runs-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let mut a = History::new();
/// let mut b = History::new();
/// for epoch in 1..=5 {
///     let rec = |loss: f32| EpochRecord {
///         epoch, train_loss: loss, train_metrics: MetricValues::from_iter([("acc", 1.0 - loss / 3.0)]),
///         valid_loss: None, valid_metrics: MetricValues::new(), lr: 0.01, seconds: 1.0,
///     };
///     a.push(rec(2.0 / epoch as f32));
///     b.push(rec(1.0 / epoch as f32));
/// }
/// plot_runs(dir.join("compare.png"), "BatchNorm", &[("without", &a), ("with", &b)])?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn plot_runs(path: impl AsRef<Path>, title: &str, runs: &[(&str, &History)]) -> Result<()> {
    let loss_name = runs.first().map_or("", |(_, h)| h.loss_name());
    let mut loss = Chart::new(format!("{title}: training loss"), "epoch", loss_label(loss_name));
    // The first metric, if every run records it.
    let metric = runs
        .first()
        .and_then(|(_, h)| h.metric_names().first())
        .filter(|m| runs.iter().all(|(_, h)| h.metric_names().contains(m)));
    let has_valid = |h: &History| h.records().iter().any(|r| r.valid_loss.is_some());
    let all_valid = runs.iter().all(|(_, h)| has_valid(h));
    let mut right = metric.map(|m| {
        let (_, axis, fraction) = presentation(m);
        let name = if all_valid {
            format!("validation {axis}")
        } else {
            axis
        };
        let chart = Chart::new(format!("{title}: {name}"), "epoch", name);
        if fraction {
            chart.percent_y()
        } else {
            chart
        }
    });
    for (name, h) in runs {
        let points = |f: &dyn Fn(&EpochRecord) -> Option<f32>| -> Vec<(f64, f64)> {
            h.records()
                .iter()
                .filter_map(|r| f(r).map(|v| (r.epoch as f64, f64::from(v))))
                .collect()
        };
        loss = loss.with(Series::new(*name, points(&|r| Some(r.train_loss))));
        if let (Some(chart), Some(m)) = (right.take(), metric) {
            let valid = has_valid(h);
            right = Some(chart.with(Series::new(
                *name,
                points(&|r| {
                    if valid {
                        r.valid_metric(m)
                    } else {
                        r.train_metric(m)
                    }
                }),
            )));
        }
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
    let mut charts = vec![loss];
    charts.extend(right);
    save_png(path, &charts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::tests::TempDir;
    use crate::train::history::tests::sample;

    #[test]
    fn charts_hold_training_and_validation_curves() {
        let [loss, acc] = <[Chart; 2]>::try_from(sample(12, true).charts()).unwrap();
        assert_eq!(loss.series.len(), 2);
        assert_eq!(acc.series.len(), 2);
        assert_eq!(loss.series[1].name, "validation");
        assert_eq!(loss.series[0].points[2], (3.0, f64::from(1.0f32 / 3.0 + 0.01)));
        assert!(acc.percent_y);
        // Without early stopping the model has the last epoch's weights: nothing to mark.
        assert!(loss.marker.is_none() && acc.marker.is_none());
        assert!(loss.title.contains("final validation"), "{}", loss.title);
        assert!(acc.title.contains("final validation"), "{}", acc.title);
        let [loss, acc] = <[Chart; 2]>::try_from(sample(3, false).charts()).unwrap();
        assert_eq!((loss.series.len(), acc.series.len()), (1, 1));
        assert!(loss.title.contains("final training"), "{}", loss.title);
    }

    #[test]
    fn the_marker_is_the_restored_epoch_not_the_lowest_loss() {
        // The sample's validation loss is lowest at epoch 7; with `min_delta` early stopping may
        // have kept epoch 4's weights instead: the plot must show epoch 4.
        let mut h = sample(12, true);
        h.set_best_epoch(Some(4));
        let [loss, acc] = <[Chart; 2]>::try_from(h.charts()).unwrap();
        assert_eq!(loss.marker.as_ref().unwrap().0, 4.0);
        assert_eq!(acc.marker.as_ref().unwrap().0, 4.0);
        assert!(loss.title.contains("at epoch 4"), "{}", loss.title);
        let acc_at_4 = 100.0 * h.records()[3].valid_metric("acc").unwrap();
        assert!(
            acc.title
                .ends_with(&format!("(validation {acc_at_4:.2}% at epoch 4)")),
            "{}",
            acc.title
        );
        // Stopped at its best epoch: the weights are the last epoch's, no line needed.
        h.set_best_epoch(Some(12));
        assert!(h.charts()[0].marker.is_none());
    }

    #[test]
    fn a_regression_history_charts_its_own_metrics_and_no_accuracy() {
        use crate::train::MetricValues;
        let mut h = History::with_metrics("MseLoss", vec!["mae".into(), "rmse".into()]);
        for epoch in 1..=3 {
            let v = 1.0 / epoch as f32;
            h.push(EpochRecord {
                epoch,
                train_loss: v,
                train_metrics: MetricValues::from_iter([("mae", v), ("rmse", 2.0 * v)]),
                valid_loss: None,
                valid_metrics: MetricValues::new(),
                lr: 0.1,
                seconds: 1.0,
            });
        }
        let charts = h.charts();
        let titles: Vec<&str> = charts.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Loss (final training 0.3333)",
                "Mean absolute error (final training 0.3333)",
                "Root mean squared error (final training 0.6667)"
            ]
        );
        assert!(charts.iter().all(|c| !c.percent_y));
        assert!(!format!("{charts:?}").to_lowercase().contains("accura"));
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
