//! `#[derive(Sequential)]` as a user meets it: every accepted form, the exact parameter names,
//! forward/backward order, hygiene, the summary, and a gradient check of a derived network.
//!
//! The layers here are written in this file, as a user's custom layers would be, so the test
//! depends on the Layer trait only.

use nn::layer::{for_each_buffer, for_each_param, param_count, param_names};
use nn::ndarray::{self, Array1, Array2, ArrayD, Axis, Ix2, IxDyn};
use nn::prelude::*;
use rand::Rng as _;
use std::cell::RefCell;
use std::rc::Rc;

// ---------------------------------------------------------------------------------------------
// Test layers.

/// `y = x Wᵀ + b` with `weight` [out, in] and `bias` [out].
struct Affine {
    weight: Tensor,
    bias: Tensor,
    grad_weight: Tensor,
    grad_bias: Tensor,
    input: Option<Array2<f32>>,
}

impl Affine {
    fn new(inputs: usize, outputs: usize, rng: &mut nn::StdRng) -> Self {
        let scale = 1.0 / (inputs as f32).sqrt();
        Affine {
            weight: ArrayD::from_shape_fn(IxDyn(&[outputs, inputs]), |_| rng.random_range(-scale..scale)),
            bias: ArrayD::from_shape_fn(IxDyn(&[outputs]), |_| rng.random_range(-0.5..0.5)),
            grad_weight: ArrayD::zeros(IxDyn(&[outputs, inputs])),
            grad_bias: ArrayD::zeros(IxDyn(&[outputs])),
            input: None,
        }
    }

    fn weight(&self) -> ndarray::ArrayView2<'_, f32> {
        self.weight
            .view()
            .into_dimensionality::<Ix2>()
            .expect("2-D weight")
    }
}

impl Layer for Affine {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let inputs = self.weight.shape()[1];
        if x.ndim() != 2 || x.shape()[1] != inputs {
            layer_panic(format_args!(
                "expected {inputs} input features, got shape {:?}",
                x.shape()
            ));
        }
        let x = x.into_dimensionality::<Ix2>().expect("checked 2-D");
        let y = x.dot(&self.weight().t()) + &self.bias;
        if mode == Mode::Train {
            self.input = Some(x);
        }
        y.into_dyn()
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let Some(x) = self.input.take() else {
            layer_panic(format_args!("backward called without a preceding Train forward"))
        };
        let grad = grad.into_dimensionality::<Ix2>().expect("2-D gradient");
        self.grad_weight = grad.t().dot(&x).into_dyn();
        self.grad_bias = grad.sum_axis(Axis(0)).into_dyn();
        grad.dot(&self.weight()).into_dyn()
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

/// Element-wise `tanh`, keeping its output for backward.
#[derive(Default)]
struct Tanh {
    output: Option<Tensor>,
}

impl Layer for Tanh {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let y = x.mapv_into(f32::tanh);
        if mode == Mode::Train {
            self.output = Some(y.clone());
        }
        y
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        let y = self.output.take().expect("Train forward before backward");
        grad * y.mapv(|y| 1.0 - y * y)
    }
}

/// `y = x + bias`, with a `running_mean` buffer updated in Train mode: a stand-in for BatchNorm's
/// naming (a Norm parameter and a buffer).
struct Shift {
    bias: Tensor,
    grad_bias: Tensor,
    running_mean: Tensor,
}

impl Shift {
    fn new(features: usize) -> Self {
        Shift {
            bias: ArrayD::from_shape_fn(IxDyn(&[features]), |i| 0.1 * i[0] as f32 - 0.2),
            grad_bias: ArrayD::zeros(IxDyn(&[features])),
            running_mean: ArrayD::zeros(IxDyn(&[features])),
        }
    }
}

impl Layer for Shift {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        if mode == Mode::Train {
            let mean = x.mean_axis(Axis(0)).expect("non-empty batch");
            self.running_mean = &self.running_mean * 0.9 + mean * 0.1;
        }
        x + &self.bias
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        self.grad_bias = grad.sum_axis(Axis(0));
        grad
    }

    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param("bias", &mut self.bias, &mut self.grad_bias, ParamKind::Norm);
        v.buffer("running_mean", &mut self.running_mean);
    }
}

/// The identity, logging each call to a shared journal so tests can see the call order.
struct Tag {
    id: &'static str,
    log: Rc<RefCell<Vec<String>>>,
}

impl Layer for Tag {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        self.log
            .borrow_mut()
            .push(format!("forward {} {mode:?}", self.id));
        x
    }

    fn backward(&mut self, grad: Tensor) -> Tensor {
        self.log.borrow_mut().push(format!("backward {}", self.id));
        grad
    }
}

fn rng() -> nn::StdRng {
    nn::seeded(nn::DEFAULT_SEED)
}

fn random(shape: &[usize], rng: &mut nn::StdRng) -> Tensor {
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(-1.0..1.0))
}

// ---------------------------------------------------------------------------------------------
// The networks.

#[derive(Sequential)]
struct Block {
    fc: Affine,
    bn: Shift,
    act: Tanh,
}

/// Every kind of field at once: plain, nested derived, `Option`, `Vec`, `Box<dyn Layer>`, skipped.
#[derive(Sequential)]
struct Net {
    fc1: Affine,
    act1: Tanh,
    block: Block,
    drop: Option<Tanh>,
    layers: Vec<Affine>,
    #[sequential(skip)]
    label: String,
    head: Box<dyn Layer>,
    #[sequential(skip)]
    steps: u32,
}

impl Net {
    fn new(with_drop: bool, rng: &mut nn::StdRng) -> Self {
        Net {
            fc1: Affine::new(4, 5, rng),
            act1: Tanh::default(),
            block: Block {
                fc: Affine::new(5, 6, rng),
                bn: Shift::new(6),
                act: Tanh::default(),
            },
            drop: with_drop.then(Tanh::default),
            layers: (0..4).map(|_| Affine::new(6, 6, rng)).collect(),
            label: "net".to_string(),
            head: Box::new(Affine::new(6, 3, rng)),
            steps: 0,
        }
    }
}

#[test]
fn parameter_and_buffer_names_are_exactly_the_field_paths() {
    let mut net = Net::new(true, &mut rng());
    assert_eq!(
        param_names(&mut net),
        [
            "fc1.weight",
            "fc1.bias",
            "block.fc.weight",
            "block.fc.bias",
            "block.bn.bias",
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
            "layers.2.weight",
            "layers.2.bias",
            "layers.3.weight",
            "layers.3.bias",
            "head.weight",
            "head.bias",
        ]
    );
    let mut buffers = Vec::new();
    for_each_buffer(&mut net, |name, _| buffers.push(name.to_string()));
    assert_eq!(buffers, ["block.bn.running_mean"]);

    let mut kinds = Vec::new();
    for_each_param(&mut net.block, |name, p| kinds.push((name.to_string(), p.kind)));
    assert_eq!(
        kinds,
        [
            ("fc.weight".to_string(), ParamKind::Weight),
            ("fc.bias".to_string(), ParamKind::Bias),
            ("bn.bias".to_string(), ParamKind::Norm),
        ]
    );
    assert_eq!(
        param_count(&mut net),
        (4 * 5 + 5) + (5 * 6 + 6 + 6) + 4 * (6 * 6 + 6) + (6 * 3 + 3)
    );
    // The skipped fields are still ordinary fields.
    assert_eq!((net.label.as_str(), net.steps), ("net", 0));
}

#[test]
fn forward_chains_fields_in_declaration_order() {
    let mut r = rng();
    let mut net = Net::new(false, &mut r);
    let x = random(&[7, 4], &mut r);
    let y = net.forward(x.clone(), Mode::Eval);

    // The same computation written out by hand, field by field.
    let mut h = net.fc1.forward(x, Mode::Eval);
    h = net.act1.forward(h, Mode::Eval);
    h = net.block.fc.forward(h, Mode::Eval);
    h = net.block.bn.forward(h, Mode::Eval);
    h = net.block.act.forward(h, Mode::Eval);
    for layer in &mut net.layers {
        h = layer.forward(h, Mode::Eval);
    }
    h = net.head.forward(h, Mode::Eval);
    assert_eq!(y.shape(), [7, 3]);
    assert_eq!(y, h);
}

#[test]
fn option_none_is_the_identity_and_some_is_transparent() {
    let mut r = rng();
    let mut with = Net::new(true, &mut r);
    let mut r = rng();
    let mut without = Net::new(false, &mut r);
    // Same seed, same parameters; Tanh has none, so the names agree too.
    assert_eq!(param_names(&mut with), param_names(&mut without));
    let x = random(&[3, 4], &mut r);
    let a = with.forward(x.clone(), Mode::Eval);
    let b = without.forward(x, Mode::Eval);
    assert_ne!(a, b, "the optional tanh must change the output when present");
}

#[derive(Sequential)]
struct Ordered {
    a: Tag,
    maybe: Option<Tag>,
    off: Option<Tag>,
    inner: Inner,
    many: Vec<Tag>,
    boxed: Box<dyn Layer>,
}

#[derive(Sequential)]
struct Inner(Tag, Tag);

#[test]
fn backward_runs_in_reverse_and_mode_reaches_every_field() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let tag = |id| Tag { id, log: log.clone() };
    let mut net = Ordered {
        a: tag("a"),
        maybe: Some(tag("maybe")),
        off: None,
        inner: Inner(tag("inner.0"), tag("inner.1")),
        many: vec![tag("many.0"), tag("many.1")],
        boxed: Box::new(tag("boxed")),
    };
    let x = ArrayD::zeros(IxDyn(&[1, 2]));
    let y = net.forward(x.clone(), Mode::Train);
    let g = net.backward(y);
    assert_eq!(g, x);
    let _ = net.forward(x, Mode::Eval);
    let order = ["a", "maybe", "inner.0", "inner.1", "many.0", "many.1", "boxed"];
    let mut expected: Vec<String> = order.iter().map(|id| format!("forward {id} Train")).collect();
    expected.extend(order.iter().rev().map(|id| format!("backward {id}")));
    expected.extend(order.iter().map(|id| format!("forward {id} Eval")));
    assert_eq!(*log.borrow(), expected);
}

#[test]
fn a_failing_layer_is_named_by_its_path() {
    let mut r = rng();
    let mut net = Net::new(false, &mut r);
    net.block.fc = Affine::new(9, 6, &mut r);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        net.forward(ArrayD::zeros(IxDyn(&[2, 4])), Mode::Eval)
    }))
    .expect_err("a 5-wide input into a 9-wide layer must panic");
    let msg = err.downcast_ref::<String>().expect("formatted panic message");
    assert_eq!(msg, "block.fc: expected 9 input features, got shape [2, 5]");

    let mut net = Net::new(false, &mut r);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        net.backward(ArrayD::zeros(IxDyn(&[2, 3])))
    }))
    .expect_err("backward without forward must panic");
    let msg = err.downcast_ref::<String>().expect("formatted panic message");
    // Backward starts at the last field.
    assert_eq!(msg, "head: backward called without a preceding Train forward");
}

/// Runs `f`, which must panic, and returns the file and line the panic reports.
fn panic_location(f: impl FnOnce()) -> (String, u32) {
    thread_local! {
        static LOCATION: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    // One hook for the whole test binary: it notes the location on the panicking thread and then
    // prints as the default hook does, so other tests' panics read as usual.
    HOOK.call_once(|| {
        let print = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let here = info.location().map(|l| (l.file().to_string(), l.line()));
            LOCATION.with(|loc| *loc.borrow_mut() = here);
            print(info);
        }));
    });
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    assert!(result.is_err(), "must panic");
    LOCATION
        .with(|loc| loc.borrow_mut().take())
        .expect("the hook saw the panic")
}

/// A network of built-in layers, as a user declares one.
#[derive(Sequential)]
struct Builtin {
    conv: Conv2d,
    flat: Flatten,
    fc1: Linear,
    act: Relu,
    fc2: Linear,
}

#[test]
fn a_shape_panic_points_at_the_line_that_called_forward() {
    let mut r = rng();
    let mut fc = Linear::new(4, 3, Init::He, &mut r);
    let (file, line) = panic_location(|| {
        fc.forward(Tensor::zeros(vec![2, 5]), Mode::Eval);
    });
    assert_eq!((file.as_str(), line), (file!(), line!() - 2));

    let mut conv = Conv2d::new(3, 2, 3, Init::He, &mut r);
    let (file, line) = panic_location(|| {
        conv.forward(Tensor::zeros(vec![1, 1, 5, 5]), Mode::Eval);
    });
    assert_eq!((file.as_str(), line), (file!(), line!() - 2));

    // Inside a derived network: fc2 expects 8 features and gets 6, found two levels down.
    let mut net = Builtin {
        conv: Conv2d::new(1, 2, 3, Init::He, &mut r),
        flat: Flatten::new(),
        fc1: Linear::new(2 * 3 * 3, 6, Init::He, &mut r),
        act: Relu::new(),
        fc2: Linear::new(8, 2, Init::He, &mut r),
    };
    let (file, line) = panic_location(|| {
        net.forward(Tensor::zeros(vec![1, 1, 5, 5]), Mode::Eval);
    });
    assert_eq!((file.as_str(), line), (file!(), line!() - 2));
    // (A call through `dyn Layer`, as in a `Vec<Box<dyn Layer>>`, cannot carry the location:
    // Rust reports the layer's own `fn forward` there. The message names the layer either way.)
}

// ---------------------------------------------------------------------------------------------
// Tuple structs, generics, lifetimes, where-clauses.

#[derive(Sequential)]
struct Pair(Affine, #[sequential(skip)] &'static str, Tanh, Affine);

#[test]
fn tuple_struct_fields_are_named_by_index() {
    let mut r = rng();
    let mut net = Pair(
        Affine::new(2, 3, &mut r),
        "skipped",
        Tanh::default(),
        Affine::new(3, 1, &mut r),
    );
    assert_eq!(
        param_names(&mut net),
        ["0.weight", "0.bias", "3.weight", "3.bias"]
    );
    assert_eq!(
        net.forward(ArrayD::zeros(IxDyn(&[5, 2])), Mode::Eval).shape(),
        [5, 1]
    );
    assert_eq!(net.type_name(), "Pair");
    assert_eq!(net.1, "skipped");
}

/// `A` bounded in the parameter list, `B` in a where-clause, `C` only in a skipped field (so it
/// needs no bound), plus a const parameter.
#[derive(Sequential)]
struct Stack<A: Layer, B, C, const N: usize>
where
    B: Layer,
{
    first: A,
    rest: Vec<B>,
    #[sequential(skip)]
    config: C,
    #[sequential(skip)]
    sizes: [usize; N],
}

/// No bound written at all: the derive requires `L: Layer` of the impl, not of the struct.
#[derive(Sequential)]
struct Unbounded<L> {
    inner: Option<L>,
}

/// Lifetimes: a borrowed name and a boxed layer that may borrow.
#[derive(Sequential)]
struct Borrowed<'a, 'b: 'a> {
    #[sequential(skip)]
    name: &'a str,
    head: Box<dyn Layer + 'b>,
}

#[test]
fn generic_structs_derive_with_and_without_bounds() {
    let mut r = rng();
    let mut net = Stack {
        first: Block {
            fc: Affine::new(2, 3, &mut r),
            bn: Shift::new(3),
            act: Tanh::default(),
        },
        rest: vec![Affine::new(3, 3, &mut r), Affine::new(3, 2, &mut r)],
        config: String::from("not a layer"),
        sizes: [2, 3, 3, 2],
    };
    assert_eq!(
        param_names(&mut net),
        [
            "first.fc.weight",
            "first.fc.bias",
            "first.bn.bias",
            "rest.0.weight",
            "rest.0.bias",
            "rest.1.weight",
            "rest.1.bias"
        ]
    );
    assert_eq!(
        net.forward(ArrayD::zeros(IxDyn(&[1, 2])), Mode::Eval).shape(),
        [1, 2]
    );
    assert_eq!(net.type_name(), "Stack");
    assert_eq!((net.config.as_str(), net.sizes.len()), ("not a layer", 4));

    let mut wrapped = Unbounded {
        inner: Some(Affine::new(2, 2, &mut r)),
    };
    assert_eq!(param_names(&mut wrapped), ["inner.weight", "inner.bias"]);
    let mut empty = Unbounded::<Affine> { inner: None };
    assert!(param_names(&mut empty).is_empty());
}

#[test]
fn lifetimes_are_carried_to_the_impl() {
    let mut r = rng();
    let name = String::from("borrowed");
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut net = Borrowed {
        name: &name,
        head: Box::new(Tag {
            id: "head",
            log: log.clone(),
        }),
    };
    let _ = net.forward(ArrayD::zeros(IxDyn(&[1, 1])), Mode::Eval);
    assert_eq!(*log.borrow(), ["forward head Eval"]);
    assert_eq!(net.name, "borrowed");

    // A borrowed network inside a derived one, through `Box<dyn Layer + 'b>`.
    let mut outer = Borrowed {
        name: "outer",
        head: Box::new(Pair(
            Affine::new(1, 1, &mut r),
            "",
            Tanh::default(),
            Affine::new(1, 1, &mut r),
        )),
    };
    assert_eq!(
        param_names(&mut outer),
        ["head.0.weight", "head.0.bias", "head.3.weight", "head.3.bias"]
    );
}

/// A recursive network: the `Vec<Tree>` field refers to the struct being derived.
#[derive(Sequential)]
struct Tree {
    leaf: Shift,
    children: Vec<Tree>,
}

#[test]
fn recursive_structs_derive() {
    let mut tree = Tree {
        leaf: Shift::new(1),
        children: vec![
            Tree {
                leaf: Shift::new(1),
                children: vec![],
            },
            Tree {
                leaf: Shift::new(1),
                children: vec![Tree {
                    leaf: Shift::new(1),
                    children: vec![],
                }],
            },
        ],
    };
    assert_eq!(
        param_names(&mut tree),
        [
            "leaf.bias",
            "children.0.leaf.bias",
            "children.1.leaf.bias",
            "children.1.children.0.leaf.bias"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Hygiene: the user's own names for everything the generated code uses.

#[allow(dead_code, non_camel_case_types)]
mod hygiene {
    type Result = ();
    struct Layer;
    struct Mode;
    struct Tensor;
    struct Option;
    struct Vec;
    struct String;
    struct Box;
    struct str;
    trait From {}
    trait FnMut {}
    fn forward() {}
    fn backward() {}
    fn forward_child() {}
    fn visit_children() {}
    fn type_name() {}
    mod nn {}
    mod core {}
    mod std {}

    /// Field names that match the generated code's own locals and arguments.
    #[derive(::nn::Sequential)]
    pub struct Shadowed {
        pub x: super::Affine,
        pub mode: super::Tanh,
        pub grad: ::core::option::Option<super::Tanh>,
        pub f: super::Affine,
        #[sequential(skip)]
        pub r#in: u8,
        pub r#type: super::Affine,
    }
}

#[test]
fn generated_code_ignores_user_names_in_scope() {
    let mut r = rng();
    let mut net = hygiene::Shadowed {
        x: Affine::new(2, 3, &mut r),
        mode: Tanh::default(),
        grad: None,
        f: Affine::new(3, 1, &mut r),
        r#in: 0,
        r#type: Affine::new(1, 1, &mut r),
    };
    // Raw identifiers are named as written without `r#`.
    assert_eq!(
        param_names(&mut net),
        [
            "x.weight",
            "x.bias",
            "f.weight",
            "f.bias",
            "type.weight",
            "type.bias"
        ]
    );
    let y = net.forward(ArrayD::zeros(IxDyn(&[4, 2])), Mode::Eval);
    assert_eq!(y.shape(), [4, 1]);
    assert_eq!(net.type_name(), "Shadowed");
    assert_eq!(net.r#in, 0);
}

// ---------------------------------------------------------------------------------------------
// Summary.

#[test]
fn summary_lists_every_layer_of_a_derived_network_blocks_first() {
    let mut net = Net::new(false, &mut rng());
    let summary = nn::summary(&mut net, &[1, 4]);
    let rows: Vec<(&str, &str, &[usize], usize)> = summary
        .rows
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.type_name.as_str(),
                r.output_shape.as_slice(),
                r.params,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("fc1", "Affine", &[1, 5][..], 25),
            ("act1", "Tanh", &[1, 5][..], 0),
            ("block", "Block", &[1, 6][..], 42),
            ("block.fc", "Affine", &[1, 6][..], 36),
            ("block.bn", "Shift", &[1, 6][..], 6),
            ("block.act", "Tanh", &[1, 6][..], 0),
            ("drop", "None", &[1, 6][..], 0),
            ("layers", "Vec", &[1, 6][..], 4 * 42),
            ("layers.0", "Affine", &[1, 6][..], 42),
            ("layers.1", "Affine", &[1, 6][..], 42),
            ("layers.2", "Affine", &[1, 6][..], 42),
            ("layers.3", "Affine", &[1, 6][..], 42),
            ("head", "Affine", &[1, 3][..], 21),
        ]
    );
    assert_eq!(summary.total_params, 25 + 36 + 6 + 4 * 42 + 21);
    assert_eq!(summary.total_params, param_count(&mut net));
    let text = summary.to_string();
    // A block's layers are indented under it.
    assert!(text.contains("\n  block.bn "), "{text}");
    assert!(text.ends_with("total trainable parameters: 256"), "{text}");
    // Summarising runs Eval forwards only: the Train-only running mean is untouched.
    assert!(net.block.bn.running_mean.iter().all(|&m| m == 0.0));
}

// ---------------------------------------------------------------------------------------------
// Gradient check, end to end.
//
// The loss is `L = sum(y ⊙ r)` for a fixed random `r`, so `dL/dy = r`. The analytic gradients
// come from one Train forward and `backward(r)`; the numeric ones from central differences of L,
// summed in f64. This hand-rolled check is independent of the public `nn::gradcheck`, which is
// run on the same network too.

fn loss(net: &mut Net, x: &Tensor, r: &Tensor) -> f64 {
    let y = net.forward(x.clone(), Mode::Eval);
    y.iter()
        .zip(r.iter())
        .map(|(&y, &r)| f64::from(y) * f64::from(r))
        .sum()
}

/// Adds `delta` to element `index` of the parameter called `name`.
fn nudge(net: &mut Net, name: &str, index: usize, delta: f32) {
    let mut found = false;
    for_each_param(net, |n, mut p| {
        if n == name {
            p.value.as_slice_mut().expect("contiguous parameter")[index] += delta;
            found = true;
        }
    });
    assert!(found, "no parameter named {name}");
}

/// Whether the analytic and numeric derivative agree to f32 finite-difference accuracy: 1%
/// relative, with a floor a little above the rounding noise of an f32 loss of order 1 divided by
/// `2 * EPS` (about 3e-6). The gradients here are of order 1e-3, so the floor does not hide them.
fn close(analytic: f64, numeric: f64) -> bool {
    (analytic - numeric).abs() <= 1e-2 * analytic.abs().max(numeric.abs()) + 1e-5
}

#[test]
fn backward_of_a_derived_network_matches_finite_differences() {
    const EPS: f32 = 1e-2;
    let mut r = rng();
    let mut net = Net::new(true, &mut r);
    let x = random(&[3, 4], &mut r);
    let seed = random(&[3, 3], &mut r);

    let _ = net.forward(x.clone(), Mode::Train);
    let grad_x = net.backward(seed.clone());
    let mut analytic: Vec<(String, Vec<f32>)> = Vec::new();
    for_each_param(&mut net, |name, p| {
        analytic.push((name.to_string(), p.grad.iter().copied().collect()))
    });
    assert_eq!(analytic.len(), 15);

    let mut checked = 0;
    for (name, grads) in &analytic {
        for (i, &g) in grads.iter().enumerate() {
            nudge(&mut net, name, i, EPS);
            let up = loss(&mut net, &x, &seed);
            nudge(&mut net, name, i, -2.0 * EPS);
            let down = loss(&mut net, &x, &seed);
            nudge(&mut net, name, i, EPS);
            let numeric = (up - down) / (2.0 * f64::from(EPS));
            assert!(
                close(f64::from(g), numeric),
                "{name}[{i}]: backward {g}, finite difference {numeric}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, param_count(&mut net));

    for i in 0..x.len() {
        let mut shifted = x.clone();
        shifted.as_slice_mut().expect("contiguous")[i] += EPS;
        let up = loss(&mut net, &shifted, &seed);
        shifted.as_slice_mut().expect("contiguous")[i] -= 2.0 * EPS;
        let down = loss(&mut net, &shifted, &seed);
        let numeric = (up - down) / (2.0 * f64::from(EPS));
        let g = f64::from(grad_x.as_slice().expect("contiguous")[i]);
        assert!(
            close(g, numeric),
            "input[{i}]: backward {g}, finite difference {numeric}"
        );
    }
}

#[test]
fn the_public_gradcheck_passes_on_a_derived_network() {
    let mut net = Net::new(true, &mut rng());
    let report = nn::gradcheck(&mut net, &[3, 4]);
    report.assert_passed();
    // Every parameter is checked under its derived name, after the input.
    let checked: Vec<&str> = report.tensors.iter().map(|t| t.name.as_str()).collect();
    let mut expected = vec!["input".to_string()];
    expected.extend(param_names(&mut net));
    assert_eq!(checked, expected);
}

#[test]
fn backward_overwrites_gradients_through_the_derive() {
    let mut r = rng();
    let mut net = Net::new(false, &mut r);
    let x = random(&[2, 4], &mut r);
    let seed = random(&[2, 3], &mut r);
    let grads = |net: &mut Net| {
        let mut all = Vec::new();
        for_each_param(net, |_, p| all.extend(p.grad.iter().copied()));
        Array1::from(all)
    };
    let _ = net.forward(x.clone(), Mode::Train);
    let _ = net.backward(seed.clone());
    let first = grads(&mut net);
    let _ = net.forward(x, Mode::Train);
    let _ = net.backward(seed);
    assert_eq!(grads(&mut net), first);
    assert!(first.iter().any(|&g| g != 0.0));
}
