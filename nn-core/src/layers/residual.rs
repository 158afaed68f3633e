//! The residual sum `x + body(x)` around any layer that keeps its input's shape.

use crate::layer::branch::{add_input_grads, add_paths, fork, recycle};
use crate::layer::onnx::{Graph, OnnxError, Value};
use crate::layer::{layer_panic_in, Layer, Mode, TrainingPlan, TypeName, Visitor};
use crate::tensor::Tensor;

/// `y = x + body(x)`: a skip connection around any layer whose output has its input's shape
/// (dfdx's `ResidualAdd`). Backward adds the gradient that flows around the body to the one
/// that flows through it.
///
/// A `Residual` adds no parameters and no level of names: a field `block: Residual<Block>` names
/// the body's parameters `block.fc1.weight`, as the field `block: Block` would. For a block
/// whose second path is a layer of its own (torchvision's `downsample`), mark that field
/// `#[sequential(shortcut)]` in a derived struct instead.
///
/// ```
/// use nn_core::{layers::{Linear, Residual}, init::Init, seeded, Layer, Mode, Tensor};
/// let mut block = Residual(Linear::new(4, 4, Init::Std(0.01), &mut seeded(1)));
/// let x = Tensor::ones(vec![2, 4]);
/// let y = block.forward(x.clone(), Mode::Eval);
/// assert!((&y - &x).iter().all(|d| d.abs() < 0.1)); // x plus a small correction
/// assert_eq!(nn_core::param_names(&mut block), ["weight", "bias"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Residual<B>(pub B);

impl<B: Layer> Layer for Residual<B> {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let input = fork(&x, mode);
        let mut y = self.0.forward(x, mode);
        if y.shape() != input.shape() {
            layer_panic_in(
                TypeName(&*self),
                format_args!(
                    "cannot add the input of shape {:?} to the output of {} of shape {:?}: the body \
                 of a Residual must keep its input's shape (for one that changes it, mark a \
                 projection field #[sequential(shortcut)] in a derived block)",
                    input.shape(),
                    self.0.type_name(),
                    y.shape()
                ),
            );
        }
        add_paths(&mut y, &input);
        recycle(input, mode);
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let around = fork(&grad, Mode::Train);
        let through = self.0.backward(grad);
        add_input_grads(through, around)
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.0.visit(v)
    }

    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        self.0.visit_children(f)
    }

    /// The body takes the block's plan as its own: it runs on the block's input and has the
    /// block's names (a leaf body has no children the default would reach).
    fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
        self.0.prepare(plan)
    }

    fn type_name(&self) -> String {
        format!("Residual({})", self.0.type_name())
    }

    /// The body's nodes (under this layer's own path: a `Residual` adds no level of names),
    /// then `Add` of the input.
    fn to_onnx(&mut self, g: &mut Graph, x: Value) -> Result<Value, OnnxError> {
        let y = self.0.to_onnx(g, x.clone())?;
        Ok(g.add(&x, &y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::init::Init;
    use crate::layer::{forward_child, panic_message, param_names};
    use crate::layers::{BatchNorm, Linear, Relu};
    use crate::rng::seeded;

    #[test]
    fn adds_the_input_to_the_body_output_both_ways() {
        let mut block = Residual(Linear::from_parts(
            Tensor::from_shape_vec(vec![2, 2], vec![1., 2., 3., 4.]).unwrap(),
            Tensor::zeros(vec![2]),
        ));
        let x = Tensor::from_shape_vec(vec![1, 2], vec![1., -1.]).unwrap();
        // body: [1 - 2, 3 - 4] = [-1, -1]; plus x.
        assert_eq!(
            block.forward(x, Mode::Train).into_raw_vec_and_offset().0,
            [0., -2.]
        );
        // dx = g + Wᵀ g = [1, 1] + [4, 6].
        let dx = block.backward(Tensor::ones(vec![1, 2]));
        assert_eq!(dx.into_raw_vec_and_offset().0, [5., 7.]);
    }

    #[test]
    fn passes_gradcheck_around_a_chain_and_nested() {
        let rng = &mut seeded(3);
        let body = (
            Linear::new(5, 5, Init::He, rng),
            BatchNorm::new(5),
            Relu::new(),
            Linear::new(5, 5, Init::He, rng),
        );
        let mut block = Residual(body);
        gradcheck(&mut block, &[6, 5]).assert_passed();
        assert_eq!(
            param_names(&mut block),
            ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
        );
        // A residual inside a residual: x + (y + f(y)) with y = x + g(x).
        let mut nested = Residual((
            Residual(Linear::new(4, 4, Init::He, rng)),
            Linear::new(4, 4, Init::He, rng),
        ));
        gradcheck(&mut nested, &[3, 4]).assert_passed();
    }

    #[test]
    fn a_body_that_changes_the_shape_names_the_block_and_both_shapes() {
        let mut block = Residual(Linear::new(4, 3, Init::He, &mut seeded(1)));
        let msg = panic_message(|| {
            forward_child("skip", &mut block, Tensor::zeros(vec![2, 4]), Mode::Eval);
        });
        assert!(
            msg.starts_with(
                "skip: cannot add the input of shape [2, 4] to the output of Linear(4 -> 3) of \
                 shape [2, 3]"
            ),
            "{msg}"
        );
    }
}
