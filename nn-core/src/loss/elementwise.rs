//! What the element-wise losses (MSE, L1, Huber, BCE with logits) share: value targets shaped
//! like the output, one loss term and one gradient term per element, reduced by [`Reduction`],
//! with the gradient written into the output's buffer.

use super::Reduction;
use crate::data::{batch_shape, TargetKind, Targets};
use crate::tensor::Tensor;

/// The loss of `output` against value `targets` of the same shape, reduced, where `term(y, t)`
/// gives one element's loss and its derivative by `y`; the gradient (scaled by the reduction) is
/// left in `output`'s buffer, stored in `grad` for backward.
///
/// # Panics
/// If `targets` are not values of `output`'s shape, naming `name` and both shapes.
pub(super) fn forward(
    name: &str,
    mut output: Tensor,
    targets: Targets<'_>,
    reduction: Reduction,
    grad: &mut Option<Tensor>,
    term: impl Fn(f32, f32) -> (f32, f32),
) -> f32 {
    let t = match targets {
        Targets::Values(t) if t.shape() == output.shape() => t,
        other => panic!(
            "{name}: outputs of shape {:?} but targets of {}; {}",
            output.shape(),
            describe(other),
            needs(output.shape().get(1..).unwrap_or(&[]))
        ),
    };
    let divisor = reduction.divisor(output.len());
    let scale = (1.0 / divisor) as f32;
    let mut total = 0f64;
    output.zip_mut_with(t, |y, &t| {
        let (loss, dy) = term(*y, t);
        total += f64::from(loss);
        *y = dy * scale;
    });
    *grad = Some(output);
    (total / divisor) as f32
}

/// Hands out the gradient of the last forward.
pub(super) fn backward(name: &str, grad: &mut Option<Tensor>) -> Tensor {
    grad.take()
        .unwrap_or_else(|| panic!("{name}::backward called without a preceding forward"))
}

/// `Ok` for value targets of the output's shape; else what is needed.
pub(super) fn check(output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
    match targets {
        TargetKind::Values(shape) if shape == output => Ok(()),
        _ => Err(needs(output)),
    }
}

/// What an element-wise loss needs for outputs whose samples are `output`.
fn needs(output: &[usize]) -> String {
    format!(
        "needs f32 value targets of the outputs' shape {}; fix: give the dataset value targets of \
         that shape (Dataset::from_tensors), or for class indices train with SoftmaxCrossEntropy",
        batch_shape(output)
    )
}

fn describe(targets: Targets<'_>) -> String {
    match targets {
        Targets::Classes(c) => format!("class indices of shape [{}]", c.len()),
        Targets::Values(t) => format!("values of shape {:?}", t.shape()),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use crate::data::Targets;
    use crate::gradcheck::GradCheck;
    use crate::loss::Loss;
    use crate::rng::seeded;
    use crate::tensor::Tensor;
    use ndarray::IxDyn;
    use rand::Rng as _;

    /// Outputs and targets of `shape` drawn from `range`.
    pub fn pair(shape: &[usize], range: std::ops::Range<f32>, seed: u64) -> (Tensor, Tensor) {
        let mut rng = seeded(seed);
        let y = Tensor::from_shape_simple_fn(IxDyn(shape), || rng.random_range(range.clone()));
        let t = Tensor::from_shape_simple_fn(IxDyn(shape), || rng.random_range(range.clone()));
        (y, t)
    }

    /// Passes gradcheck on `y` against `t`, and hands its gradient out in `y`'s own buffer.
    pub fn check_gradient(loss: &mut dyn Loss, y: &Tensor, t: &Tensor) {
        let copy = y.clone();
        let ptr = copy.as_ptr();
        loss.forward(copy, Targets::Values(t));
        let analytic = loss.backward();
        assert_eq!(analytic.as_ptr(), ptr, "the gradient reuses the output's buffer");
        GradCheck::default()
            .check_fn("output", y, &analytic, |x| {
                f64::from(loss.forward(x.clone(), Targets::Values(t)))
            })
            .assert_passed();
    }

    /// Class targets, or values of another shape, panic naming the loss and both shapes.
    pub fn check_bad_targets(make: fn() -> Box<dyn Loss>, name: &str) {
        let msg = |f: &dyn Fn()| {
            let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
            e.downcast_ref::<String>().cloned().unwrap_or_default()
        };
        let y = Tensor::zeros(IxDyn(&[2, 3]));
        let m = msg(&|| {
            make().forward(y.clone(), Targets::Classes(&[0, 1]));
        });
        assert!(
            m.starts_with(&format!("{name}: outputs of shape [2, 3] but targets of class indices of shape [2]; needs f32 value targets of the outputs' shape [N, 3]")),
            "{m}"
        );
        let m = msg(&|| {
            make().forward(y.clone(), Targets::Values(&Tensor::zeros(IxDyn(&[2, 1]))));
        });
        assert!(m.contains("but targets of values of shape [2, 1]"), "{m}");
        assert!(msg(&|| {
            make().backward();
        })
        .contains("without a preceding forward"));
        let loss = make();
        assert!(loss.check(&[3], crate::data::TargetKind::Values(&[3])).is_ok());
        assert!(loss.check(&[3], crate::data::TargetKind::Classes(3)).is_err());
        assert!(loss.check(&[3], crate::data::TargetKind::Values(&[1])).is_err());
        assert_eq!(loss.name(), name);
    }
}
