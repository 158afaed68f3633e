//! Tuples of layers are chains, as PyTorch's `nn.Sequential(a, b)`: `(Conv2d, BatchNorm2d)` runs
//! its elements in order, and names their parameters `0.weight`, `1.running_mean`, … So a
//! torchvision `downsample` field is `Option<(Conv2d, BatchNorm2d)>`, named `downsample.0.weight`.

use crate::layer::onnx::{Graph, OnnxError, Value};
use crate::layer::{backward_child, forward_child, EvalScope, Layer, Mode};
use crate::tensor::Tensor;

macro_rules! tuple_layer {
    ($($t:ident $i:tt),+) => {
        /// A chain of layers named `0`, `1`, … in order, as a `Vec` is (PyTorch's `nn.Sequential`).
        // Kept out of the list of layer types a "not a layer" error shows: seven tuples would
        // push the layers a user looks for out of it.
        #[diagnostic::do_not_recommend]
        impl<$($t: Layer),+> Layer for ($($t,)+) {
            fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
                let _scope = EvalScope::enter(mode == Mode::Eval);
                $(x = forward_child(stringify!($i), &mut self.$i, x, mode);)+
                x
            }
            fn backward(&mut self, mut grad: Tensor) -> Tensor {
                tuple_layer!(@backward self grad; $($i)+);
                grad
            }
            fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
                $(f(stringify!($i), &mut self.$i);)+
            }
            fn type_name(&self) -> String {
                "Sequential".to_string()
            }
            fn to_onnx(&mut self, g: &mut Graph, mut x: Value) -> Result<Value, OnnxError> {
                $(x = g.child(stringify!($i), &mut self.$i, x)?;)+
                Ok(x)
            }
        }
    };
    // Backward runs the elements in reverse: reverse the index list, then call each.
    (@backward $s:ident $g:ident; $($i:tt)+) => {
        tuple_layer!(@reverse $s $g; [$($i)+] []);
    };
    (@reverse $s:ident $g:ident; [$first:tt $($rest:tt)*] [$($done:tt)*]) => {
        tuple_layer!(@reverse $s $g; [$($rest)*] [$first $($done)*]);
    };
    (@reverse $s:ident $g:ident; [] [$($i:tt)+]) => {
        $($g = backward_child(stringify!($i), &mut $s.$i, $g);)+
    };
}

tuple_layer!(A 0, B 1);
tuple_layer!(A 0, B 1, C 2);
tuple_layer!(A 0, B 1, C 2, D 3);
tuple_layer!(A 0, B 1, C 2, D 3, E 4);
tuple_layer!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_layer!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_layer!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

#[cfg(test)]
mod tests {
    use crate::init::Init;
    use crate::layer::{param_names, Layer, Mode};
    use crate::layers::{BatchNorm, Linear, Tanh};
    use crate::rng::seeded;
    use crate::tensor::Tensor;

    #[test]
    fn a_tuple_chains_its_elements_and_names_them_by_index() {
        let rng = &mut seeded(1);
        let mut net = (Linear::new(3, 4, Init::He, rng), BatchNorm::new(4), Tanh::new());
        assert_eq!(
            param_names(&mut net),
            ["0.weight", "0.bias", "1.weight", "1.bias"]
        );
        assert_eq!(net.type_name(), "Sequential");

        // The same as running the elements one after another, both ways.
        let (mut a, mut b, mut c) = (net.0.clone(), net.1.clone(), net.2.clone());
        let x = Tensor::from_shape_fn(vec![5, 3], |i| (i[0] * 3 + i[1]) as f32 / 7.0 - 1.0);
        let y = net.forward(x.clone(), Mode::Train);
        let chained = c.forward(b.forward(a.forward(x, Mode::Train), Mode::Train), Mode::Train);
        assert_eq!(y, chained);
        let g = Tensor::from_shape_fn(vec![5, 4], |i| (i[0] + 2 * i[1]) as f32 / 5.0 - 0.7);
        assert_eq!(net.backward(g.clone()), a.backward(b.backward(c.backward(g))));
        let grads = |l: &mut dyn Layer| {
            let mut v = Vec::new();
            crate::layer::for_each_param(l, |_, p| v.push(p.grad.to_owned()));
            v
        };
        assert_eq!(grads(&mut net), [grads(&mut a), grads(&mut b)].concat());
        crate::gradcheck::gradcheck(&mut net, &[6, 3]).assert_passed();
    }
}
