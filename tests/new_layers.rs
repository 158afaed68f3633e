//! The layers of issue 19 as a user meets them through `nn::prelude`: declared as fields of a
//! `#[derive(Sequential)]` network, with PyTorch's parameter names, a summary with every output
//! shape, a gradient check of the whole network, and an `Mlp` built with each activation.

use nn::layer::param_names;
use nn::prelude::*;
use nn::GradCheck;

/// A small decoder: pool, upsample by a transposed convolution, normalise, activate, resample,
/// then a head with a softmax gate and layer normalisation. Smooth activations only (ReLU's
/// kink, or ELU's jump in curvature, under a bias that moves many values at once can put a
/// finite difference across it).
#[derive(Sequential)]
struct Decoder {
    pool: AdaptiveAvgPool2d,
    up1: ConvTranspose2d,
    gn1: GroupNorm,
    act1: Gelu,
    up2: Upsample,
    act2: Silu,
    pool2: AdaptiveAvgPool2d,
    gate: Softmax,
    flat: Flatten,
    ln: LayerNorm,
    act3: Softplus,
    fc: Linear,
}

fn decoder(rng: &mut StdRng) -> Decoder {
    Decoder {
        pool: AdaptiveAvgPool2d::new(3),
        up1: ConvTranspose2d::builder(2, 4, 3)
            .stride(2)
            .padding(1)
            .output_padding(1)
            .build(Init::He, rng),
        gn1: GroupNorm::new(2, 4),
        act1: Gelu::tanh(),
        up2: Upsample::bilinear(1.5, false),
        act2: Silu::new(),
        pool2: AdaptiveAvgPool2d::new((2, 3)),
        gate: Softmax::new(1),
        flat: Flatten::new(),
        ln: LayerNorm::new(&[24]),
        act3: Softplus::default(),
        fc: Linear::new(24, 5, Init::He, rng),
    }
}

#[test]
fn a_derived_network_of_the_new_layers_has_pytorch_names_and_summary_shapes() {
    let mut net = decoder(&mut seeded(4321));
    assert_eq!(
        param_names(&mut net),
        [
            "up1.weight",
            "up1.bias",
            "gn1.weight",
            "gn1.bias",
            "ln.weight",
            "ln.bias",
            "fc.weight",
            "fc.bias"
        ]
    );
    let summary = nn::summary(&mut net, &[2, 2, 7, 5]);
    let rows: Vec<(&str, &str, Vec<usize>)> = summary
        .rows
        .iter()
        .map(|r| (r.name.as_str(), r.type_name.as_str(), r.output_shape.clone()))
        .collect();
    assert_eq!(
        rows,
        [
            ("pool", "AdaptiveAvgPool2d(3x3)", vec![2, 2, 3, 3]),
            (
                "up1",
                "ConvTranspose2d(2 -> 4, 3x3, stride 2, padding 1, output_padding 1)",
                vec![2, 4, 6, 6]
            ),
            ("gn1", "GroupNorm(2, 4)", vec![2, 4, 6, 6]),
            ("act1", "Gelu(approximate=tanh)", vec![2, 4, 6, 6]),
            ("up2", "Upsample(scale 1.5, bilinear)", vec![2, 4, 9, 9]),
            ("act2", "Silu", vec![2, 4, 9, 9]),
            ("pool2", "AdaptiveAvgPool2d(2x3)", vec![2, 4, 2, 3]),
            ("gate", "Softmax(dim=1)", vec![2, 4, 2, 3]),
            ("flat", "Flatten", vec![2, 24]),
            ("ln", "LayerNorm([24])", vec![2, 24]),
            ("act3", "Softplus(beta=1, threshold=20)", vec![2, 24]),
            ("fc", "Linear(24 -> 5)", vec![2, 5]),
        ]
    );
    // Weights of the transposed convolution, GroupNorm's and LayerNorm's affine parameters,
    // and the head.
    assert_eq!(summary.total_params, 2 * 4 * 9 + 4 + 2 * 4 + 2 * 24 + 24 * 5 + 5);
}

#[test]
fn a_derived_network_of_the_new_layers_passes_gradcheck() {
    let mut net = decoder(&mut seeded(1));
    // A step of 3e-3, not the default 1e-2: the transposed convolution's bias shifts a whole
    // channel of a two-channel GroupNorm group, whose curvature makes the default step's
    // truncation error 1.4e-2 there (it falls as the step squared: 1.3e-3 at 3e-3, measured).
    let check = GradCheck {
        eps: 3e-3,
        ..GradCheck::default()
    };
    let report = check.check(&mut net, &[2, 2, 7, 5]);
    assert!(report.passed(), "{report}");
}

#[test]
fn a_wrong_input_names_the_layer_path_and_both_shapes() {
    let mut net = decoder(&mut seeded(1));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        net.forward(Tensor::zeros(vec![2, 3, 7, 5]), Mode::Eval)
    }))
    .unwrap_err();
    let msg = err.downcast_ref::<String>().expect("a formatted message");
    assert_eq!(
        msg,
        "up1: expected a batch of images of shape [N, 2, H, W], got shape [2, 3, 3, 3] (3 channels)"
    );
}

#[test]
fn an_mlp_takes_every_activation() {
    // Smooth ones only: a finite difference across a kink is no derivative.
    for activation in [
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Softplus {
            beta: 1.0,
            threshold: 20.0,
        },
    ] {
        let mut net = Mlp::builder(6, &[5], 3)
            .activation(activation)
            .build(&mut seeded(3));
        let report = gradcheck(&mut net, &[4, 6]);
        assert!(report.passed(), "{activation}: {report}");
    }
    // The layer an activation stands for, by itself.
    let leaky = Activation::LeakyRelu { negative_slope: 0.2 };
    assert_eq!(leaky.layer().type_name(), "LeakyRelu(0.2)");
    assert_eq!(Activation::Elu { alpha: 1.0 }.layer().type_name(), "Elu(alpha=1)");
    let mut gelu = Activation::Gelu.layer();
    assert_eq!(gelu.type_name(), "Gelu");
    assert_eq!(
        gelu.forward(Tensor::zeros(vec![1, 2]), Mode::Eval),
        Tensor::zeros(vec![1, 2])
    );
}
