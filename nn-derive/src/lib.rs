//! `#[derive(Sequential)]`: turns a struct whose fields are layers into an `nn::Layer`.
//!
//! Use it through the `nn` crate (`use nn::prelude::*;`): the generated code refers to
//! `::nn::Layer` and friends by absolute path.

mod expand;
mod parse;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Turns a struct whose fields are layers into an `nn::Layer` that runs them one after another.
///
/// - `forward` runs the fields in declaration order, each one's output the next one's input,
///   with the same `Mode`; `backward` runs them in reverse order.
/// - Parameters and buffers are named by field: `fc1.weight`, `block.bn.running_mean` for a
///   nested derived struct, `layers.3.bias` for a `Vec` field, `0.weight` in a tuple struct.
/// - `Option<L>` fields are the identity when `None`; `Vec<L>` and `Box<dyn Layer>` work too.
/// - `#[sequential(skip)]` leaves a field out (a config, a counter); it need not be a layer.
/// - `#[sequential(shortcut)]` on one field makes the struct a residual block: that field runs on
///   the struct's input, its output is added to the output of the fields before it, and the
///   fields after it run on the sum. As an `Option<L>`, `None` is the identity. Backward sums
///   the gradients of both paths. torchvision's `BasicBlock`, with its parameter names:
///
/// ```
/// use nn::prelude::*;
///
/// #[derive(Sequential)]
/// struct BasicBlock {
///     conv1: Conv2d,
///     bn1: BatchNorm2d,
///     relu1: Relu,
///     conv2: Conv2d,
///     bn2: BatchNorm2d,
///     #[sequential(shortcut)]
///     downsample: Option<(Conv2d, BatchNorm2d)>,
///     relu: Relu,
/// }
///
/// impl BasicBlock {
///     fn new(cin: usize, cout: usize, stride: usize, rng: &mut StdRng) -> Self {
///         let conv = |cin, cout, k, stride, rng: &mut StdRng| {
///             Conv2d::builder(cin, cout, k).stride(stride).padding(k / 2).bias(false).build(Init::He, rng)
///         };
///         BasicBlock {
///             conv1: conv(cin, cout, 3, stride, rng),
///             bn1: BatchNorm2d::new(cout),
///             relu1: Relu::new(),
///             conv2: conv(cout, cout, 3, 1, rng),
///             bn2: BatchNorm2d::new(cout),
///             downsample: (stride != 1 || cin != cout)
///                 .then(|| (conv(cin, cout, 1, stride, rng), BatchNorm2d::new(cout))),
///             relu: Relu::new(),
///         }
///     }
/// }
///
/// let mut block = BasicBlock::new(16, 32, 2, &mut seeded(1));
/// let y = block.forward(Tensor::zeros(vec![2, 16, 8, 8]), Mode::Eval);
/// assert_eq!(y.shape(), &[2, 32, 4, 4]);
/// assert!(nn::param_names(&mut block).contains(&"downsample.1.bias".to_string()));
/// ```
/// - ONNX export (`nn::onnx::export`) writes the fields' nodes in the same order.
///
/// ```
/// use nn::prelude::*;
///
/// struct Double;
/// impl Layer for Double {
///     fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor { x * 2.0 }
///     fn backward(&mut self, grad: Tensor) -> Tensor { grad * 2.0 }
/// }
///
/// #[derive(Sequential)]
/// struct Net {
///     first: Double,
///     second: Option<Double>,
///     #[sequential(skip)]
///     label: String,
/// }
///
/// let mut net = Net { first: Double, second: Some(Double), label: "x4".into() };
/// let y = net.forward(Tensor::ones(vec![1, 3]), Mode::Eval);
/// assert_eq!(y, Tensor::from_elem(vec![1, 3], 4.0));
/// assert_eq!(net.type_name(), "Net");
/// ```
#[proc_macro_derive(Sequential, attributes(sequential))]
pub fn derive_sequential(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    // Kept for the fallback impl: `parse` consumes the input.
    let (ident, generics) = (input.ident.clone(), input.generics.clone());
    match parse::parse(input) {
        Ok(net) => expand::expand(&net).into(),
        Err(e) => expand::fallback(&ident, &generics, e).into(),
    }
}
