//! The seed notebook's configurable `Net`, finished: a multi-layer perceptron built at run time
//! from sizes, an activation, a weight initialisation, batch norm and dropout settings.

use crate::init::Init;
use crate::layer::onnx::{Graph, OnnxError, Value};
use crate::layer::{backward_child, forward_child, Layer, Mode};
use crate::layers::{BatchNorm, Dropout, Linear};
use crate::layers::{Elu, Gelu, LeakyRelu, Relu, Sigmoid, Silu, Softplus, Tanh};
use crate::rng::StdRng;
use crate::tensor::Tensor;
use std::fmt;

/// The nonlinearity after each hidden layer: any of nn's element-wise activations, with its
/// options. New activations may be added, so a `match` on it needs a wildcard arm.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Activation {
    /// `max(0, x)` ([`Relu`]); pair with [`Init::He`].
    #[default]
    Relu,
    /// The logistic function ([`Sigmoid`]); pair with [`Init::Xavier`].
    Sigmoid,
    /// The hyperbolic tangent ([`Tanh`]); pair with [`Init::Xavier`].
    Tanh,
    /// [`LeakyRelu`]: `x`, or `negative_slope * x` for negative inputs (PyTorch's default 0.01).
    LeakyRelu {
        /// The slope for negative inputs.
        negative_slope: f32,
    },
    /// [`Elu`]: `x`, or `alpha * (e^x - 1)` for negative inputs (PyTorch's default alpha 1).
    Elu {
        /// The negative saturation value's magnitude.
        alpha: f32,
    },
    /// The exact [`Gelu`], `x * Φ(x)`.
    Gelu,
    /// [`Gelu::tanh`], GELU's tanh approximation.
    GeluTanh,
    /// [`Silu`]: `x * sigmoid(x)`.
    Silu,
    /// [`Softplus`]: `ln(1 + e^(beta x)) / beta`, linear above `threshold` (PyTorch's defaults
    /// 1 and 20).
    Softplus {
        /// The sharpness.
        beta: f32,
        /// Where the function becomes the identity (`beta * x > threshold`).
        threshold: f32,
    },
}

impl Activation {
    /// The activation layer: what an [`Mlp`] puts after each hidden layer.
    ///
    /// # Panics
    /// If an option is out of range (as the layer's constructor: a NaN slope, a non-positive
    /// `beta`).
    pub fn layer(self) -> Box<dyn Layer> {
        match self {
            Activation::Relu => Box::new(Relu::new()),
            Activation::Sigmoid => Box::new(Sigmoid::new()),
            Activation::Tanh => Box::new(Tanh::new()),
            Activation::LeakyRelu { negative_slope } => Box::new(LeakyRelu::new(negative_slope)),
            Activation::Elu { alpha } => Box::new(Elu::new(alpha)),
            Activation::Gelu => Box::new(Gelu::new()),
            Activation::GeluTanh => Box::new(Gelu::tanh()),
            Activation::Silu => Box::new(Silu::new()),
            Activation::Softplus { beta, threshold } => Box::new(Softplus::new(beta, threshold)),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Relu => f.write_str("relu"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::LeakyRelu { negative_slope } => write!(f, "leaky_relu({negative_slope})"),
            Activation::Elu { alpha } => write!(f, "elu({alpha})"),
            Activation::Gelu => f.write_str("gelu"),
            Activation::GeluTanh => f.write_str("gelu_tanh"),
            Activation::Silu => f.write_str("silu"),
            Activation::Softplus { beta, threshold } => write!(f, "softplus({beta}, {threshold})"),
        }
    }
}

/// A multi-layer perceptron: per hidden layer `Linear -> BatchNorm (if on) -> activation ->
/// Dropout (if on)`, then a final `Linear` producing the logits (train it with softmax
/// cross-entropy, as [`crate::train::Trainer`] does).
///
/// Its children are named `fc1, bn1, act1, drop1, fc2, …, fc{n+1}`: the names a
/// `#[derive(Sequential)]` struct with those fields has, so the parameter names (`fc1.weight`,
/// `bn1.running_mean`, …), and therefore checkpoints and optimizer state, are interchangeable
/// between a built `Mlp` and a hand-written network of the same shape.
///
/// Backward returns the gradient with respect to the network's input, so layers placed before an
/// `Mlp` learn. When the input is data, which needs no gradient, [`MlpBuilder::input_grad`]`(false)`
/// skips that product and saves a third of the first layer's backward.
///
/// Weight decay is not a setting of the network: as in PyTorch, it belongs to the optimizer
/// (`Adam::new(1e-3).with_weight_decay(1e-4)`), which applies it to weights only and reports
/// the matching penalty for the loss ([`crate::optim::Optimizer::l2_penalty`]).
///
/// ```
/// use nn_core::{mlp::{Activation, Mlp}, param_names, seeded, Init, Layer, Mode, Tensor};
/// let mut net = Mlp::builder(784, &[128, 64], 10)
///     .activation(Activation::Relu)
///     .init(Init::He)
///     .batch_norm(true)
///     .dropout(0.1)
///     .build(&mut seeded(4321));
/// assert_eq!(net.forward(Tensor::zeros(vec![2, 784]), Mode::Eval).shape(), &[2, 10]);
/// assert_eq!(param_names(&mut net)[..4], ["fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias"]);
/// ```
pub struct Mlp {
    layers: Vec<(String, Box<dyn Layer>)>,
    config: MlpBuilder,
}

impl Mlp {
    /// A builder for a network from `input` features through `hidden` layers of the given sizes
    /// to `output` logits, with ReLU, He initialisation, no batch norm and no dropout until set.
    pub fn builder(input: usize, hidden: &[usize], output: usize) -> MlpBuilder {
        MlpBuilder {
            input,
            hidden: hidden.to_vec(),
            output,
            activation: Activation::Relu,
            init: Init::He,
            batch_norm: false,
            dropout: 0.0,
            input_grad: true,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &MlpBuilder {
        &self.config
    }
}

impl Layer for Mlp {
    #[track_caller]
    fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
        for (name, layer) in &mut self.layers {
            x = forward_child(name, layer, x, mode);
        }
        x
    }

    fn backward(&mut self, mut grad: Tensor) -> Tensor {
        for (name, layer) in self.layers.iter_mut().rev() {
            grad = backward_child(name, layer, grad);
        }
        grad
    }

    fn visit_children(&mut self, f: &mut dyn FnMut(&str, &mut dyn Layer)) {
        for (name, layer) in &mut self.layers {
            f(name, layer);
        }
    }

    fn type_name(&self) -> String {
        "Mlp".to_string()
    }

    fn to_onnx(&mut self, g: &mut Graph, mut x: Value) -> Result<Value, OnnxError> {
        for (name, layer) in &mut self.layers {
            x = g.child(name, layer, x)?;
        }
        Ok(x)
    }
}

/// The settings of an [`Mlp`]; [`MlpBuilder::build`] draws its weights.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpBuilder {
    input: usize,
    hidden: Vec<usize>,
    output: usize,
    activation: Activation,
    init: Init,
    batch_norm: bool,
    dropout: f32,
    input_grad: bool,
}

impl MlpBuilder {
    /// The nonlinearity after each hidden layer (default ReLU).
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// How the `Linear` weights are drawn (default He); biases start at zero.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Whether each hidden `Linear` is followed by a `BatchNorm` (default off).
    pub fn batch_norm(mut self, on: bool) -> Self {
        self.batch_norm = on;
        self
    }

    /// The drop probability of a `Dropout` after each hidden activation; 0 (the default) means no
    /// dropout layer.
    ///
    /// # Panics
    /// Unless `0 <= p < 1`.
    pub fn dropout(mut self, p: f32) -> Self {
        assert!(
            (0.0..1.0).contains(&p),
            "Mlp: dropout ratio must be in [0, 1), got {p}"
        );
        self.dropout = p;
        self
    }

    /// Whether backward computes the gradient with respect to the network's input (default on,
    /// as in PyTorch). Turn it off when the input is data, as for a network trained on its own:
    /// the first `Linear` then skips a third of its backward ([`Linear::with_input_grad`]) and
    /// backward returns zeros. Left on, a layer placed before the `Mlp` keeps learning.
    pub fn input_grad(mut self, on: bool) -> Self {
        self.input_grad = on;
        self
    }

    /// Input features per sample.
    pub fn input_size(&self) -> usize {
        self.input
    }

    /// The hidden layer sizes.
    pub fn hidden_sizes(&self) -> &[usize] {
        &self.hidden
    }

    /// Output logits per sample.
    pub fn output_size(&self) -> usize {
        self.output
    }

    /// Builds the network, drawing every weight (and each dropout layer's seed) from `rng` in
    /// layer order, so the same seed gives the same network.
    ///
    /// # Panics
    /// If a size is 0.
    pub fn build(self, rng: &mut StdRng) -> Mlp {
        assert!(
            self.input > 0 && self.output > 0 && self.hidden.iter().all(|&h| h > 0),
            "Mlp: every layer size must be at least 1, got input {}, hidden {:?}, output {}",
            self.input,
            self.hidden,
            self.output
        );
        let mut layers: Vec<(String, Box<dyn Layer>)> = Vec::new();
        let mut width = self.input;
        for (i, &h) in self.hidden.iter().enumerate() {
            let k = i + 1;
            let fc = Linear::new(width, h, self.init, rng).with_input_grad(k > 1 || self.input_grad);
            layers.push((format!("fc{k}"), Box::new(fc)));
            if self.batch_norm {
                layers.push((format!("bn{k}"), Box::new(BatchNorm::new(h))));
            }
            layers.push((format!("act{k}"), self.activation.layer()));
            if self.dropout > 0.0 {
                layers.push((format!("drop{k}"), Box::new(Dropout::from_rng(self.dropout, rng))));
            }
            width = h;
        }
        let k = self.hidden.len() + 1;
        let fc = Linear::new(width, self.output, self.init, rng).with_input_grad(k > 1 || self.input_grad);
        layers.push((format!("fc{k}"), Box::new(fc)));
        Mlp { layers, config: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{for_each_buffer, param_count, param_names};
    use crate::rng::seeded;

    fn buffer_names(net: &mut Mlp) -> Vec<String> {
        let mut names = Vec::new();
        for_each_buffer(net, |n, _| names.push(n.to_string()));
        names
    }

    #[test]
    fn layers_come_in_order_with_the_derive_names() {
        let mut net = Mlp::builder(6, &[5, 4], 3)
            .batch_norm(true)
            .dropout(0.5)
            .build(&mut seeded(1));
        let mut children = Vec::new();
        net.visit_children(&mut |name, layer| children.push(format!("{name}:{}", layer.type_name())));
        assert_eq!(
            children,
            [
                "fc1:Linear(6 -> 5)",
                "bn1:BatchNorm(5)",
                "act1:Relu",
                "drop1:Dropout(p=0.5)",
                "fc2:Linear(5 -> 4)",
                "bn2:BatchNorm(4)",
                "act2:Relu",
                "drop2:Dropout(p=0.5)",
                "fc3:Linear(4 -> 3)"
            ]
        );
        assert_eq!(
            buffer_names(&mut net),
            [
                "bn1.running_mean",
                "bn1.running_var",
                "bn1.num_batches_tracked",
                "bn2.running_mean",
                "bn2.running_var",
                "bn2.num_batches_tracked"
            ]
        );
        assert_eq!(
            param_count(&mut net),
            6 * 5 + 5 + 2 * 5 + 5 * 4 + 4 + 2 * 4 + 4 * 3 + 3
        );
    }

    #[test]
    fn plain_network_has_no_batch_norm_or_dropout() {
        let mut net = Mlp::builder(3, &[2], 2)
            .activation(Activation::Tanh)
            .build(&mut seeded(1));
        assert_eq!(
            param_names(&mut net),
            ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
        );
        let mut kinds = Vec::new();
        net.visit_children(&mut |name, layer| kinds.push(format!("{name}:{}", layer.type_name())));
        assert_eq!(kinds, ["fc1:Linear(3 -> 2)", "act1:Tanh", "fc2:Linear(2 -> 2)"]);
        assert!(buffer_names(&mut net).is_empty());
    }

    #[test]
    fn same_seed_same_weights_and_init_is_used() {
        let build = |seed| {
            let mut net = Mlp::builder(100, &[50], 10)
                .init(Init::Std(0.01))
                .build(&mut seeded(seed));
            let mut w = Vec::new();
            crate::layer::for_each_param(&mut net, |_, p| w.extend(p.value.iter().copied()));
            w
        };
        assert_eq!(build(7), build(7));
        assert_ne!(build(7), build(8));
        let w = build(7);
        let std = (w[..5000].iter().map(|v| v * v).sum::<f32>() / 5000.0).sqrt();
        assert!((0.009..0.011).contains(&std), "std {std}");
    }

    /// Backward through a small Tanh network (no unit can be dead, so every parameter gets a
    /// gradient): the input gradient of `net` and every parameter gradient.
    fn gradients(net: &mut Mlp) -> (Tensor, Vec<Tensor>) {
        let x = Tensor::from_shape_fn(vec![2, 3], |i| (i[0] + i[1]) as f32 * 0.3 - 0.2);
        let y = net.forward(x, Mode::Train);
        let g = net.backward(Tensor::ones(y.raw_dim()));
        let mut grads = Vec::new();
        crate::layer::for_each_param(net, |_, p| grads.push(p.grad.to_owned()));
        (g, grads)
    }

    #[test]
    fn backward_returns_the_input_gradient_unless_told_the_input_is_data() {
        let builder = Mlp::builder(3, &[4], 2).activation(Activation::Tanh);
        let (dx, grads) = gradients(&mut builder.clone().build(&mut seeded(2)));
        assert_eq!(dx.shape(), &[2, 3]);
        assert!(dx.iter().all(|&v| v != 0.0), "{dx}");
        assert!(grads.iter().all(|g| g.iter().any(|&v| v != 0.0)));
        // The input gradient is a true one: a layer before the Mlp can learn from it.
        crate::gradcheck::gradcheck(&mut builder.clone().build(&mut seeded(2)), &[2, 3]).assert_passed();

        let (dx_off, grads_off) = gradients(&mut builder.input_grad(false).build(&mut seeded(2)));
        assert_eq!(dx_off.shape(), &[2, 3]);
        assert!(dx_off.iter().all(|&v| v == 0.0));
        assert_eq!(
            grads_off, grads,
            "skipping the input gradient changes no parameter gradient"
        );
    }

    #[test]
    fn every_activation_builds_its_layer_and_trains_through_it() {
        let all = [
            (Activation::Relu, "Relu", "relu"),
            (Activation::Sigmoid, "Sigmoid", "sigmoid"),
            (Activation::Tanh, "Tanh", "tanh"),
            (
                Activation::LeakyRelu { negative_slope: 0.1 },
                "LeakyRelu(0.1)",
                "leaky_relu(0.1)",
            ),
            (Activation::Elu { alpha: 1.0 }, "Elu(alpha=1)", "elu(1)"),
            (Activation::Gelu, "Gelu", "gelu"),
            (Activation::GeluTanh, "Gelu(approximate=tanh)", "gelu_tanh"),
            (Activation::Silu, "Silu", "silu"),
            (
                Activation::Softplus {
                    beta: 2.0,
                    threshold: 10.0,
                },
                "Softplus(beta=2, threshold=10)",
                "softplus(2, 10)",
            ),
        ];
        for (activation, layer_name, shown) in all {
            assert_eq!(activation.to_string(), shown);
            let mut net = Mlp::builder(3, &[4], 2)
                .activation(activation)
                .build(&mut seeded(2));
            let mut names = Vec::new();
            net.visit_children(&mut |name, layer| names.push(format!("{name}:{}", layer.type_name())));
            assert_eq!(names[1], format!("act1:{layer_name}"));
            let report = crate::gradcheck::gradcheck(&mut net, &[2, 3]);
            assert!(report.passed(), "{activation}: {report}");
        }
    }

    #[test]
    #[should_panic(expected = "Softplus: beta must be positive and finite, got -1")]
    fn an_activation_option_out_of_range_is_refused_with_the_layer_s_message() {
        let _ = Mlp::builder(3, &[4], 2)
            .activation(Activation::Softplus {
                beta: -1.0,
                threshold: 20.0,
            })
            .build(&mut seeded(1));
    }

    #[test]
    #[should_panic(expected = "dropout ratio must be in [0, 1)")]
    fn dropout_of_one_is_refused() {
        let _ = Mlp::builder(3, &[4], 2).dropout(1.0);
    }
}
