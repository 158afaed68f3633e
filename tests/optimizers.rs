//! Optimizers as a user meets them: a hand-written layer with forward, backward and visit,
//! trained through `Box<dyn Optimizer>` with every algorithm from the prelude, and an algorithm
//! of the user's own written through the public `UpdateRule` trait.

use ndarray::{ArrayD, IxDyn, Zip};
use nn::optim::{check_positive, Optim, OptimizerState, Slot, Update, UpdateRule};
use nn::prelude::*;
use nn::{ParamKind, Visitor};
use serde::{Deserialize, Serialize};

/// y = w * x + b for scalar features, batch first ([n, 1] in, [n, 1] out).
struct Affine {
    w: Tensor,
    b: Tensor,
    grad_w: Tensor,
    grad_b: Tensor,
    input: Option<Tensor>,
}

impl Affine {
    fn new() -> Self {
        let zero = || ArrayD::zeros(IxDyn(&[1]));
        Affine {
            w: zero(),
            b: zero(),
            grad_w: zero(),
            grad_b: zero(),
            input: None,
        }
    }
}

impl Layer for Affine {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let y = &x * self.w[0] + self.b[0];
        if mode == Mode::Train {
            self.input = Some(x);
        }
        y
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        let x = self.input.take().expect("backward after a Train forward");
        self.grad_w[0] = (&x * &grad).sum();
        self.grad_b[0] = grad.sum();
        grad * self.w[0]
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param("weight", &mut self.w, &mut self.grad_w, ParamKind::Weight);
        v.param("bias", &mut self.b, &mut self.grad_b, ParamKind::Bias);
    }
}

/// Mean squared error of `model` on y = 3x - 1 over x in [-1, 1], after `steps` full-batch steps.
fn fit(opt: &mut dyn Optimizer, steps: usize) -> f32 {
    let xs: Vec<f32> = (0..21).map(|i| i as f32 / 10.0 - 1.0).collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[21, 1]), xs).unwrap();
    let target = &x * 3.0 - 1.0;
    let mut model = Affine::new();
    let mut loss = f32::INFINITY;
    for _ in 0..steps {
        let y = model.forward(x.clone(), Mode::Train);
        let diff = y - &target;
        loss = diff.mapv(|d| d * d).mean().unwrap();
        model.backward(diff * (2.0 / 21.0));
        opt.step(&mut model).unwrap();
    }
    loss
}

#[test]
fn every_optimizer_fits_a_line_through_a_hand_written_layer() {
    let optimizers: Vec<Box<dyn Optimizer>> = vec![
        Box::new(Sgd::new(0.3)),
        Box::new(Momentum::new(0.05)),
        Box::new(Nesterov::new(0.05)),
        Box::new(AdaGrad::new(0.5)),
        Box::new(RmsProp::new(0.02)),
        Box::new(Adam::new(0.05)),
        Box::new(AdamW::new(0.05).with_decoupled_weight_decay(0.0)),
    ];
    for mut opt in optimizers {
        let loss = fit(&mut opt, 500);
        assert!(loss < 1e-4, "{} left a mean squared error of {loss}", opt.name());
    }
}

/// A user's algorithm: steps along the running mean of the gradients applied so far, times
/// `gain`. It uses everything a rule can: a hyper-parameter, a slot and the step count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct MeanGrad {
    gain: f32,
}

impl UpdateRule for MeanGrad {
    const NAME: &'static str = "MeanGrad";
    const SLOTS: &'static [Slot] = &[Slot::new("sum")];

    fn validate(&self) -> Result<(), String> {
        check_positive("gain", self.gain)
    }

    fn update(&self, u: Update<'_>) {
        let (rate, eff, n) = (u.lr * self.gain, u.effective, u.step as f32);
        let [sum] = u.slots else {
            unreachable!("MeanGrad has one slot")
        };
        Zip::from(u.value).and(u.grad).and(sum).for_each(|w, &g, s| {
            *s += eff.at(g, *w);
            *w -= rate * *s / n;
        });
    }
}

/// A weight `w` and a bias `b` of one value each, with gradients the test sets.
#[derive(Clone, Debug, PartialEq)]
struct Pair {
    w: Tensor,
    b: Tensor,
    grad_w: Tensor,
    grad_b: Tensor,
}

impl Pair {
    fn new(w: f32, b: f32) -> Self {
        let t = |v: f32| ArrayD::from_elem(IxDyn(&[1]), v);
        Pair {
            w: t(w),
            b: t(b),
            grad_w: t(0.0),
            grad_b: t(0.0),
        }
    }
    fn set_grads(&mut self, w: f32, b: f32) {
        self.grad_w[0] = w;
        self.grad_b[0] = b;
    }
    fn values(&self) -> (f32, f32) {
        (self.w[0], self.b[0])
    }
}

impl Layer for Pair {
    fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor {
        x
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        grad
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        v.param("w", &mut self.w, &mut self.grad_w, ParamKind::Weight);
        v.param("b", &mut self.b, &mut self.grad_b, ParamKind::Bias);
    }
}

#[test]
fn a_custom_rule_gets_weight_decay_clipping_state_and_resuming_from_the_driver() {
    let mut opt = Optim::from_rule(MeanGrad { gain: 2.0 }, 0.5)
        .with_weight_decay(1.0)
        .with_clip_grad_norm(1.0);
    assert_eq!(opt.name(), "MeanGrad");
    let mut model = Pair::new(1.0, 1.0);

    // Step 1: the weight's gradient gains lambda * w = 1 (the bias's does not), so the applied
    // gradients are (3, 4) with global norm 5, clipped to norm 1 by a factor 1/5; the rule then
    // moves each value by lr * gain * sum / step = 1 * (gradient / 5).
    model.set_grads(2.0, 4.0);
    opt.step(&mut model).unwrap();
    let clip = 0.2f32;
    let (w1, b1) = (1.0 - clip * 3.0, 1.0 - clip * 4.0);
    assert_eq!(model.values(), (w1, b1));

    // Step 2, within the clipping limit: sums (clip * 3 + g_w', clip * 4 + g_b), divided by 2.
    model.set_grads(0.25, 0.5);
    opt.step(&mut model).unwrap();
    let (gw, gb) = (0.25 + w1, 0.5);
    let (sw, sb) = (clip * 3.0 + gw, clip * 4.0 + gb);
    let (w2, b2) = (w1 - sw / 2.0, b1 - sb / 2.0);
    assert_eq!(model.values(), (w2, b2));

    // Save, then run step 3 uninterrupted.
    let path = std::env::temp_dir().join(format!("nn-custom-rule-{}.json", std::process::id()));
    opt.state().save_json(&path).unwrap();
    let mut resumed_model = model.clone();
    model.set_grads(-1.0, 0.125);
    opt.step(&mut model).unwrap();

    // Resume into an optimizer built with other settings: the file brings back the rule's
    // typed hyper-parameters, the shared settings, the slots and the step count.
    let state = OptimizerState::load_json(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        text.contains(r#""gain":2.0"#) && text.contains(r#""algorithm":"MeanGrad""#),
        "{text}"
    );
    let mut resumed = Optim::from_rule(MeanGrad { gain: 9.0 }, 0.01);
    resumed.load_state(&state).unwrap();
    assert_eq!(resumed.rule(), &MeanGrad { gain: 2.0 });
    assert_eq!(
        (
            resumed.learning_rate(),
            resumed.weight_decay(),
            resumed.clip_grad_norm()
        ),
        (0.5, 1.0, Some(1.0))
    );
    assert_eq!(state.params["w"].step, 2);
    resumed_model.set_grads(-1.0, 0.125);
    resumed.step(&mut resumed_model).unwrap();
    assert_eq!(
        resumed_model, model,
        "the resumed step differs from the uninterrupted one"
    );
    assert_eq!(resumed.state(), opt.state());

    // As a trait object, like every built-in.
    let mut boxed: Box<dyn Optimizer> = Box::new(resumed);
    boxed.step(&mut resumed_model).unwrap();
}

#[test]
fn a_custom_rule_validates_its_hyper_parameters_in_code_and_in_saved_state() {
    let result = std::panic::catch_unwind(|| Optim::from_rule(MeanGrad { gain: 0.0 }, 0.1));
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert_eq!(message, "MeanGrad: gain must be positive and finite, got 0");

    let mut state = Optim::from_rule(MeanGrad { gain: 1.0 }, 0.1).state();
    state.hyperparameters.insert("gain".into(), (-1.0).into());
    let mut opt = Optim::from_rule(MeanGrad { gain: 1.0 }, 0.1);
    let err = opt.load_state(&state).unwrap_err().to_string();
    assert!(
        err.contains("gain must be positive") && err.contains("-1"),
        "{err}"
    );

    state.hyperparameters.remove("gain");
    let err = opt.load_state(&state).unwrap_err().to_string();
    assert!(err.contains("missing field `gain`"), "{err}");

    state.hyperparameters.insert("gain".into(), 1.0.into());
    state.hyperparameters.insert("gian".into(), 1.0.into());
    let err = opt.load_state(&state).unwrap_err().to_string();
    assert!(err.contains("MeanGrad has no hyper-parameter `gian`"), "{err}");
}

/// A user's rule whose slot holds a sum of squares declares it non-negative, and a restored
/// state breaking that is refused before it can turn a weight into NaN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SquaresOnly {}

impl UpdateRule for SquaresOnly {
    const NAME: &'static str = "SquaresOnly";
    const SLOTS: &'static [Slot] = &[Slot::non_negative("sum_sq")];

    fn update(&self, u: Update<'_>) {
        let (lr, eff) = (u.lr, u.effective);
        let [h] = u.slots else { unreachable!("one slot") };
        Zip::from(u.value).and(u.grad).and(h).for_each(|w, &g, h| {
            let g = eff.at(g, *w);
            *h += g * g;
            *w -= lr * g / (h.sqrt() + 1e-7);
        });
    }
}

#[test]
fn a_custom_rule_declares_a_non_negative_slot_and_load_state_enforces_it() {
    let mut model = Pair::new(1.0, 1.0);
    model.set_grads(1.0, 2.0);
    let mut opt = Optim::from_rule(SquaresOnly {}, 0.1);
    opt.step(&mut model).unwrap();
    let mut state = opt.state();
    state
        .params
        .get_mut("b")
        .unwrap()
        .slots
        .get_mut("sum_sq")
        .unwrap()[0] = -4.0;
    let err = opt.load_state(&state).unwrap_err().to_string();
    assert!(
        err.contains("slot `sum_sq` of parameter `b` holds -4 at index 0") && err.contains("finite and >= 0"),
        "{err}"
    );
    // The refused state left the optimizer alone: the next step is a normal one.
    opt.step(&mut model).unwrap();
    assert!(model.values().0.is_finite() && model.values().1.is_finite());
}
