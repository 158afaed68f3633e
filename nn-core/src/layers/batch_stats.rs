//! What [`BatchNorm`](super::BatchNorm) and [`BatchNorm2d`](super::BatchNorm2d) share: their
//! options, parameters, running statistics and the update of those statistics.

use crate::layer::{ParamKind, Visitor};
use crate::tensor::Tensor;
use ndarray::IxDyn;

/// A batch normalisation's momentum and eps, its `weight` and `bias` (with their gradients) and
/// its buffers `running_mean`, `running_var` and `num_batches_tracked`, each vector of shape
/// `[len]` in standard layout.
#[derive(Clone, Debug)]
pub(super) struct BatchStats {
    /// The weight of a new batch in the running statistics (PyTorch's `momentum`).
    pub momentum: f32,
    /// Added to the variance before the square root.
    pub eps: f32,
    /// The scale and shift applied after normalising, and their gradients.
    pub weight: Tensor,
    pub bias: Tensor,
    pub weight_grad: Tensor,
    pub bias_grad: Tensor,
    /// The statistics Eval normalises with.
    pub running_mean: Tensor,
    pub running_var: Tensor,
    /// A scalar (shape `[]`), as PyTorch's; f32 like every tensor here (exact to 2^24).
    pub num_batches_tracked: Tensor,
}

impl BatchStats {
    /// Momentum 0.1 and eps 1e-5 (PyTorch's defaults), weight 1, bias 0, running mean 0 and
    /// running variance 1, no batch tracked.
    pub(super) fn new(len: usize) -> Self {
        let d = IxDyn(&[len]);
        BatchStats {
            momentum: 0.1,
            eps: 1e-5,
            weight: Tensor::ones(d.clone()),
            bias: Tensor::zeros(d.clone()),
            weight_grad: Tensor::zeros(d.clone()),
            bias_grad: Tensor::zeros(d.clone()),
            running_mean: Tensor::zeros(d.clone()),
            running_var: Tensor::ones(d),
            num_batches_tracked: Tensor::zeros(IxDyn(&[])),
        }
    }

    /// Checks and sets the momentum (`0 <= momentum <= 1`); `layer` names the layer in the panic.
    pub(super) fn set_momentum(&mut self, layer: &str, momentum: f32) {
        assert!(
            (0.0..=1.0).contains(&momentum),
            "{layer}: momentum must be in [0, 1], got {momentum}"
        );
        self.momentum = momentum;
    }

    /// Checks and sets eps (`eps > 0`); `layer` names the layer in the panic.
    pub(super) fn set_eps(&mut self, layer: &str, eps: f32) {
        assert!(
            eps > 0.0 && eps.is_finite(),
            "{layer}: eps must be positive, got {eps}"
        );
        self.eps = eps;
    }

    /// Moves the running statistics towards one batch's `(mean, variance)` per element,
    /// `running = keep * running + batch_weight * batch`, and counts the batch. The layer
    /// chooses the two weights (and which variance it tracks).
    pub(super) fn track(&mut self, keep: f32, batch_weight: f32, batch: impl Iterator<Item = (f32, f32)>) {
        let running = values_mut(&mut self.running_mean).iter_mut();
        let running = running.zip(values_mut(&mut self.running_var));
        for ((rm, rv), (mean, var)) in running.zip(batch) {
            *rm = keep * *rm + batch_weight * mean;
            *rv = keep * *rv + batch_weight * var;
        }
        self.num_batches_tracked += 1.0;
    }

    /// Visits the parameters and buffers with PyTorch's names, in its state dict's order.
    pub(super) fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param("weight", &mut self.weight, &mut self.weight_grad, ParamKind::Norm);
        v.param("bias", &mut self.bias, &mut self.bias_grad, ParamKind::Norm);
        v.buffer("running_mean", &mut self.running_mean);
        v.buffer("running_var", &mut self.running_var);
        v.buffer("num_batches_tracked", &mut self.num_batches_tracked);
    }
}

/// The elements of one of the layer's own vectors, all built in standard layout (visitors hand
/// out views, which cannot replace them).
pub(super) fn values(t: &Tensor) -> &[f32] {
    t.as_slice().expect("built in standard layout")
}

/// [`values`], mutable.
pub(super) fn values_mut(t: &mut Tensor) -> &mut [f32] {
    t.as_slice_mut().expect("built in standard layout")
}
