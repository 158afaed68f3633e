//! Tests shared by all optimizers, and the helpers the per-algorithm tests use.
//!
//! The models here are hand-written layers whose gradients the test sets directly: the layers
//! proper live elsewhere, and an optimizer only sees names, values, gradients and kinds.

use super::*;
use crate::error::Error;
use crate::layer::{Mode, ParamKind, Visitor};
use crate::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};

/// One hand-set parameter of a [`Toy`].
#[derive(Clone, Debug)]
pub(super) struct ToyParam {
    pub name: String,
    pub value: Tensor,
    pub grad: Tensor,
    pub kind: ParamKind,
}

/// A layer made of named 1-D parameters whose gradients tests set by hand, plus one buffer that
/// no optimizer may touch.
#[derive(Clone, Debug)]
pub(super) struct Toy {
    pub params: Vec<ToyParam>,
    pub buffer: Tensor,
}

fn vector(values: &[f32]) -> Tensor {
    ArrayD::from_shape_vec(IxDyn(&[values.len()]), values.to_vec()).unwrap()
}

impl Toy {
    pub fn new() -> Self {
        Toy {
            params: Vec::new(),
            buffer: vector(&[3.0, 4.0]),
        }
    }

    /// Adds a parameter `name` with `values` and a zero gradient.
    pub fn with(mut self, name: &str, kind: ParamKind, values: &[f32]) -> Self {
        self.params.push(ToyParam {
            name: name.to_string(),
            value: vector(values),
            grad: Tensor::zeros(IxDyn(&[values.len()])),
            kind,
        });
        self
    }

    fn param(&mut self, name: &str) -> &mut ToyParam {
        self.params
            .iter_mut()
            .find(|p| p.name == name)
            .expect("test names an existing parameter")
    }

    pub fn set_grad(&mut self, name: &str, grad: &[f32]) {
        self.param(name).grad = vector(grad);
    }

    pub fn value(&mut self, name: &str) -> Vec<f32> {
        self.param(name).value.iter().copied().collect()
    }
}

impl Layer for Toy {
    fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor {
        x
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        grad
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        for p in &mut self.params {
            v.param(&p.name, &mut p.value, &mut p.grad, p.kind);
        }
        v.buffer("running_mean", &mut self.buffer);
    }
}

/// The three-step scenario every algorithm's hand computation uses: a weight starting at
/// `w0 = [1, 2]` receiving `g1 = [1, -2]`, `g2 = [0.5, 1]`, `g3 = [-1, 0.5]`.
pub(super) fn three_steps(opt: &mut dyn Optimizer) -> [[f32; 2]; 3] {
    let mut model = Toy::new().with("weight", ParamKind::Weight, &[1.0, 2.0]);
    let grads = [[1.0, -2.0], [0.5, 1.0], [-1.0, 0.5]];
    let mut out = [[0.0; 2]; 3];
    for (g, o) in grads.iter().zip(&mut out) {
        model.set_grad("weight", g);
        opt.step(&mut model).unwrap();
        let w = model.value("weight");
        *o = [w[0], w[1]];
    }
    out
}

/// Runs [`three_steps`] and compares with the hand-computed values to within f32 rounding.
pub(super) fn assert_three_steps(opt: &mut dyn Optimizer, expected: [[f64; 2]; 3]) {
    let found = three_steps(opt);
    for (step, (f, e)) in found.iter().zip(&expected).enumerate() {
        for i in 0..2 {
            assert!(
                (f[i] as f64 - e[i]).abs() < 2e-6,
                "{} step {}: element {i} is {}, expected {}",
                opt.name(),
                step + 1,
                f[i],
                e[i]
            );
        }
    }
}

/// Every optimizer, with hyper-parameters that suit the seed's test function.
fn all_optimizers() -> Vec<Box<dyn Optimizer>> {
    vec![
        Box::new(Sgd::new(0.9)),
        Box::new(Momentum::new(0.1)),
        Box::new(Nesterov::new(0.1)),
        Box::new(AdaGrad::new(1.5)),
        Box::new(RmsProp::new(0.1)),
        Box::new(Adam::new(0.3)),
        Box::new(AdamW::new(0.3)),
    ]
}

/// The seed's classic test function f(x, y) = x^2 / 20 + y^2 and its gradient (x / 10, 2y).
fn seed_function(p: &[f32]) -> (f32, [f32; 2]) {
    let (x, y) = (p[0], p[1]);
    (x * x / 20.0 + y * y, [x / 10.0, 2.0 * y])
}

/// Steps `opt` on f from (-7, 2) and returns the step at which (x, y) first came within 0.1
/// of the origin and the distance after `steps` steps.
fn minimise(opt: &mut dyn Optimizer, steps: usize) -> (Option<usize>, f32) {
    let mut model = Toy::new().with("xy", ParamKind::Weight, &[-7.0, 2.0]);
    let mut first = None;
    for step in 1..=steps {
        let (_, g) = seed_function(&model.value("xy"));
        model.set_grad("xy", &g);
        opt.step(&mut model).unwrap();
        let p = model.value("xy");
        if first.is_none() && p[0].hypot(p[1]) < 0.1 {
            first = Some(step);
        }
    }
    let p = model.value("xy");
    (first, p[0].hypot(p[1]))
}

#[test]
fn every_optimizer_minimises_the_seed_function() {
    const STEPS: usize = 100;
    for mut opt in all_optimizers() {
        let (first, last) = minimise(&mut opt, STEPS);
        println!(
            "{:<9} first within 0.1 at step {first:?}, distance after {STEPS}: {last:.2e}",
            opt.name()
        );
        assert!(
            first.is_some(),
            "{} never came within 0.1 of the origin",
            opt.name()
        );
        assert!(last < 0.1, "{} ended {last} from the origin", opt.name());
    }
}

#[test]
fn sgd_descends_where_the_seed_sign_climbs() {
    let lr = 0.1;
    let start = [-7.0f32, 2.0];
    let (loss0, _) = seed_function(&start);

    // The seed's SGD.update: params + lr * grads.
    let mut p = start;
    for _ in 0..10 {
        let (_, g) = seed_function(&p);
        p = [p[0] + lr * g[0], p[1] + lr * g[1]];
    }
    let (seed_loss, _) = seed_function(&p);
    assert!(
        seed_loss > loss0,
        "the seed's sign should climb: {loss0} -> {seed_loss}"
    );

    let mut model = Toy::new().with("xy", ParamKind::Weight, &start);
    let mut opt = Sgd::new(lr);
    for _ in 0..10 {
        let (_, g) = seed_function(&model.value("xy"));
        model.set_grad("xy", &g);
        opt.step(&mut model).unwrap();
    }
    let (loss, _) = seed_function(&model.value("xy"));
    assert!(loss < loss0, "Sgd should descend: {loss0} -> {loss}");
}

fn decay_model() -> Toy {
    Toy::new()
        .with("fc.weight", ParamKind::Weight, &[1.0, -2.0])
        .with("fc.bias", ParamKind::Bias, &[1.0, -2.0])
        .with("bn.gamma", ParamKind::Norm, &[1.0, -2.0])
}

#[test]
fn weight_decay_leaves_biases_norm_params_and_buffers_alone() {
    let mut optimizers = all_optimizers();
    optimizers.push(Box::new(AdamW::new(0.1).with_decoupled_weight_decay(0.5)));
    for mut opt in optimizers {
        opt.set_weight_decay(0.5);
        // Zero gradients: anything that moves, moves because of weight decay.
        let mut model = decay_model();
        opt.step(&mut model).unwrap();
        let name = opt.name();
        assert_eq!(model.value("fc.bias"), [1.0, -2.0], "{name} decayed a bias");
        assert_eq!(
            model.value("bn.gamma"),
            [1.0, -2.0],
            "{name} decayed a norm parameter"
        );
        assert_eq!(model.buffer, vector(&[3.0, 4.0]), "{name} touched a buffer");
        let w = model.value("fc.weight");
        assert!(
            w[0] < 1.0 && w[1] > -2.0,
            "{name} did not shrink the weight: {w:?}"
        );
    }
}

#[test]
fn adamw_decoupled_decay_leaves_biases_and_norm_params_alone() {
    let mut opt = AdamW::new(0.1).with_decoupled_weight_decay(0.5);
    let mut model = decay_model();
    opt.step(&mut model).unwrap();
    // Zero gradient, so Adam's own update is 0 / (0 + eps) = 0; only the decay moves W:
    // W *= 1 - lr * rate = 1 - 0.05.
    assert_eq!(model.value("fc.weight"), [0.95, -1.9]);
    assert_eq!(model.value("fc.bias"), [1.0, -2.0]);
    assert_eq!(model.value("bn.gamma"), [1.0, -2.0]);
}

#[test]
fn l2_weight_decay_adds_lambda_w_to_the_gradient_and_the_penalty_counts_weights_only() {
    let mut model = decay_model();
    model.set_grad("fc.weight", &[1.0, 1.0]);
    model.set_grad("fc.bias", &[1.0, 1.0]);
    let mut opt = Sgd::new(0.1).with_weight_decay(0.5);
    // 0.5 * lambda * sum W^2 = 0.5 * 0.5 * (1 + 4) = 1.25; the bias and gamma are not counted.
    assert_eq!(opt.l2_penalty(&mut model), 1.25);
    assert_eq!(l2_penalty(&mut model, 0.0), 0.0);
    opt.step(&mut model).unwrap();
    // W -= lr * (g + lambda * W) = [1 - 0.1 * (1 + 0.5), -2 - 0.1 * (1 - 1)] = [0.85, -2].
    let w = model.value("fc.weight");
    assert!((w[0] - 0.85).abs() < 1e-7 && w[1] == -2.0, "{w:?}");
    // The bias takes its plain gradient step: 1 - 0.1 * 1, -2 - 0.1 * 1.
    assert_eq!(model.value("fc.bias"), [0.9, -2.1]);
}

#[test]
fn clipping_scales_by_the_global_norm_after_weight_decay() {
    let mut model = Toy::new()
        .with("w", ParamKind::Weight, &[1.0])
        .with("b", ParamKind::Bias, &[0.0]);
    model.set_grad("w", &[2.0]);
    model.set_grad("b", &[4.0]);
    // With lambda = 1 the weight's gradient is 2 + 1 * 1 = 3; the global norm is sqrt(3^2 + 4^2)
    // = 5. Clipping to 1 scales by 1/5: W -= 1 * 3/5, b -= 1 * 4/5.
    assert_eq!(global_grad_norm(&mut model, 1.0), 5.0);
    let mut opt = Sgd::new(1.0).with_weight_decay(1.0).with_clip_grad_norm(1.0);
    opt.step(&mut model).unwrap();
    assert_eq!(model.value("w"), [1.0 - 0.6]);
    assert_eq!(model.value("b"), [-0.8]);

    // Within the limit nothing is scaled: w = 0.4 gets 1 + 0.4 = 1.4; norm sqrt(1.4^2 + 1) < 10.
    model.set_grad("w", &[1.0]);
    model.set_grad("b", &[1.0]);
    opt.set_clip_grad_norm(Some(10.0));
    opt.step(&mut model).unwrap();
    let w = model.value("w");
    assert!((w[0] - (0.4 - 1.4)).abs() < 1e-6, "{w:?}");
    assert_eq!(model.value("b"), [-1.8]);
}

#[test]
fn clipping_rejects_non_finite_gradients_without_updating() {
    let mut model = Toy::new()
        .with("a", ParamKind::Weight, &[1.0])
        .with("b", ParamKind::Weight, &[1.0]);
    model.set_grad("a", &[1.0]);
    model.set_grad("b", &[f32::NAN]);
    let mut opt = Adam::new(0.1).with_clip_grad_norm(1.0);
    let err = opt.step(&mut model).unwrap_err().to_string();
    assert!(err.contains("`b`") && err.contains("NaN"), "{err}");
    assert_eq!(
        model.value("a"),
        [1.0],
        "no parameter may change when a step fails"
    );
}

/// Each parameter's trajectory in a two-parameter model equals its trajectory alone: state is
/// per name, never shared, even between parameters of the same shape.
#[test]
fn state_is_isolated_per_parameter_name() {
    let grads_a = [[1.0, -2.0], [0.5, 1.0], [-1.0, 0.5]];
    let grads_b = [[-3.0, 0.25], [2.0, 2.0], [0.0, -1.0]];
    for (mut both, (mut alone_a, mut alone_b)) in all_optimizers()
        .into_iter()
        .zip(all_optimizers().into_iter().zip(all_optimizers()))
    {
        let mut model =
            Toy::new()
                .with("a", ParamKind::Weight, &[1.0, 2.0])
                .with("b", ParamKind::Weight, &[1.0, 2.0]);
        let mut a = Toy::new().with("a", ParamKind::Weight, &[1.0, 2.0]);
        let mut b = Toy::new().with("b", ParamKind::Weight, &[1.0, 2.0]);
        for (step, (ga, gb)) in grads_a.iter().zip(&grads_b).enumerate() {
            model.set_grad("a", ga);
            model.set_grad("b", gb);
            // Visiting order must not matter either: swap it every other step.
            if step % 2 == 1 {
                model.params.reverse();
            }
            both.step(&mut model).unwrap();
            a.set_grad("a", ga);
            alone_a.step(&mut a).unwrap();
            b.set_grad("b", gb);
            alone_b.step(&mut b).unwrap();
        }
        assert_eq!(
            model.value("a"),
            a.value("a"),
            "{}: state leaked into `a`",
            both.name()
        );
        assert_eq!(
            model.value("b"),
            b.value("b"),
            "{}: state leaked into `b`",
            both.name()
        );
    }
}

#[test]
fn a_shape_change_is_an_error_naming_the_parameter_and_updates_nothing() {
    for mut opt in all_optimizers() {
        let mut model = Toy::new().with("fc1.bias", ParamKind::Bias, &[1.0]).with(
            "fc2.weight",
            ParamKind::Weight,
            &[1.0, 2.0],
        );
        model.set_grad("fc1.bias", &[1.0]);
        opt.step(&mut model).unwrap();
        let bias = model.value("fc1.bias");
        model.params[1] = ToyParam {
            name: "fc2.weight".into(),
            value: vector(&[1.0, 2.0, 3.0]),
            grad: vector(&[1.0, 1.0, 1.0]),
            kind: ParamKind::Weight,
        };
        let err = opt.step(&mut model).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::Optim(OptimError::ShapeChanged { .. })),
            "{msg}"
        );
        assert!(
            msg.contains("`fc2.weight`") && msg.contains("[3]") && msg.contains("[2]"),
            "{msg}"
        );
        assert_eq!(
            model.value("fc1.bias"),
            bias,
            "{}: a failed step updated a parameter",
            opt.name()
        );
        assert_eq!(model.value("fc2.weight"), [1.0, 2.0, 3.0]);
        // After reset the new shape gets fresh state.
        opt.reset();
        opt.step(&mut model).unwrap();
    }
}

#[test]
fn two_parameters_with_one_name_are_an_error() {
    // On the first step (no state yet) and on a later one (state exists).
    let mut model = Toy::new()
        .with("w", ParamKind::Weight, &[1.0])
        .with("w", ParamKind::Bias, &[1.0]);
    let mut opt = Momentum::new(0.1);
    let err = opt.step(&mut model).unwrap_err().to_string();
    assert!(err.contains("both named `w`"), "{err}");

    let mut model = Toy::new()
        .with("a", ParamKind::Weight, &[1.0])
        .with("b", ParamKind::Bias, &[1.0]);
    model.set_grad("a", &[1.0]);
    opt.step(&mut model).unwrap();
    opt.step(&mut model).unwrap();
    model.params[1].name = "a".into();
    let err = opt.step(&mut model).unwrap_err().to_string();
    assert!(err.contains("both named `a`"), "{err}");
    assert_eq!(
        model.params[0].value,
        vector(&[1.0 - 0.1 - 0.19]),
        "a failed step updated a parameter"
    );
}

#[test]
#[should_panic(expected = "w: gradient of shape [1] for a parameter of shape [2]")]
fn a_gradient_of_the_wrong_shape_is_a_bug_named_by_the_visitor() {
    let mut model = Toy::new().with("w", ParamKind::Weight, &[1.0, 2.0]);
    model.set_grad("w", &[1.0]);
    let _ = Sgd::new(0.1).step(&mut model);
}

#[test]
fn the_learning_rate_can_change_between_steps() {
    let mut model = Toy::new().with("w", ParamKind::Weight, &[1.0]);
    model.set_grad("w", &[1.0]);
    let mut opt = Sgd::new(0.5);
    opt.step(&mut model).unwrap();
    opt.set_learning_rate(0.25);
    assert_eq!(opt.learning_rate(), 0.25);
    opt.step(&mut model).unwrap();
    // 1 - 0.5 - 0.25
    assert_eq!(model.value("w"), [0.25]);
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("nn-optim-{}-{name}.json", std::process::id()))
}

/// Fresh optimizers of each algorithm with hyper-parameters unlike `all_optimizers`', so that a
/// restore must bring back the saved ones for the next step to match.
fn all_optimizers_other_settings() -> Vec<Box<dyn Optimizer>> {
    vec![
        Box::new(Sgd::new(7.0)),
        Box::new(Momentum::new(7.0).with_momentum(0.1)),
        Box::new(Nesterov::new(7.0).with_momentum(0.1)),
        Box::new(AdaGrad::new(7.0).with_eps(0.5)),
        Box::new(RmsProp::new(7.0).with_decay(0.5)),
        Box::new(Adam::new(7.0).with_betas(0.5, 0.5)),
        Box::new(AdamW::new(7.0).with_decoupled_weight_decay(0.5)),
    ]
}

#[test]
fn save_and_restore_gives_the_same_next_step_as_never_stopping() {
    let grads = [[1.0, -2.0], [0.5, 1.0], [-1.0, 0.5], [0.25, 3.0]];
    for (mut opt, mut resumed) in all_optimizers().into_iter().zip(all_optimizers_other_settings()) {
        opt.set_weight_decay(0.01);
        opt.set_clip_grad_norm(Some(2.0));
        let mut model = Toy::new().with("fc.weight", ParamKind::Weight, &[1.0, 2.0]).with(
            "fc.bias",
            ParamKind::Bias,
            &[0.5, -0.5],
        );
        for g in &grads[..3] {
            model.set_grad("fc.weight", g);
            model.set_grad("fc.bias", g);
            opt.step(&mut model).unwrap();
        }
        opt.set_learning_rate(opt.learning_rate() * 0.5);
        let path = temp_path(opt.name());
        let saved = opt.state();
        saved.save_json(&path).unwrap();
        let mut copy = model.clone();

        // Uninterrupted run.
        model.set_grad("fc.weight", &grads[3]);
        model.set_grad("fc.bias", &grads[3]);
        opt.step(&mut model).unwrap();

        // Resumed from the file.
        let state = OptimizerState::load_json(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(state, saved, "{}: the JSON round trip must be exact", opt.name());
        resumed.load_state(&state).unwrap();
        assert_eq!(resumed.learning_rate(), opt.learning_rate());
        assert_eq!(resumed.clip_grad_norm(), Some(2.0));
        copy.set_grad("fc.weight", &grads[3]);
        copy.set_grad("fc.bias", &grads[3]);
        resumed.step(&mut copy).unwrap();

        assert_eq!(
            copy.value("fc.weight"),
            model.value("fc.weight"),
            "{} weight",
            opt.name()
        );
        assert_eq!(
            copy.value("fc.bias"),
            model.value("fc.bias"),
            "{} bias",
            opt.name()
        );
        assert_eq!(
            resumed.state(),
            opt.state(),
            "{} state after the step",
            opt.name()
        );
    }
}

#[test]
fn restored_state_must_match_the_model_names() {
    let mut opt = Momentum::new(0.1);
    let mut model =
        Toy::new()
            .with("fc1.weight", ParamKind::Weight, &[1.0])
            .with("fc1.bias", ParamKind::Bias, &[1.0]);
    opt.step(&mut model).unwrap();
    let state = opt.state();

    let mut other =
        Toy::new()
            .with("fc1.weight", ParamKind::Weight, &[1.0])
            .with("fc2.bias", ParamKind::Bias, &[1.0]);
    let mut resumed = Momentum::new(0.1);
    resumed.load_state(&state).unwrap();
    let err = resumed.step(&mut other).unwrap_err().to_string();
    assert!(
        err.contains("no entry for `fc2.bias`") && err.contains("no parameter `fc1.bias`"),
        "{err}"
    );
    assert_eq!(other.value("fc1.weight"), [1.0]);

    // The matching model resumes.
    resumed.step(&mut model).unwrap();
}

#[test]
fn invalid_state_is_rejected_and_changes_nothing() {
    let mut model = Toy::new().with("w", ParamKind::Weight, &[1.0, 2.0]);
    model.set_grad("w", &[1.0, 1.0]);
    let mut adam = Adam::new(0.1);
    adam.step(&mut model).unwrap();
    let good = adam.state();

    let mut target = Adam::new(0.5);
    let before = target.state();

    let err = Sgd::new(0.1).load_state(&good).unwrap_err().to_string();
    assert!(err.contains("saved by Adam") && err.contains("into Sgd"), "{err}");
    assert!(
        AdamW::new(0.1).load_state(&good).is_err(),
        "Adam state must not load into AdamW"
    );

    let mut short = good.clone();
    short
        .params
        .get_mut("w")
        .unwrap()
        .slots
        .get_mut("v")
        .unwrap()
        .pop();
    let err = target.load_state(&short).unwrap_err().to_string();
    assert!(
        err.contains("`v`") && err.contains("`w`") && err.contains("1 values"),
        "{err}"
    );

    let mut no_m = good.clone();
    no_m.params.get_mut("w").unwrap().slots.remove("m");
    assert!(target
        .load_state(&no_m)
        .unwrap_err()
        .to_string()
        .contains("slots"));

    let mut bad_beta = good.clone();
    bad_beta.hyperparameters.insert("beta1".into(), 1.5.into());
    let err = target.load_state(&bad_beta).unwrap_err().to_string();
    assert!(err.contains("beta1") && err.contains("1.5"), "{err}");

    let mut unknown = good.clone();
    unknown.hyperparameters.insert("momentum".into(), 0.9.into());
    assert!(target
        .load_state(&unknown)
        .unwrap_err()
        .to_string()
        .contains("`momentum`"));

    let mut missing = good.clone();
    missing.hyperparameters.remove("learning_rate");
    assert!(target
        .load_state(&missing)
        .unwrap_err()
        .to_string()
        .contains("`learning_rate`"));

    assert_eq!(
        target.state(),
        before,
        "a rejected state must leave the optimizer unchanged"
    );
    assert_eq!(target.learning_rate(), 0.5);
}

#[test]
fn state_files_report_bad_content_and_refuse_nan() {
    let path = temp_path("garbage");
    std::fs::write(&path, b"{ not json").unwrap();
    let err = OptimizerState::load_json(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.contains(&*path.to_string_lossy()) && err.contains("not a valid optimizer state"),
        "{err}"
    );

    let missing = temp_path("missing");
    let err = OptimizerState::load_json(&missing).unwrap_err().to_string();
    assert!(
        err.contains("reading") && err.contains(&*missing.to_string_lossy()),
        "{err}"
    );

    let mut model = Toy::new().with("w", ParamKind::Weight, &[1.0]);
    model.set_grad("w", &[f32::INFINITY]);
    let mut opt = Momentum::new(0.1);
    opt.step(&mut model).unwrap();
    let path = temp_path("nan");
    let err = opt.state().save_json(&path).unwrap_err().to_string();
    assert!(err.contains("`w`") && err.contains("NaN or infinity"), "{err}");
    assert!(!path.exists(), "nothing written for a diverged state");
}

#[test]
fn an_optimizer_without_state_saves_and_restores_an_empty_state() {
    let opt = Adam::default();
    let state = opt.state();
    assert!(state.params.is_empty());
    let mut resumed = Adam::new(0.1);
    resumed.load_state(&state).unwrap();
    assert_eq!(resumed.learning_rate(), 1e-3);
    // No names to check against: any model can start.
    let mut model = Toy::new().with("w", ParamKind::Weight, &[1.0]);
    resumed.step(&mut model).unwrap();
}

#[test]
#[should_panic(expected = "Momentum: momentum must be in [0, 1), got 1")]
fn invalid_hyper_parameters_in_code_panic_with_the_algorithm_name() {
    let _ = Momentum::new(0.1).with_momentum(1.0);
}

#[test]
#[should_panic(expected = "Adam: learning rate must be finite and >= 0, got NaN")]
fn a_nan_learning_rate_panics() {
    Adam::default().set_learning_rate(f32::NAN);
}

#[test]
fn a_state_with_an_impossibly_large_shape_is_an_error_not_a_panic() {
    let mut state = Sgd::new(0.1).state();
    let record = ParamRecord {
        shape: vec![1 << 62, 8],
        step: 1,
        slots: std::collections::BTreeMap::new(),
    };
    state.params.insert("w".to_string(), record);
    let err = Sgd::new(0.1).load_state(&state).unwrap_err().to_string();
    assert!(err.contains("`w`") && err.contains("too large"), "{err}");
}

#[test]
fn a_save_does_not_trip_over_a_leftover_temporary_name() {
    // Another writer's (or a crashed save's) `<name>.tmp`, here a directory that cannot be
    // overwritten: each save uses a temporary name of its own.
    let path = temp_path("leftover");
    let stale = path.with_extension("json.tmp");
    std::fs::create_dir_all(&stale).unwrap();
    let result = Sgd::new(0.1).state().save_json(&path);
    std::fs::remove_dir(&stale).unwrap();
    result.unwrap();
    assert_eq!(OptimizerState::load_json(&path).unwrap(), Sgd::new(0.1).state());
    std::fs::remove_file(&path).unwrap();
}

/// The file format is the one written before the optimizers became rules (hyper-parameters in
/// one flat map, f32 values in their shortest form): such a file loads, resumes, and the state
/// serialises back to the same bytes.
#[test]
fn a_state_file_in_the_established_format_loads_and_serialises_to_the_same_bytes() {
    let text = r#"{"algorithm":"AdamW","hyperparameters":{"beta1":0.9,"beta2":0.999,"clip_grad_norm":5.0,"decoupled_weight_decay":0.01,"eps":1e-8,"learning_rate":0.0025,"weight_decay":0.0001},"params":{"fc.weight":{"shape":[2],"step":3,"slots":{"m":[0.1,-0.2],"v":[0.001,0.004]}}}}"#;
    let path = temp_path("established");
    std::fs::write(&path, text).unwrap();
    let state = OptimizerState::load_json(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut opt = AdamW::default();
    opt.load_state(&state).unwrap();
    assert_eq!(
        (opt.learning_rate(), opt.weight_decay(), opt.clip_grad_norm()),
        (0.0025, 1e-4, Some(5.0))
    );
    assert_eq!(
        (opt.betas(), opt.eps(), opt.decoupled_weight_decay()),
        ((0.9, 0.999), 1e-8, 0.01)
    );
    assert_eq!(serde_json::to_string(&opt.state()).unwrap(), text);
    let mut model = Toy::new().with("fc.weight", ParamKind::Weight, &[1.0, 2.0]);
    opt.step(&mut model).unwrap();
    assert_eq!(opt.state().params["fc.weight"].step, 4);
}

/// Shapes whose element count is 0 yet which ndarray refuses: the product of the non-zero axis
/// lengths must fit in `isize`.
#[test]
fn a_state_with_a_zero_sized_shape_ndarray_cannot_hold_is_an_error_not_a_panic() {
    for axis in ["18446744073709551615", "9223372036854775808"] {
        let text = format!(
            r#"{{"algorithm":"Momentum","hyperparameters":{{"learning_rate":0.01,"momentum":0.9,"weight_decay":0.0}},"params":{{"w":{{"shape":[0,{axis}],"step":1,"slots":{{"velocity":[]}}}}}}}}"#
        );
        let state: OptimizerState = serde_json::from_str(&text).unwrap();
        let mut opt = Momentum::new(0.5);
        let err = opt.load_state(&state).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::Optim(OptimError::InvalidState { .. })),
            "{msg}"
        );
        assert!(msg.contains("`w`") && msg.contains(axis), "{msg}");
        assert_eq!(opt.learning_rate(), 0.5, "a refused state changed the optimizer");
    }
}

/// `state` with the step count of its only parameter `w` replaced.
fn with_step(mut state: OptimizerState, step: u64) -> OptimizerState {
    state.params.get_mut("w").unwrap().step = step;
    state
}

#[test]
fn a_step_count_that_cannot_be_continued_is_refused_and_the_limit_is_an_error_not_an_overflow() {
    let mut model = Toy::new().with("w", ParamKind::Weight, &[1.0, 2.0]);
    model.set_grad("w", &[1.0, -1.0]);
    let mut adam = Adam::new(0.1);
    adam.step(&mut model).unwrap();
    let good = adam.state();

    for step in [u64::MAX, MAX_STEP] {
        let mut opt = Adam::new(0.5);
        let err = opt
            .load_state(&with_step(good.clone(), step))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`w`") && err.contains(&step.to_string()) && err.contains(&MAX_STEP.to_string()),
            "{err}"
        );
        assert_eq!(opt.learning_rate(), 0.5, "a refused state changed the optimizer");
    }

    // The last count that can be continued: one step reaches the limit, the next is refused
    // before anything moves.
    let mut opt = Adam::new(0.5);
    opt.load_state(&with_step(good, MAX_STEP - 1)).unwrap();
    opt.step(&mut model).unwrap();
    assert_eq!(opt.state().params["w"].step, MAX_STEP);
    let before = (model.value("w"), opt.state());
    let err = opt.step(&mut model).unwrap_err().to_string();
    assert!(
        err.contains("`w`") && err.contains(&MAX_STEP.to_string()),
        "{err}"
    );
    assert_eq!(
        (model.value("w"), opt.state()),
        before,
        "a refused step changed something"
    );
}

/// State that only corruption can produce: a value that is not finite (a JSON `1e39` reads as
/// infinity), or a negative squared-gradient average. Each is refused, naming the parameter,
/// the slot and the index, and leaves the optimizer as it was.
#[test]
fn slot_values_that_only_corruption_produces_are_refused_naming_parameter_slot_and_index() {
    let json = |algorithm: &str, hyper: &str, slots: &str| {
        let text = format!(
            r#"{{"algorithm":"{algorithm}","hyperparameters":{{"learning_rate":0.01,"weight_decay":0.0{hyper}}},"params":{{"w":{{"shape":[2],"step":1,"slots":{{{slots}}}}}}}}}"#
        );
        serde_json::from_str::<OptimizerState>(&text).unwrap()
    };
    let adam = r#","beta1":0.9,"beta2":0.999,"eps":1e-8"#;
    let cases: Vec<(Box<dyn Optimizer>, OptimizerState, &str)> = vec![
        (
            Box::new(Momentum::new(0.5)),
            json("Momentum", r#","momentum":0.9"#, r#""velocity":[0.5,1e39]"#),
            "slot `velocity` of parameter `w` holds inf at index 1",
        ),
        (
            Box::new(Adam::new(0.5)),
            json("Adam", adam, r#""m":[0.1,0.2],"v":[-0.001,0.004]"#),
            "slot `v` of parameter `w` holds -0.001 at index 0",
        ),
        (
            Box::new(Adam::new(0.5)),
            json("Adam", adam, r#""m":[-1e39,0.2],"v":[0.001,0.004]"#),
            "slot `m` of parameter `w` holds -inf at index 0",
        ),
        (
            Box::new(AdaGrad::new(0.5)),
            json("AdaGrad", r#","eps":1e-7"#, r#""h":[1.0,-4.0]"#),
            "slot `h` of parameter `w` holds -4 at index 1",
        ),
        (
            Box::new(RmsProp::new(0.5)),
            json("RmsProp", r#","decay":0.99,"eps":1e-7"#, r#""h":[-0.25,4.0]"#),
            "slot `h` of parameter `w` holds -0.25 at index 0",
        ),
    ];
    for (mut opt, state, expected) in cases {
        // One step first, so that there is state a refused load must keep.
        let mut model = Toy::new().with("w", ParamKind::Weight, &[1.0, 2.0]);
        model.set_grad("w", &[1.0, -1.0]);
        opt.step(&mut model).unwrap();
        let before = opt.state();
        let mut twin = model.clone();

        let err = opt.load_state(&state).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::Optim(OptimError::InvalidState { .. })),
            "{msg}"
        );
        assert!(msg.contains(expected), "{}: {msg}", opt.name());
        assert_eq!(
            opt.state(),
            before,
            "{}: a refused state changed the optimizer",
            opt.name()
        );

        // The next step is the one the optimizer would have taken without the refused load.
        opt.step(&mut model).unwrap();
        let mut reference: Box<dyn Optimizer> = match opt.name() {
            "Momentum" => Box::new(Momentum::new(0.5)),
            "Adam" => Box::new(Adam::new(0.5)),
            "AdaGrad" => Box::new(AdaGrad::new(0.5)),
            _ => Box::new(RmsProp::new(0.5)),
        };
        reference.load_state(&before).unwrap();
        reference.step(&mut twin).unwrap();
        assert_eq!(model.value("w"), twin.value("w"), "{}", opt.name());
    }

    // Negative first moments and velocities are ordinary.
    let mut opt = Adam::new(0.5);
    opt.load_state(&json("Adam", adam, r#""m":[-0.1,0.2],"v":[0.0,0.004]"#))
        .unwrap();
}

/// Issue 23.8: finite slot values that overflow on first use (a Nesterov velocity of 3e38, an
/// AdamW first moment of 1e33 where the gradient is 0) passed `load_state`, and the first step
/// made the weights infinite. That step is a trial: refused, naming the parameter, changing
/// nothing.
#[test]
fn a_restored_state_that_overflows_on_its_first_step_is_refused_by_that_step() {
    let json = |algorithm: &str, hyper: &str, slots: &str| {
        let text = format!(
            r#"{{"algorithm":"{algorithm}","hyperparameters":{{"learning_rate":0.01,"weight_decay":0.0{hyper}}},"params":{{"b":{{"shape":[2],"step":3,"slots":{{{slots}}}}},"w":{{"shape":[2],"step":3,"slots":{{{slots}}}}}}}}}"#
        );
        serde_json::from_str::<OptimizerState>(&text).unwrap()
    };
    let adam = r#","beta1":0.9,"beta2":0.999,"eps":1e-8,"decoupled_weight_decay":0.01"#;
    let cases: Vec<(Box<dyn Optimizer>, OptimizerState, &str)> = vec![
        (
            Box::new(Nesterov::new(0.5)),
            json("Nesterov", r#","momentum":0.9"#, r#""velocity":[1.0,3e38]"#),
            "its value",
        ),
        (
            Box::new(AdamW::new(0.5)),
            // No gradient (a unit that never fires): m_hat / eps = 2.9e33 / 1e-8.
            json("AdamW", adam, r#""m":[1e33,0.0],"v":[0.0,0.0]"#),
            "its value",
        ),
        (
            Box::new(Adam::new(0.5)),
            // m_hat = 2.7e38 / (1 - 0.9^4) is beyond f32.
            json(
                "Adam",
                &adam.replace(r#","decoupled_weight_decay":0.01"#, ""),
                r#""m":[3e38,0.0],"v":[1.0,0.0]"#,
            ),
            "its value",
        ),
    ];
    for (mut opt, state, what) in cases {
        let name = opt.name();
        let mut model =
            Toy::new()
                .with("b", ParamKind::Bias, &[0.5, 0.5])
                .with("w", ParamKind::Weight, &[1.0, 2.0]);
        model.set_grad("b", &[0.0, 0.1]);
        model.set_grad("w", &[1.0, -1.0]);
        let mut twin = model.clone();
        opt.load_state(&state).unwrap_or_else(|e| panic!("{name}: {e}"));
        let before = opt.state();
        for _ in 0..2 {
            let err = opt.step(&mut model).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, Error::Optim(OptimError::NonFiniteUpdate { .. })),
                "{name}: {msg}"
            );
            assert!(
                msg.contains(&format!("would make {what} of parameter `b`")),
                "{name}: {msg}"
            );
            assert_eq!(model.value("w"), twin.value("w"), "{name}: a weight changed");
            assert_eq!(model.value("b"), twin.value("b"), "{name}: a bias changed");
            assert_eq!(opt.state(), before, "{name}: the optimizer's state changed");
        }
        // Starting afresh is one call away.
        opt.reset();
        opt.step(&mut model).unwrap();
        assert!(model.value("w").iter().all(|v| v.is_finite()));
    }
}

/// The trial step after a restore computes what an ordinary step computes: the same bits.
#[test]
fn the_trial_step_after_a_restore_is_the_step_an_uninterrupted_run_takes() {
    for mut opt in [
        Box::new(Adam::new(0.1)) as Box<dyn Optimizer>,
        Box::new(Nesterov::new(0.1)),
        Box::new(RmsProp::new(0.1).with_clip_grad_norm(0.5)),
    ] {
        let mut model =
            Toy::new()
                .with("w", ParamKind::Weight, &[1.0, 2.0])
                .with("b", ParamKind::Bias, &[0.5, -0.5]);
        model.set_grad("w", &[1.0, -2.0]);
        model.set_grad("b", &[0.5, 0.25]);
        opt.step(&mut model).unwrap();
        let (state, mut twin) = (opt.state(), model.clone());
        opt.step(&mut model).unwrap();
        let mut resumed: Box<dyn Optimizer> = match opt.name() {
            "Adam" => Box::new(Adam::new(0.7)),
            "Nesterov" => Box::new(Nesterov::new(0.7)),
            _ => Box::new(RmsProp::new(0.7)),
        };
        resumed.load_state(&state).unwrap();
        resumed.step(&mut twin).unwrap();
        assert_eq!(model.value("w"), twin.value("w"), "{}", opt.name());
        assert_eq!(model.value("b"), twin.value("b"), "{}", opt.name());
        assert_eq!(opt.state(), resumed.state(), "{}", opt.name());
    }
}
