//! Evaluation and prediction with a [`Trainer`]: Eval-mode passes over in-order
//! [`Batches`](crate::data::Batches), giving the loss and accuracy, or the class probabilities.

use crate::data::Dataset;
use crate::error::Result;
use crate::layer::{Layer, Mode};
use crate::loss::{softmax_rows, Targets};
use crate::metrics::{argmax, count_correct};
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use crate::train::error::TrainError;
use crate::train::trainer::Trainer;
use ndarray::Axis;

/// The loss and accuracy of a model on a dataset, from [`Trainer::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean softmax cross-entropy over the samples, plus `l2_penalty`.
    pub loss: f32,
    /// Fraction of samples whose largest score is at their label.
    pub accuracy: f32,
    /// The optimizer's L2 penalty at the current weights, included in `loss` (0 without weight
    /// decay).
    pub l2_penalty: f32,
    /// The number of samples evaluated.
    pub samples: usize,
}

impl<O: Optimizer> Trainer<O> {
    /// The loss and accuracy of `net` on `data`, in Eval mode, in batches of the trainer's batch
    /// size. The loss includes the optimizer's L2 penalty at the current weights, as the training
    /// loss does (see [`Evaluation::l2_penalty`]).
    ///
    /// Fails if `data` is empty. A diverged model gives a NaN loss here, not an error.
    pub fn evaluate(&mut self, net: &mut dyn Layer, data: &Dataset) -> Result<Evaluation> {
        if data.is_empty() {
            return Err(TrainError::NoBatches {
                set: "evaluation",
                samples: 0,
                batch_size: self.batch_size,
                drop_last: false,
            }
            .into());
        }
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        let mut batches = data.batches_in_order(self.batch_size);
        while let Some(batch) = batches.next_batch() {
            let logits = net.forward(std::mem::take(&mut batch.images), Mode::Eval);
            correct += count_correct(&logits, Targets::Classes(&batch.labels));
            let loss = self.loss.forward(logits, Targets::Classes(&batch.labels));
            loss_sum += f64::from(loss) * batch.len() as f64;
        }
        let l2_penalty = self.optimizer.l2_penalty(net);
        let samples = data.len();
        Ok(Evaluation {
            loss: (loss_sum / samples as f64) as f32 + l2_penalty,
            accuracy: (correct as f64 / samples as f64) as f32,
            l2_penalty,
            samples,
        })
    }

    /// The class probabilities `net` gives each sample of `data`, `[N, classes]` in dataset
    /// order (softmax of the Eval-mode outputs, computed in batches, as the loss computes it).
    /// Probabilities rather than class indices, so that a caller can also see how sure the model
    /// is; the predicted class of each row is its argmax ([`Trainer::predict_classes`]).
    pub fn predict(&mut self, net: &mut dyn Layer, data: &Dataset) -> Tensor {
        predict(net, data, self.batch_size)
    }

    /// The predicted class of each sample of `data` (the argmax of [`Trainer::predict`]'s rows).
    pub fn predict_classes(&mut self, net: &mut dyn Layer, data: &Dataset) -> Vec<usize> {
        let p = self.predict(net, data);
        p.rows().into_iter().map(argmax).collect()
    }
}

/// The class probabilities `net` gives each sample of `data`, `[N, classes]` in dataset order:
/// the softmax of its Eval-mode outputs, in batches of `batch_size` (Keras' `model.predict`).
/// For a trained model and no trainer at hand; [`Trainer::predict`] is the same with the
/// trainer's batch size.
///
/// # Panics
/// If `batch_size` is 0.
pub fn predict(net: &mut dyn Layer, data: &Dataset, batch_size: usize) -> Tensor {
    let mut parts = Vec::with_capacity(data.len().div_ceil(batch_size.max(1)));
    let mut batches = data.batches_in_order(batch_size);
    while let Some(batch) = batches.next_batch() {
        let mut scores = net.forward(std::mem::take(&mut batch.images), Mode::Eval);
        softmax_rows(&mut scores);
        parts.push(scores);
    }
    if parts.is_empty() {
        return Tensor::zeros(vec![0, data.classes()]);
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(0), &views).expect("every batch has the same number of classes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::layers::Linear;
    use crate::optim::Sgd;
    use crate::rng::seeded;
    use crate::train::trainer::tests::data;

    #[test]
    fn evaluation_accuracy_is_exact_over_a_short_last_batch() {
        // 40 samples in batches of 16: 16 + 16 + 8. A mean of batch accuracies would weigh the
        // last 8 samples double.
        let mut net = Linear::new(3, 2, Init::Std(1.0), &mut seeded(3));
        let mut t = Trainer::new(Sgd::new(0.1)).batch_size(16).silent();
        let e = t.evaluate(&mut net, &data()).unwrap();
        let p = t.predict_classes(&mut net, &data());
        let hits: Vec<bool> = p.iter().zip(data().labels()).map(|(a, b)| a == b).collect();
        let correct = hits.iter().filter(|&&h| h).count();
        assert_eq!(e.accuracy, correct as f32 / 40.0);
        // The naive mean of the three batch accuracies differs here, so the check has teeth.
        let batch_acc = |r: std::ops::Range<usize>| {
            let n = r.len() as f32;
            hits[r].iter().filter(|&&h| h).count() as f32 / n
        };
        let naive = (batch_acc(0..16) + batch_acc(16..32) + batch_acc(32..40)) / 3.0;
        assert_ne!(naive, e.accuracy);
        assert_eq!(e.samples, 40);
    }

    #[test]
    fn predictions_are_the_losss_probabilities_in_dataset_order() {
        let data = data();
        let mut net = Linear::new(3, 2, Init::Std(1.0), &mut seeded(3));
        // One batch, so that the reference below runs the very same matrix product.
        let mut t = Trainer::new(Sgd::new(0.1)).batch_size(64).silent();
        let p = t.predict(&mut net, &data);
        assert_eq!(p.shape(), &[40, 2]);
        let mut loss = crate::loss::SoftmaxCrossEntropy::new();
        loss.forward(
            net.forward(data.to_tensor(), Mode::Eval),
            Targets::Classes(data.labels()),
        );
        assert_eq!(&p, loss.probabilities());
        // Without a trainer, in any batch size: the same rows in the same order (a Linear's
        // rows do not depend on the other rows of their batch).
        for batch_size in [1, 7, 40] {
            let q = predict(&mut net, &data, batch_size);
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
        assert_eq!(t.predict(&mut net, &empty).shape(), &[0, 2]);
    }
}
