//! Layers written outside nn with nothing but `nn::prelude` and `nn::ndarray`: the example's
//! LeakyRelu (examples/custom_layer/layers.rs) and a dense layer of this file. The public toolkit
//! (`Saved`, `flatten`, `check_grad_shape`) makes them as safe as the built-in ones. Misuse panics
//! name the layer path and both shapes, and a derived network of them passes the gradient check.

use nn::ndarray::Ix2;
use nn::prelude::*;

// The example's layers, included as they are so that its own LeakyRelu is what is tested here
// (the example gradient-checks its residual block itself).
#[allow(dead_code)]
#[path = "../examples/custom_layer/layers.rs"]
mod layers;

use layers::LeakyRelu;

/// `y = flatten(x) Wᵀ + b`, keeping its input for backward: a user's own fully connected layer.
struct Dense {
    weight: Tensor,
    bias: Tensor,
    grad_weight: Tensor,
    grad_bias: Tensor,
    input: Saved,
}

impl Dense {
    fn new(inputs: usize, outputs: usize, rng: &mut StdRng) -> Self {
        let weight = Init::Xavier.sample(&[outputs, inputs], inputs, rng);
        Dense {
            grad_weight: Tensor::zeros(weight.raw_dim()),
            weight,
            bias: Tensor::from_shape_fn(vec![outputs], |i| 0.1 * i[0] as f32 - 0.05),
            grad_bias: Tensor::zeros(vec![outputs]),
            input: Saved::new(),
        }
    }

    fn weight(&self) -> nn::ndarray::ArrayView2<'_, f32> {
        self.weight
            .view()
            .into_dimensionality::<Ix2>()
            .expect("[out, in]")
    }
}

impl Layer for Dense {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let inputs = self.weight.shape()[1];
        let y = flatten(x.clone(), inputs).dot(&self.weight().t()) + &self.bias;
        if mode == Mode::Train {
            self.input.save(x);
        }
        y.into_dyn()
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let x = self.input.take_owned("Dense");
        let shape = x.shape().to_vec();
        let x = flatten(x, self.weight.shape()[1]);
        check_grad_shape(grad.shape(), &[x.nrows(), self.weight.shape()[0]]);
        let g = grad.into_dimensionality::<Ix2>().expect("checked 2-D");
        self.grad_weight = g.t().dot(&x).into_dyn();
        self.grad_bias = g.sum_axis(nn::ndarray::Axis(0)).into_dyn();
        g.dot(&self.weight())
            .into_shape_with_order(shape)
            .expect("one row per sample")
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param(
            "weight",
            &mut self.weight,
            &mut self.grad_weight,
            ParamKind::Weight,
        );
        v.param("bias", &mut self.bias, &mut self.grad_bias, ParamKind::Bias);
    }
}

#[derive(Sequential)]
struct Net {
    dense: Dense,
    act: LeakyRelu,
    out: Dense,
}

fn net() -> Net {
    let mut rng = seeded(4321);
    Net {
        dense: Dense::new(6, 5, &mut rng),
        act: LeakyRelu::new(0.1),
        out: Dense::new(5, 3, &mut rng),
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("must panic");
    err.downcast_ref::<String>()
        .cloned()
        .expect("a formatted panic message")
}

/// A residual block's inner path, with a kink (`Relu`) or without (`Tanh`).
#[derive(Sequential)]
struct Block<A> {
    conv1: Conv2d,
    act: A,
    conv2: Conv2d,
}

fn block<A: Layer>(act: A) -> Residual<Block<A>> {
    let mut rng = seeded(4321);
    let mut conv = || Conv2d::builder(2, 2, 3).padding(1).build(Init::He, &mut rng);
    Residual(Block {
        conv1: conv(),
        act,
        conv2: conv(),
    })
}

#[test]
fn a_residual_block_with_relu_fails_at_a_kink_and_the_report_says_how_to_check_it() {
    // A step of conv1's bias moves every pre-activation of its channel, and here one crosses
    // ReLU's kink: the correct backward disagrees with the central difference by 9 %.
    let report = gradcheck(&mut block(Relu::new()), &[2, 2, 4, 4]);
    assert!(!report.passed(), "{report}");
    assert_eq!(report.worst().unwrap().name, "conv1.bias", "{report}");
    assert!(report.failed_at_a_kink(), "{report}");
    assert!(
        report.to_string().contains("smooth activation (Tanh)"),
        "{report}"
    );
    // The advice works: the same block with Tanh passes.
    gradcheck(&mut block(Tanh::new()), &[2, 2, 4, 4]).assert_passed();
}

#[test]
fn custom_layers_pass_the_gradient_check_alone_and_in_a_derived_network() {
    gradcheck(&mut LeakyRelu::new(0.1), &[4, 6]).assert_passed();
    gradcheck(&mut Dense::new(6, 3, &mut seeded(1)), &[4, 2, 3]).assert_passed();
    let report = gradcheck(&mut net(), &[4, 2, 3]);
    report.assert_passed();
    let names: Vec<&str> = report.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["input", "dense.weight", "dense.bias", "out.weight", "out.bias"]
    );
}

#[test]
fn a_wrong_input_width_names_the_layer_and_both_shapes() {
    let msg = panic_message(|| {
        net().forward(Tensor::zeros(vec![2, 5]), Mode::Train);
    });
    assert_eq!(
        msg,
        "dense: expected 6 input features, got 5: input shape [2, 5], expected [2, 6]"
    );
}

#[test]
fn backward_without_a_train_forward_names_the_layer() {
    let mut net = net();
    net.forward(Tensor::zeros(vec![2, 6]), Mode::Eval);
    let msg = panic_message(|| {
        net.backward(Tensor::zeros(vec![2, 3]));
    });
    assert_eq!(
        msg,
        "out: backward called on Dense without a preceding Train forward (each backward needs \
         its own forward with Mode::Train)"
    );
    // The element-wise layer, reached once `out` has what it needs.
    net.out.forward(Tensor::zeros(vec![2, 5]), Mode::Train);
    let msg = panic_message(|| {
        net.backward(Tensor::zeros(vec![2, 3]));
    });
    assert!(
        msg.starts_with("act: backward called on LeakyRelu without"),
        "{msg}"
    );
}

#[test]
fn a_gradient_of_the_wrong_shape_names_the_layer_and_both_shapes() {
    let mut net = net();
    net.forward(Tensor::zeros(vec![2, 6]), Mode::Train);
    let msg = panic_message(|| {
        net.backward(Tensor::zeros(vec![3, 2]));
    });
    assert_eq!(
        msg,
        "out: expected a gradient of shape [2, 3] (the output of the last Train forward), got [3, 2]"
    );
    let mut act = LeakyRelu::new(0.1);
    act.forward(Tensor::zeros(vec![2, 3]), Mode::Train);
    let msg = panic_message(|| {
        backward_child("act", &mut act, Tensor::zeros(vec![2, 4]));
    });
    assert!(
        msg.starts_with("act: expected a gradient of shape [2, 3]"),
        "{msg}"
    );
}
