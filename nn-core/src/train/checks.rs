//! What `fit` and `evaluate` check before any step: the sets are not empty, their inputs agree,
//! and their targets fit the loss and every metric given the network's output shape.

use crate::data::{Batches, DataSource};
use crate::error::Result;
use crate::layer::{Layer, Mode};
use crate::loss::Loss;
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use crate::train::error::TrainError;
use crate::train::trainer::Trainer;
use ndarray::IxDyn;

impl<O: Optimizer, L: Loss> Trainer<O, L> {
    /// The arguments of `fit`, checked before anything trains; gives the training batches.
    pub(super) fn check<'d>(
        &self,
        net: &mut dyn Layer,
        train: &'d dyn DataSource,
        valid: Option<&dyn DataSource>,
    ) -> Result<Batches<'d>> {
        let batches = self.training_batches(train);
        if batches.batches_per_epoch() == 0 {
            return Err(TrainError::NoBatches {
                set: "training",
                samples: train.len(),
                batch_size: self.batch_size,
                drop_last: self.drop_last,
            }
            .into());
        }
        if self.initial_epoch > self.epochs {
            return Err(TrainError::ResumedPastTheEnd {
                initial_epoch: self.initial_epoch,
                epochs: self.epochs,
            }
            .into());
        }
        if let Some(valid) = valid {
            // Checked now rather than by `evaluate` after the first epoch has trained.
            if valid.is_empty() {
                return Err(TrainError::NoBatches {
                    set: "validation",
                    samples: 0,
                    batch_size: self.batch_size,
                    drop_last: false,
                }
                .into());
            }
            if valid.input_shape() != train.input_shape() {
                return Err(TrainError::InputShapes {
                    set: "validation",
                    expected: train.input_shape().to_vec(),
                    found: valid.input_shape().to_vec(),
                }
                .into());
            }
        }
        let output = output_shape(net, train.input_shape());
        self.check_targets(&output, "training", train)?;
        if let Some(valid) = valid {
            self.check_targets(&output, "validation", valid)?;
        }
        Ok(batches)
    }

    /// Whether `data`'s targets fit the loss and every metric, for a network whose samples come
    /// out in `output`'s shape.
    pub(super) fn check_targets(
        &self,
        output: &[usize],
        set: &'static str,
        data: &dyn DataSource,
    ) -> Result<()> {
        let kind = data.target_kind();
        let mismatch = |name: String, needs: String| TrainError::TargetMismatch {
            name,
            set,
            output: output.to_vec(),
            targets: kind.to_string(),
            needs,
        };
        self.loss
            .check(output, kind)
            .map_err(|needs| mismatch(self.loss.name(), needs))?;
        for metric in &self.metrics {
            metric
                .check(output, kind)
                .map_err(|needs| mismatch(metric.name().to_string(), needs))?;
        }
        Ok(())
    }
}

/// The shape of one sample's output (the batch dimension left out), from an Eval forward of one
/// sample of zeros: Eval mode draws no dropout mask and moves no running statistic, so the
/// network is as it was (`summary` runs the same pass).
pub(super) fn output_shape(net: &mut dyn Layer, input_shape: &[usize]) -> Vec<usize> {
    let mut shape = Vec::with_capacity(1 + input_shape.len());
    shape.push(1);
    shape.extend_from_slice(input_shape);
    let y = net.forward(Tensor::zeros(IxDyn(&shape)), Mode::Eval);
    y.shape().get(1..).unwrap_or(&[]).to_vec()
}
