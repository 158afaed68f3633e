//! Losses: the [`Loss`] trait the trainer drives, and the built-in losses under PyTorch's names,
//! reductions and defaults, one file each: [`SoftmaxCrossEntropy`] (`nn.CrossEntropyLoss`),
//! [`MseLoss`], [`L1Loss`], [`HuberLoss`], [`BceWithLogitsLoss`]. `elementwise.rs` holds what the
//! four element-wise ones share.
//!
//! Every built-in loss is checked against PyTorch on committed fixtures
//! (`nn-core/tests/loss_pytorch.rs`, written by `tools/make_loss_fixture.py`) and by `gradcheck`.

mod bce_with_logits;
mod cross_entropy;
mod elementwise;
mod huber;
mod l1;
mod mse;

pub use bce_with_logits::BceWithLogitsLoss;
pub(crate) use cross_entropy::softmax_rows;
pub use cross_entropy::SoftmaxCrossEntropy;
pub use huber::HuberLoss;
pub use l1::L1Loss;
pub use mse::MseLoss;

use crate::data::{TargetKind, Targets};
use crate::tensor::Tensor;

/// A loss: the network's output and the batch's targets give one number to minimise, and the
/// gradient of that number with respect to the output.
///
/// `forward` takes the output by value so that it can turn that buffer into the gradient, which
/// `backward` hands out: a training step allocates nothing here. A loss written outside nn is one
/// short impl (see `tests/custom_loss.rs`):
///
/// ```
/// use nn_core::data::{TargetKind, Targets};
/// use nn_core::loss::Loss;
/// use nn_core::Tensor;
///
/// /// Mean of (output - target)^4, for value targets shaped like the output.
/// #[derive(Default)]
/// struct Quartic { grad: Option<Tensor> }
///
/// impl Loss for Quartic {
///     fn forward(&mut self, mut output: Tensor, targets: Targets<'_>) -> f32 {
///         let Targets::Values(t) = targets else { panic!("Quartic: needs value targets") };
///         let n = output.len() as f32;
///         let mut total = 0.0;
///         output.zip_mut_with(t, |y, &t| {
///             let d = *y - t;
///             total += d.powi(4) / n;
///             *y = 4.0 * d.powi(3) / n; // the gradient, in the output's buffer
///         });
///         self.grad = Some(output);
///         total
///     }
///     fn backward(&mut self) -> Tensor {
///         self.grad.take().expect("forward first")
///     }
///     fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
///         match targets {
///             TargetKind::Values(shape) if shape == output => Ok(()),
///             _ => Err(format!("needs value targets of the outputs' shape {output:?}")),
///         }
///     }
/// }
///
/// let mut loss = Quartic::default();
/// let y = Tensor::from_shape_vec(vec![2, 1], vec![1.0, 3.0]).unwrap();
/// let t = Tensor::from_shape_vec(vec![2, 1], vec![0.0, 1.0]).unwrap();
/// assert_eq!(loss.forward(y, Targets::Values(&t)), (1.0 + 16.0) / 2.0);
/// assert_eq!(loss.backward().as_slice().unwrap(), &[2.0, 16.0]);
/// ```
pub trait Loss {
    /// The loss of `output` (batch first, `[N, ...]`) against `targets`, reduced to one number
    /// (the mean, by default); keeps what [`Loss::backward`] needs.
    ///
    /// Targets that do not fit the output (a programming error, which `fit` rules out before
    /// the first step through [`Loss::check`]) panic with the loss's name and both shapes.
    fn forward(&mut self, output: Tensor, targets: Targets<'_>) -> f32;

    /// The gradient of the last forward's loss with respect to its output (the output's shape),
    /// usually in the output's own buffer.
    ///
    /// Panics unless a forward came first.
    fn backward(&mut self) -> Tensor;

    /// Whether targets of `targets`'s kind fit outputs whose samples have shape `output` (the
    /// batch dimension left out): `Err` says what the loss needs instead, and the fix. `fit`
    /// asks this of its datasets before the first step.
    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String>;

    /// The loss's name in messages and charts: its type's name unless overridden.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        full[base.rfind("::").map_or(0, |i| i + 2)..].to_string()
    }

    /// The metrics a trainer with this loss records when none are chosen, by name (see
    /// `nn_core::metrics::by_name`): `["acc"]` for a classifier, none by default.
    fn default_metrics(&self) -> &'static [&'static str] {
        &[]
    }
}

impl<L: Loss + ?Sized> Loss for Box<L> {
    fn forward(&mut self, output: Tensor, targets: Targets<'_>) -> f32 {
        (**self).forward(output, targets)
    }
    fn backward(&mut self) -> Tensor {
        (**self).backward()
    }
    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        (**self).check(output, targets)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn default_metrics(&self) -> &'static [&'static str] {
        (**self).default_metrics()
    }
}

/// How a loss turns the per-element (or per-sample) losses into one number: PyTorch's
/// `reduction` argument, without `'none'` (a trainer needs one number).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reduction {
    /// The mean: over the elements for the element-wise losses, over the samples for
    /// cross-entropy (PyTorch's default).
    #[default]
    Mean,
    /// The sum.
    Sum,
}

impl Reduction {
    /// What the sum is divided by for `count` terms.
    pub(crate) fn divisor(self, count: usize) -> f64 {
        match self {
            Reduction::Mean => count as f64,
            Reduction::Sum => 1.0,
        }
    }
}
