//! Evaluation and prediction: Eval-mode passes over in-order [`Batches`] of any
//! [`DataSource`], giving the loss and the metrics, or the network's outputs.

use crate::data::{Batches, DataSource};
use crate::error::Result;
use crate::layer::{Layer, Mode};
use crate::loss::{softmax_rows, Loss};
use crate::metrics::argmax;
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use crate::train::checks::output_shape;
use crate::train::error::TrainError;
use crate::train::history::MetricValues;
use crate::train::trainer::Trainer;
use ndarray::{Axis, IxDyn};

/// The loss and metrics of a model on a dataset, from [`Trainer::evaluate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss over the samples, plus `l2_penalty`.
    pub loss: f32,
    /// The trainer's metrics, by name.
    pub metrics: MetricValues,
    /// The optimizer's L2 penalty at the current weights, included in `loss` (0 without weight
    /// decay).
    pub l2_penalty: f32,
    /// The number of samples evaluated.
    pub samples: usize,
}

impl Evaluation {
    /// The value of the metric called `name` (`"acc"`).
    pub fn metric(&self, name: &str) -> Option<f32> {
        self.metrics.get(name)
    }
}

impl<O: Optimizer, L: Loss> Trainer<O, L> {
    /// The loss and metrics of `net` on `data`, in Eval mode, in batches of the trainer's batch
    /// size. The loss includes the optimizer's L2 penalty at the current weights, as the training
    /// loss does (see [`Evaluation::l2_penalty`]).
    ///
    /// Fails if `data` is empty, if its targets do not fit the loss or a metric
    /// ([`TrainError::TargetMismatch`]), or if a batch cannot be read. A diverged model gives a
    /// NaN loss here, not an error.
    pub fn evaluate(&mut self, net: &mut dyn Layer, data: &dyn DataSource) -> Result<Evaluation> {
        if data.is_empty() {
            return Err(TrainError::NoBatches {
                set: "evaluation",
                samples: 0,
                batch_size: self.batch_size,
                drop_last: false,
            }
            .into());
        }
        self.check_targets(&output_shape(net, data.input_shape()), "evaluation", data)?;
        self.run_evaluation(net, data)
    }

    /// [`Trainer::evaluate`] on a set already checked.
    pub(super) fn run_evaluation(
        &mut self,
        net: &mut dyn Layer,
        data: &dyn DataSource,
    ) -> Result<Evaluation> {
        self.metrics.iter_mut().for_each(|m| m.reset());
        let mut loss_sum = 0f64;
        let mut batches = Batches::new(data, self.batch_size);
        while let Some(batch) = batches.next_batch()? {
            let output = net.forward(std::mem::take(&mut batch.inputs), Mode::Eval);
            let targets = batch.targets();
            for metric in &mut self.metrics {
                metric.update(&output, targets);
            }
            let loss = self.loss.forward(output, targets);
            loss_sum += f64::from(loss) * batch.len() as f64;
        }
        let l2_penalty = self.optimizer.l2_penalty(net);
        let samples = data.len();
        Ok(Evaluation {
            loss: (loss_sum / samples as f64) as f32 + l2_penalty,
            metrics: self.metric_values(),
            l2_penalty,
            samples,
        })
    }

    /// The network's outputs for each sample of `data`, `[N, ...]` in order: [`predict`] with
    /// the trainer's batch size.
    pub fn predict(&mut self, net: &mut dyn Layer, data: &dyn DataSource) -> Result<Tensor> {
        predict(net, data, self.batch_size)
    }

    /// A classifier's class probabilities for each sample of `data`: [`predict_proba`] with the
    /// trainer's batch size.
    pub fn predict_proba(&mut self, net: &mut dyn Layer, data: &dyn DataSource) -> Result<Tensor> {
        predict_proba(net, data, self.batch_size)
    }

    /// A classifier's predicted class for each sample of `data`: the argmax of each row of
    /// [`Trainer::predict`] (the order softmax keeps).
    pub fn predict_classes(&mut self, net: &mut dyn Layer, data: &dyn DataSource) -> Result<Vec<usize>> {
        let scores = self.predict(net, data)?;
        Ok(scores.rows().into_iter().map(argmax).collect())
    }
}

/// The outputs `net` gives each sample of `data` in Eval mode, `[N, ...]` in order, computed in
/// batches of `batch_size` (Keras' `model.predict`): a classifier's raw scores (logits), a
/// regression's values, an autoencoder's reconstructions. `data` needs no targets: a tensor of
/// inputs `[N, ...]` is a source too. Fails if a batch cannot be read.
///
/// ```
/// use nn_core::{layers::Linear, seeded, train::predict, Init, Tensor};
/// let mut net = Linear::new(3, 2, Init::He, &mut seeded(1));
/// let x = Tensor::zeros(vec![5, 3]);
/// assert_eq!(predict(&mut net, &x, 2)?.shape(), &[5, 2]);
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// # Panics
/// If `batch_size` is 0.
pub fn predict(net: &mut dyn Layer, data: &dyn DataSource, batch_size: usize) -> Result<Tensor> {
    let mut parts = Vec::with_capacity(data.len().div_ceil(batch_size.max(1)));
    let mut batches = Batches::new(data, batch_size);
    while let Some(batch) = batches.next_batch()? {
        parts.push(net.forward(std::mem::take(&mut batch.inputs), Mode::Eval));
    }
    if parts.is_empty() {
        let mut shape = output_shape(net, data.input_shape());
        shape.insert(0, 0);
        return Ok(Tensor::zeros(IxDyn(&shape)));
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    Ok(ndarray::concatenate(Axis(0), &views).expect("every batch has the same output shape"))
}

/// A classifier's class probabilities for each sample of `data`, `[N, classes]` in order: the
/// softmax of [`predict`]'s scores, computed as [`crate::SoftmaxCrossEntropy`] computes them
/// (scikit-learn's `predict_proba`).
///
/// # Panics
/// If `batch_size` is 0, or the network's outputs are not `[N, classes]`.
pub fn predict_proba(net: &mut dyn Layer, data: &dyn DataSource, batch_size: usize) -> Result<Tensor> {
    let mut scores = predict(net, data, batch_size)?;
    assert!(
        scores.ndim() == 2,
        "predict_proba: the network's outputs are {:?}, not [N, classes] scores",
        scores.shape()
    );
    softmax_rows(&mut scores);
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Targets;
    use crate::init::Init;
    use crate::layers::Linear;
    use crate::optim::Sgd;
    use crate::rng::seeded;
    use crate::train::fit::tests::data;

    #[test]
    fn evaluation_accuracy_is_exact_over_a_short_last_batch() {
        // 40 samples in batches of 16: 16 + 16 + 8. A mean of batch accuracies would weigh the
        // last 8 samples double.
        let mut net = Linear::new(3, 2, Init::Std(1.0), &mut seeded(3));
        let mut t = Trainer::new(Sgd::new(0.1)).batch_size(16).silent();
        let e = t.evaluate(&mut net, &data()).unwrap();
        let p = t.predict_classes(&mut net, &data()).unwrap();
        let hits: Vec<bool> = p
            .iter()
            .zip(data().labels().unwrap())
            .map(|(a, b)| a == b)
            .collect();
        let correct = hits.iter().filter(|&&h| h).count();
        let accuracy = e.metric("acc").unwrap();
        assert_eq!(accuracy, correct as f32 / 40.0);
        // The naive mean of the three batch accuracies differs here, so the check has teeth.
        let batch_acc = |r: std::ops::Range<usize>| {
            let n = r.len() as f32;
            hits[r].iter().filter(|&&h| h).count() as f32 / n
        };
        let naive = (batch_acc(0..16) + batch_acc(16..32) + batch_acc(32..40)) / 3.0;
        assert_ne!(naive, accuracy);
        assert_eq!(e.samples, 40);
    }

    #[test]
    fn predictions_are_raw_outputs_and_the_losss_probabilities_in_dataset_order() {
        let data = data();
        let mut net = Linear::new(3, 2, Init::Std(1.0), &mut seeded(3));
        // One batch, so that the reference below runs the very same matrix product.
        let mut t = Trainer::new(Sgd::new(0.1)).batch_size(64).silent();
        let raw = t.predict(&mut net, &data).unwrap();
        assert_eq!(raw, net.forward(data.to_tensor(), Mode::Eval));
        let p = t.predict_proba(&mut net, &data).unwrap();
        assert_eq!(p.shape(), &[40, 2]);
        let mut loss = crate::loss::SoftmaxCrossEntropy::new();
        loss.forward(
            net.forward(data.to_tensor(), Mode::Eval),
            Targets::Classes(data.labels().unwrap()),
        );
        assert_eq!(&p, loss.probabilities());
        // Inputs alone (no targets) predict the same.
        assert_eq!(predict_proba(&mut net, &data.to_tensor(), 64).unwrap(), p);
        // Without a trainer, in any batch size: the same rows in the same order (a Linear's
        // rows do not depend on the other rows of their batch).
        for batch_size in [1, 7, 40] {
            let q = predict_proba(&mut net, &data, batch_size).unwrap();
            assert_eq!(q.shape(), p.shape());
            let worst = p
                .iter()
                .zip(&q)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-6, "batch size {batch_size}: {worst}");
        }
    }

    #[test]
    fn an_empty_set_is_an_error_for_evaluate_and_no_rows_for_predict() {
        let mut net = Linear::new(3, 2, Init::Std(1.0), &mut seeded(1));
        let empty = data().subset(&[]).unwrap();
        let mut t = Trainer::new(Sgd::new(0.1)).silent();
        let err = t.evaluate(&mut net, &empty).unwrap_err().to_string();
        assert!(err.starts_with("the evaluation set gives no batch"), "{err}");
        assert_eq!(t.predict(&mut net, &empty).unwrap().shape(), &[0, 2]);
    }
}
