//! Concatenation of several branches along the channel axis (Inception's mixed blocks, U-Net's
//! skips joined to the upsampled path, DenseNet's growing features).

use super::nchw::recycle as recycle_into;
use crate::layer::branch::{add_input_grads, fork, forward_branch};
use crate::layer::onnx::{Attr, Graph, OnnxError, Value};
use crate::layer::{backward_child, check_grad_shape, contiguous, layer_panic_in, no_train_forward};
use crate::layer::{Layer, Mode, Visitor};
use crate::tensor::Tensor;
use ndarray::Dimension as _;

/// Runs each child of `B` on the block's input and concatenates their outputs along axis 1
/// (channels of `[N, C, H, W]` images, features of `[N, F]` rows): PyTorch's
/// `torch.cat([b(x) for b in branches], dim=1)`. Backward hands each branch its slice of the
/// gradient and sums the branches' input gradients.
///
/// The branches are `B`'s children, under their own names: a tuple `(A, B)` names them `0` and
/// `1`, a `Vec<Box<dyn Layer>>` by index, and a struct with `#[derive(Sequential)]` by field
/// (only its fields are used, not its chain). A `Concat` adds no level of names, so the field
/// `mixed: Concat<Branches>` names a branch's weight `mixed.branch1.weight`, as torchvision's
/// Inception blocks do.
///
/// The branches' outputs must agree in every dimension but 1; the first forward panics,
/// naming the block and every branch's shape, if they do not.
///
/// ```
/// use nn_core::{layers::{Concat, Conv2d, MaxPool2d}, init::Init, seeded, Layer, Mode, Tensor};
/// let rng = &mut seeded(1);
/// let mut mixed = Concat::new((
///     Conv2d::new(3, 8, 1, Init::He, rng),
///     Conv2d::builder(3, 4, 3).padding(1).build(Init::He, rng),
/// ));
/// let y = mixed.forward(Tensor::zeros(vec![2, 3, 5, 5]), Mode::Eval);
/// assert_eq!(y.shape(), &[2, 12, 5, 5]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Concat<B> {
    branches: B,
    /// The branches' outputs of the last Train forward (in standard layout), reused in backward
    /// for their slices of the gradient.
    outputs: Vec<Tensor>,
    /// The gradient backward received, recycled as the next forward's output.
    spare: Option<Tensor>,
    /// Whether a Train forward has run since the last backward.
    ready: bool,
}

impl<B: Layer> Concat<B> {
    /// Concatenates the outputs of `branches`' children.
    pub fn new(branches: B) -> Self {
        Concat {
            branches,
            outputs: Vec::new(),
            spare: None,
            ready: false,
        }
    }

    /// The branches.
    pub fn branches(&self) -> &B {
        &self.branches
    }

    /// The branches, to change their settings.
    pub fn branches_mut(&mut self) -> &mut B {
        &mut self.branches
    }

    /// Panics, naming the block and every branch's output shape, unless the outputs can be
    /// concatenated along axis 1; returns the concatenation's shape (on the stack: up to 4
    /// dimensions allocate nothing).
    fn output_shape(&mut self) -> ndarray::IxDyn {
        let first = self.outputs[0].shape();
        let compatible = first.len() >= 2
            && self.outputs.iter().all(|y| {
                let s = y.shape();
                s.len() == first.len() && s[0] == first[0] && s[2..] == first[2..]
            });
        if !compatible {
            let mut shapes = Vec::new();
            let outputs = &self.outputs;
            self.branches.visit_children(&mut |name, _| {
                shapes.push(format!("`{name}` gives {:?}", outputs[shapes.len()].shape()))
            });
            layer_panic_in(
                "Concat",
                format_args!(
                    "cannot concatenate the branches along axis 1 (channels): {}; their outputs must \
                 have at least 2 dimensions and agree in all but dimension 1",
                    shapes.join(", ")
                ),
            );
        }
        let mut shape = ndarray::IxDyn(first);
        shape[1] = self.outputs.iter().map(|y| y.shape()[1]).sum();
        shape
    }
}

/// The number of children of `layer`.
fn count_children(layer: &mut dyn Layer) -> usize {
    let mut n = 0;
    layer.visit_children(&mut |_, _| n += 1);
    n
}

impl<B: Layer> Layer for Concat<B> {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let count = count_children(&mut self.branches);
        if count == 0 {
            layer_panic_in(
                "Concat",
                format_args!(
                    "{} has no branches: give Concat a tuple, a Vec or a derived struct whose children \
                 are the branches",
                    self.branches.type_name()
                ),
            );
        }
        self.outputs.clear();
        let outputs = &mut self.outputs;
        let mut input = Some(x);
        self.branches.visit_children(&mut |name, branch| {
            // Every branch but the last gets a copy.
            let x = if outputs.len() + 1 == count {
                input.take().expect("the last branch")
            } else {
                fork(input.as_ref().expect("not the last branch"), mode)
            };
            outputs.push(contiguous(forward_branch(name, branch, x, mode)));
        });
        let shape = self.output_shape();
        let mut y = recycle_into(self.spare.take(), shape.slice(), "Concat");
        let ys = y.as_slice_mut().expect("standard layout");
        let rows = shape[0];
        let row = ys.len() / rows.max(1);
        let mut offset = 0;
        for branch in &self.outputs {
            let part = branch.len() / rows.max(1);
            let from = branch.as_slice().expect("made contiguous");
            for (to, from) in ys.chunks_exact_mut(row).zip(from.chunks_exact(part)) {
                to[offset..offset + part].copy_from_slice(from);
            }
            offset += part;
        }
        self.ready = mode == Mode::Train;
        if !self.ready {
            // Backward will not need them; an inference batch's would only hold memory.
            self.outputs.clear();
        }
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        if !self.ready {
            no_train_forward(self.type_name());
        }
        self.ready = false;
        let shape = self.output_shape();
        check_grad_shape(grad.shape(), shape.slice());
        let grad = contiguous(grad);
        let gs = grad.as_slice().expect("made contiguous");
        let row = gs.len() / shape[0].max(1);
        let mut offset = 0;
        // Each branch's output buffer takes its slice of the gradient.
        for branch in &mut self.outputs {
            let part = branch.len() / shape[0].max(1);
            let to = branch.as_slice_mut().expect("made contiguous");
            for (to, from) in to.chunks_exact_mut(part).zip(gs.chunks_exact(row)) {
                to.copy_from_slice(&from[offset..offset + part]);
            }
            offset += part;
        }
        let mut grads = std::mem::take(&mut self.outputs);
        let mut parts = grads.drain(..);
        let mut total: Option<Tensor> = None;
        self.branches.visit_children(&mut |name, branch| {
            let g = parts.next().expect("one gradient per branch");
            let dx = backward_child(name, branch, g);
            total = Some(match total.take() {
                None => dx,
                Some(sum) => add_input_grads(sum, dx),
            });
        });
        drop(parts);
        // Empty, but keeps its capacity for the next forward.
        self.outputs = grads;
        self.spare = Some(grad);
        total.expect("at least one branch")
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.branches.visit(v)
    }

    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        self.branches.visit_children(f)
    }

    fn type_name(&self) -> String {
        "Concat".to_string()
    }

    /// Each branch's nodes from the same input, then `Concat` along axis 1.
    fn to_onnx(&mut self, g: &mut Graph, x: Value) -> Result<Value, OnnxError> {
        let mut outputs = Vec::new();
        let mut failed = None;
        self.branches.visit_children(&mut |name, branch| {
            if failed.is_none() {
                match g.child(name, branch, x.clone()) {
                    Ok(y) => outputs.push(y),
                    Err(e) => failed = Some(e),
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let inputs: Vec<&Value> = outputs.iter().collect();
        let y = g.node("Concat", &inputs, &[("axis", Attr::Int(1))]);
        // The branches agree outside axis 1 (forward checked it when `g` ran them on zeros).
        let shapes: Option<Vec<&[usize]>> = outputs.iter().map(Value::shape).collect();
        Ok(match shapes {
            Some(shapes) if !shapes.is_empty() => {
                let mut shape = shapes[0].to_vec();
                shape[1] = shapes.iter().map(|s| s[1]).sum();
                y.with_shape(shape)
            }
            _ => y,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::gradcheck;
    use crate::init::Init;
    use crate::layer::{forward_child, panic_message, param_names};
    use crate::layers::{BatchNorm2d, Conv2d, Linear, MaxPool2d, Relu, Residual};
    use crate::rng::seeded;
    use ndarray::s;

    fn conv(cin: usize, cout: usize, k: usize, rng: &mut crate::StdRng) -> Conv2d {
        Conv2d::builder(cin, cout, k).padding(k / 2).build(Init::He, rng)
    }

    #[test]
    fn concatenates_along_channels_and_splits_the_gradient_back() {
        let rng = &mut seeded(2);
        let (mut a, mut b) = (conv(2, 3, 1, rng), conv(2, 1, 3, rng));
        let mut mixed = Concat::new((a.clone(), b.clone()));
        let x = Tensor::from_shape_fn(vec![2, 2, 4, 4], |i| (i[0] + 2 * i[1] + i[2] * i[3]) as f32 / 9.0);
        let y = mixed.forward(x.clone(), Mode::Train);
        let (ya, yb) = (a.forward(x.clone(), Mode::Train), b.forward(x, Mode::Train));
        let part = |t: &Tensor, c: std::ops::Range<usize>| t.slice(s![.., c, .., ..]).to_owned().into_dyn();
        assert_eq!((part(&y, 0..3), part(&y, 3..4)), (ya, yb));
        let g = Tensor::from_shape_fn(vec![2, 4, 4, 4], |i| {
            (i[1] * 7 + i[2] + 3 * i[3]) as f32 / 11.0 - 1.0
        });
        let dx = mixed.backward(g.clone());
        let expected = a.backward(part(&g, 0..3)) + b.backward(part(&g, 3..4));
        crate::layers::assert_close(&dx, &expected, 1e-5);
    }

    #[test]
    fn passes_gradcheck_with_tuples_vecs_and_nesting() {
        let rng = &mut seeded(5);
        // Two branches of different depth, one with BatchNorm2d and a residual inside.
        let mut mixed = Concat::new((
            conv(2, 2, 1, rng),
            (
                conv(2, 3, 3, rng),
                BatchNorm2d::new(3),
                Residual(conv(3, 3, 3, rng)),
            ),
        ));
        gradcheck(&mut mixed, &[2, 2, 4, 4]).assert_passed();
        assert_eq!(
            param_names(&mut mixed),
            [
                "0.weight",
                "0.bias",
                "1.0.weight",
                "1.0.bias",
                "1.1.weight",
                "1.1.bias",
                "1.2.weight",
                "1.2.bias"
            ]
        );
        // A concatenation inside a concatenation, over features, with three branches.
        let mut dense: Concat<Vec<Box<dyn Layer>>> = Concat::new(vec![
            Box::new(Linear::new(3, 2, Init::He, rng)),
            Box::new(Concat::new((Linear::new(3, 1, Init::He, rng), Relu::new()))),
            Box::new(Linear::new(3, 4, Init::He, rng)),
        ]);
        let y = dense.forward(Tensor::ones(vec![5, 3]), Mode::Eval);
        assert_eq!(y.shape(), &[5, 10]);
        gradcheck(&mut dense, &[4, 3]).assert_passed();
    }

    #[test]
    fn branches_that_disagree_name_the_block_and_every_shape() {
        let rng = &mut seeded(1);
        let mut mixed = Concat::new((conv(1, 2, 3, rng), MaxPool2d::new(2)));
        let msg = panic_message(|| {
            forward_child("mixed", &mut mixed, Tensor::zeros(vec![2, 1, 6, 6]), Mode::Eval);
        });
        assert_eq!(
            msg,
            "mixed: cannot concatenate the branches along axis 1 (channels): `0` gives \
             [2, 2, 6, 6], `1` gives [2, 1, 3, 3]; their outputs must have at least 2 \
             dimensions and agree in all but dimension 1"
        );
        let msg = panic_message(|| {
            Concat::new(Relu::new()).forward(Tensor::zeros(vec![1, 1]), Mode::Eval);
        });
        assert!(msg.starts_with("Concat: Relu has no branches"), "{msg}");
        let msg = panic_message(|| {
            mixed.backward(Tensor::zeros(vec![2, 3, 6, 6]));
        });
        assert!(
            msg.starts_with("Concat: backward called without a preceding Train forward"),
            "{msg}"
        );
    }
}
