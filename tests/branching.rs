//! Networks that branch, as a user writes them: torchvision's `BasicBlock` as a derived struct
//! with a `#[sequential(shortcut)]` field (its exact parameter names, its forward and backward
//! against the same layers run by hand, gradient checks with an identity and a projection
//! shortcut and nested), `Residual` and `Concat` inside derived networks, the panic for paths that
//! cannot be added, and the summary's branch rows.

use nn::layer::{for_each_buffer, param_names, Role};
use nn::prelude::*;

fn conv(cin: usize, cout: usize, k: usize, stride: usize, rng: &mut StdRng) -> Conv2d {
    Conv2d::builder(cin, cout, k)
        .stride(stride)
        .padding(k / 2)
        .bias(false)
        .build(Init::He, rng)
}

/// torchvision's `BasicBlock`, field for field, with the activation a parameter so that the
/// gradient checks can use a smooth one.
#[derive(Sequential, Clone)]
struct BasicBlock<A = Relu> {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    relu1: A,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    #[sequential(shortcut)]
    downsample: Option<(Conv2d, BatchNorm2d)>,
    relu: A,
}

impl<A: Layer + Default> BasicBlock<A> {
    fn new(cin: usize, cout: usize, stride: usize, rng: &mut StdRng) -> Self {
        BasicBlock {
            conv1: conv(cin, cout, 3, stride, rng),
            bn1: BatchNorm2d::new(cout),
            relu1: A::default(),
            conv2: conv(cout, cout, 3, 1, rng),
            bn2: BatchNorm2d::new(cout),
            downsample: (stride != 1 || cin != cout)
                .then(|| (conv(cin, cout, 1, stride, rng), BatchNorm2d::new(cout))),
            relu: A::default(),
        }
    }
}

fn input(shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    let values = (0..n)
        .map(|k| ((k * 37 % 101) as f32 / 50.0 - 1.0) * 0.9)
        .collect();
    Tensor::from_shape_vec(shape.to_vec(), values).expect("n values")
}

#[test]
fn a_basic_block_has_torchvisions_parameter_and_buffer_names() {
    let mut block = BasicBlock::<Relu>::new(16, 32, 2, &mut seeded(1));
    let mut names = param_names(&mut block);
    for_each_buffer(&mut block, |name, _| names.push(name.to_string()));
    names.sort();
    // `sorted(torchvision.models.resnet.BasicBlock(16, 32, 2, downsample).state_dict())`.
    let bn = |p: &str| {
        [
            "bias",
            "num_batches_tracked",
            "running_mean",
            "running_var",
            "weight",
        ]
        .map(|s| format!("{p}.{s}"))
    };
    let mut expected: Vec<String> = ["conv1.weight", "conv2.weight", "downsample.0.weight"]
        .map(String::from)
        .into();
    expected.extend(bn("bn1").into_iter().chain(bn("bn2")).chain(bn("downsample.1")));
    expected.sort();
    assert_eq!(names, expected);
    // Without a projection, the identity shortcut has no names.
    let mut identity = BasicBlock::<Relu>::new(16, 16, 1, &mut seeded(1));
    assert!(!param_names(&mut identity)
        .iter()
        .any(|n| n.starts_with("downsample")));
}

#[test]
fn forward_and_backward_equal_the_two_paths_run_by_hand() {
    for (cin, cout, stride) in [(3, 3, 1), (3, 4, 2)] {
        let mut block = BasicBlock::<Relu>::new(cin, cout, stride, &mut seeded(7));
        let mut by_hand = block.clone();
        let x = input(&[2, cin, 6, 6]);
        let y = block.forward(x.clone(), Mode::Train);

        let h = &mut by_hand;
        let mut body = h.conv1.forward(x.clone(), Mode::Train);
        for layer in [
            &mut h.bn1 as &mut dyn Layer,
            &mut h.relu1,
            &mut h.conv2,
            &mut h.bn2,
        ] {
            body = layer.forward(body, Mode::Train);
        }
        let shortcut = h.downsample.forward(x.clone(), Mode::Train);
        let expected = h.relu.forward(body + shortcut, Mode::Train);
        assert_eq!(y, expected);

        let g = input(y.shape());
        let dx = block.backward(g.clone());
        let g_sum = h.relu.backward(g);
        let mut g_body = h.bn2.backward(g_sum.clone());
        for layer in [
            &mut h.conv2 as &mut dyn Layer,
            &mut h.relu1,
            &mut h.bn1,
            &mut h.conv1,
        ] {
            g_body = layer.backward(g_body);
        }
        assert_eq!(dx, g_body + h.downsample.backward(g_sum));
        let grads = |l: &mut dyn Layer| {
            let mut v = Vec::new();
            nn::for_each_param(l, |name, p| v.push((name.to_string(), p.grad.to_owned())));
            v
        };
        assert_eq!(grads(&mut block), grads(&mut by_hand));
    }
}

#[test]
fn blocks_pass_gradcheck_with_identity_and_projection_shortcuts() {
    let rng = &mut seeded(3);
    for (cin, cout, stride) in [(2, 2, 1), (2, 3, 2), (2, 3, 1)] {
        let mut block = BasicBlock::<Tanh>::new(cin, cout, stride, rng);
        let report = gradcheck(&mut block, &[2, cin, 4, 4]);
        assert!(report.passed(), "{cin} -> {cout}, stride {stride}: {report}");
    }
}

/// A block whose body holds a block: the inner shortcut's gradient flows inside the outer one's.
#[derive(Sequential)]
struct Nested {
    fc: Linear,
    inner: Dense,
    #[sequential(shortcut)]
    projection: Linear,
    act: Tanh,
}

/// `tanh(fc2(tanh(fc1(x))) + x)`, a residual block of dense layers.
#[derive(Sequential)]
struct Dense {
    fc1: Linear,
    act1: Tanh,
    fc2: Linear,
    #[sequential(shortcut)]
    identity: Option<Linear>,
    act: Tanh,
}

impl Dense {
    fn new(width: usize, rng: &mut StdRng) -> Self {
        Dense {
            fc1: Linear::new(width, width, Init::He, rng),
            act1: Tanh::new(),
            fc2: Linear::new(width, width, Init::He, rng),
            identity: None,
            act: Tanh::new(),
        }
    }
}

#[test]
fn nested_blocks_pass_gradcheck() {
    let rng = &mut seeded(11);
    let mut net = Nested {
        fc: Linear::new(3, 5, Init::He, rng),
        inner: Dense::new(5, rng),
        projection: Linear::new(3, 5, Init::He, rng),
        act: Tanh::new(),
    };
    gradcheck(&mut net, &[4, 3]).assert_passed();
    assert_eq!(
        param_names(&mut net),
        [
            "fc.weight",
            "fc.bias",
            "inner.fc1.weight",
            "inner.fc1.bias",
            "inner.fc2.weight",
            "inner.fc2.bias",
            "projection.weight",
            "projection.bias"
        ]
    );
}

/// Two named branches, concatenated: torchvision's Inception names (`mixed.branch1.weight`).
#[derive(Sequential)]
struct Branches {
    branch1: Conv2d,
    branch3: (Conv2d, BatchNorm2d, Tanh),
    pool: (AvgPool2d, Conv2d),
}

#[derive(Sequential)]
struct Mixed {
    stem: Conv2d,
    mixed: Concat<Branches>,
    skip: Residual<(Conv2d, Tanh)>,
    pool: GlobalAvgPool2d,
    fc: Linear,
}

fn mixed(rng: &mut StdRng) -> Mixed {
    let same =
        |cin, cout, k, rng: &mut StdRng| Conv2d::builder(cin, cout, k).padding(k / 2).build(Init::He, rng);
    Mixed {
        stem: same(1, 3, 3, rng),
        mixed: Concat::new(Branches {
            branch1: same(3, 2, 1, rng),
            branch3: (same(3, 3, 3, rng), BatchNorm2d::new(3), Tanh::new()),
            pool: (
                AvgPool2d::new(3).with_stride(1).with_padding(1),
                same(3, 1, 1, rng),
            ),
        }),
        skip: Residual((same(6, 6, 3, rng), Tanh::new())),
        pool: GlobalAvgPool2d::new(),
        fc: Linear::new(6, 2, Init::He, rng),
    }
}

#[test]
fn concatenated_branches_keep_their_field_names_and_pass_gradcheck() {
    let mut net = mixed(&mut seeded(5));
    let names = param_names(&mut net);
    for name in [
        "mixed.branch1.weight",
        "mixed.branch3.0.bias",
        "mixed.branch3.1.weight",
        "mixed.pool.1.weight",
        "skip.0.weight",
        "fc.bias",
    ] {
        assert!(names.contains(&name.to_string()), "{name} not in {names:?}");
    }
    assert_eq!(
        net.forward(Tensor::zeros(vec![2, 1, 5, 5]), Mode::Eval).shape(),
        &[2, 2]
    );
    gradcheck(&mut net, &[2, 1, 4, 4]).assert_passed();
}

/// The panic message of `f`.
fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("must panic");
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[derive(Sequential)]
struct TwoBlocks {
    stem: Conv2d,
    layer1: BasicBlock,
    layer2: BasicBlock,
}

/// `[N, 1, 8, 8]` -> 4 channels -> an identity block -> a projection block to `[N, 8, 4, 4]`.
fn two_blocks(rng: &mut StdRng) -> TwoBlocks {
    TwoBlocks {
        stem: conv(1, 4, 3, 1, rng),
        layer1: BasicBlock::new(4, 4, 1, rng),
        layer2: BasicBlock::new(4, 8, 2, rng),
    }
}

#[test]
fn a_shortcut_that_does_not_match_panics_at_the_first_forward_naming_the_block_and_all_shapes() {
    let rng = &mut seeded(1);
    let mut net = two_blocks(rng);
    // The projection forgotten: the identity cannot be added to a strided, wider body.
    net.layer2.downsample = None;
    let msg = panic_message(|| {
        net.forward(Tensor::zeros(vec![2, 1, 8, 8]), Mode::Train);
    });
    assert_eq!(
        msg,
        "layer2: cannot add the shortcut `downsample` to the fields before it: for the block's \
         input of shape [2, 4, 8, 8], they give [2, 8, 4, 4] and the shortcut gives \
         [2, 4, 8, 8]. Give the shortcut the body's stride and output channels (such as a 1x1 \
         Conv2d with that stride, then BatchNorm2d) where the shape changes"
    );
    // A projection of the wrong stride is caught the same way.
    net.layer2.downsample = Some((conv(4, 8, 1, 1, rng), BatchNorm2d::new(8)));
    let msg = panic_message(|| {
        net.forward(Tensor::zeros(vec![2, 1, 8, 8]), Mode::Eval);
    });
    assert!(
        msg.contains("they give [2, 8, 4, 4] and the shortcut gives [2, 8, 8, 8]"),
        "{msg}"
    );
}

#[test]
fn the_summary_indents_blocks_and_marks_their_shortcuts() {
    let rng = &mut seeded(1);
    let mut net = two_blocks(rng);
    let s = nn::summary(&mut net, &[1, 1, 8, 8]);
    let rows: Vec<(&str, usize, Role, &[usize], usize)> = s
        .rows
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.depth,
                r.role,
                r.output_shape.as_slice(),
                r.params,
            )
        })
        .collect();
    let (l, sc) = (Role::Layer, Role::Shortcut);
    assert_eq!(
        rows[..9],
        [
            ("stem", 0, l, &[1, 4, 8, 8][..], 36),
            ("layer1", 0, l, &[1, 4, 8, 8][..], 2 * 144 + 2 * 8),
            ("layer1.conv1", 1, l, &[1, 4, 8, 8][..], 144),
            ("layer1.bn1", 1, l, &[1, 4, 8, 8][..], 8),
            ("layer1.relu1", 1, l, &[1, 4, 8, 8][..], 0),
            ("layer1.conv2", 1, l, &[1, 4, 8, 8][..], 144),
            ("layer1.bn2", 1, l, &[1, 4, 8, 8][..], 8),
            ("layer1.downsample", 1, sc, &[1, 4, 8, 8][..], 0),
            ("layer1.relu", 1, l, &[1, 4, 8, 8][..], 0),
        ]
    );
    assert_eq!(
        rows[14..18],
        [
            ("layer2.bn2", 1, l, &[1, 8, 4, 4][..], 16),
            ("layer2.downsample", 1, sc, &[1, 8, 4, 4][..], 32 + 16),
            ("layer2.downsample.0", 2, l, &[1, 8, 4, 4][..], 32),
            ("layer2.downsample.1", 2, l, &[1, 8, 4, 4][..], 16),
        ]
    );
    assert_eq!(s.total_params, nn::param_count(&mut net));
    let text = s.to_string();
    for line in [
        "  layer1.downsample      shortcut: identity",
        "  layer2.downsample      shortcut: Sequential",
        "    layer2.downsample.1  BatchNorm2d(8)",
    ] {
        assert!(text.contains(line), "no line {line:?} in\n{text}");
    }

    // Concatenated branches are marked as such.
    let s = nn::summary(&mut mixed(&mut seeded(1)), &[1, 1, 5, 5]);
    let branch = s.rows.iter().find(|r| r.name == "mixed.branch3").expect("a row");
    assert_eq!(
        (branch.role, branch.depth, branch.output_shape.as_slice()),
        (Role::Branch, 1, &[1, 3, 5, 5][..])
    );
    let mixed_row = s.rows.iter().find(|r| r.name == "mixed").expect("a row");
    assert_eq!(mixed_row.output_shape, [1, 6, 5, 5]);
}

/// Field names that match the generated code's locals and arguments.
#[derive(Sequential)]
struct Shadowing {
    x: Linear,
    shortcut_input: Tanh,
    #[sequential(shortcut)]
    shortcut_grad: Linear,
    grad: Tanh,
    mode: Linear,
}

#[test]
fn generated_code_ignores_field_names_that_match_its_locals() {
    let rng = &mut seeded(2);
    let mut net = Shadowing {
        x: Linear::new(3, 4, Init::He, rng),
        shortcut_input: Tanh::new(),
        shortcut_grad: Linear::new(3, 4, Init::He, rng),
        grad: Tanh::new(),
        mode: Linear::new(4, 2, Init::He, rng),
    };
    gradcheck(&mut net, &[3, 3]).assert_passed();
}
