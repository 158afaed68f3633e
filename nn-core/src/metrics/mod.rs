//! Metrics: the [`Metric`] trait a trainer records per epoch, chosen by name
//! (`Trainer::metrics(["acc", "top5_acc"])`), and the built-ins, one file each: [`Accuracy`]
//! (`acc`) and [`TopKAccuracy`] (`top{k}_acc`) for classifiers, [`MeanAbsoluteError`] (`mae`)
//! and [`RootMeanSquaredError`] (`rmse`) for value targets.

mod accuracy;
mod mae;
mod rmse;
mod top_k;

pub use accuracy::{accuracy, argmax, count_correct, Accuracy};
pub use mae::MeanAbsoluteError;
pub use rmse::RootMeanSquaredError;
pub use top_k::TopKAccuracy;

use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;

/// A number measured over many batches: reset, updated with each batch's output and targets,
/// then read. Its name heads its columns (`train_<name>`, `valid_<name>` in the history's CSV),
/// its part of the progress line and its chart. A metric written outside nn is one short impl
/// (see `tests/custom_metric.rs`):
///
/// ```
/// use nn_core::metrics::Metric;
/// use nn_core::{Targets, Tensor};
///
/// /// The largest output seen.
/// #[derive(Default)]
/// struct MaxOutput(f32);
///
/// impl Metric for MaxOutput {
///     fn name(&self) -> &str { "max_output" }
///     fn reset(&mut self) { self.0 = f32::NEG_INFINITY; }
///     fn update(&mut self, output: &Tensor, _: Targets<'_>) {
///         self.0 = output.iter().fold(self.0, |m, &v| m.max(v));
///     }
///     fn value(&self) -> f32 { self.0 }
/// }
/// ```
pub trait Metric: Send {
    /// The name in columns, lines and charts: short, lower case, no spaces (`acc`, `mae`).
    fn name(&self) -> &str;

    /// Forgets every batch seen, for a new epoch or evaluation.
    fn reset(&mut self);

    /// Adds one batch: the network's output `[N, ...]` and the batch's targets.
    fn update(&mut self, output: &Tensor, targets: Targets<'_>);

    /// The value over every batch since the last reset (NaN before any).
    fn value(&self) -> f32;

    /// Whether targets of `targets`'s kind and outputs whose samples have shape `output` can be
    /// measured: `Err` says what is needed. `fit` asks before the first step. Anything, by
    /// default.
    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        let _ = (output, targets);
        Ok(())
    }
}

/// The built-in metric called `name`: `acc`, `top<k>_acc` (`top5_acc`), `mae` or `rmse`.
pub fn by_name(name: &str) -> Option<Box<dyn Metric>> {
    match name {
        "acc" => Some(Box::new(Accuracy::new())),
        "mae" => Some(Box::new(MeanAbsoluteError::new())),
        "rmse" => Some(Box::new(RootMeanSquaredError::new())),
        _ => {
            let k = name.strip_prefix("top")?.strip_suffix("_acc")?.parse().ok()?;
            (k > 0).then(|| Box::new(TopKAccuracy::new(k)) as Box<dyn Metric>)
        }
    }
}

/// The names [`by_name`] knows, for messages.
pub const BUILT_IN: &str = "acc, top<k>_acc (e.g. top5_acc), mae, rmse";

/// How the metric called `name` reads in a chart: a title, an axis label, and whether it is a
/// fraction (drawn in percent). A name nn does not know is shown as it is.
pub fn presentation(name: &str) -> (String, String, bool) {
    match name {
        "acc" => ("Accuracy".into(), "accuracy".into(), true),
        "mae" => ("Mean absolute error".into(), "MAE".into(), false),
        "rmse" => ("Root mean squared error".into(), "RMSE".into(), false),
        _ => match name.strip_prefix("top").and_then(|k| k.strip_suffix("_acc")) {
            Some(k) if k.parse::<usize>().is_ok() => {
                (format!("Top-{k} accuracy"), format!("top-{k} accuracy"), true)
            }
            _ => (name.to_string(), name.to_string(), false),
        },
    }
}

/// `Ok` for value targets of the output's shape: what the regression metrics need.
fn check_values(output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
    match targets {
        TargetKind::Values(shape) if shape == output => Ok(()),
        _ => Err(format!(
            "needs f32 value targets of the outputs' shape {}",
            crate::data::batch_shape(output)
        )),
    }
}

/// The values of `output` and of value `targets` of its shape, pair by pair.
///
/// # Panics
/// Unless the targets are values of the output's shape, naming `who`.
fn value_pairs<'a>(
    who: &str,
    output: &'a Tensor,
    targets: Targets<'a>,
) -> impl Iterator<Item = (f32, f32)> + 'a {
    let t = match targets {
        Targets::Values(t) if t.shape() == output.shape() => t,
        other => panic!(
            "{who}: outputs of shape {:?} but targets of {}",
            output.shape(),
            other.kind()
        ),
    };
    output.iter().copied().zip(t.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_are_found_by_their_names() {
        for name in ["acc", "top3_acc", "mae", "rmse"] {
            assert_eq!(by_name(name).unwrap().name(), name);
        }
        for unknown in ["accuracy", "top0_acc", "topk_acc", "top5", ""] {
            assert!(by_name(unknown).is_none(), "{unknown}");
        }
        assert_eq!(presentation("acc").0, "Accuracy");
        assert_eq!(
            presentation("top5_acc"),
            ("Top-5 accuracy".into(), "top-5 accuracy".into(), true)
        );
        assert!(!presentation("f1").2);
    }
}
