//! Parameter groups and freezing in [`Optim`]: each group's rate and decay, frozen parameters
//! untouched, the checks against the model, and the groups in saved state.

use super::tests::Toy;
use super::*;
use crate::layer::ParamKind;

/// `body.w`, `body.b`, `head.w`, `head.b`, each of two values, all gradients 1.
fn model() -> Toy {
    let mut toy = Toy::new()
        .with("body.w", ParamKind::Weight, &[1.0, 2.0])
        .with("body.b", ParamKind::Bias, &[0.5, 0.5])
        .with("head.w", ParamKind::Weight, &[3.0, 4.0])
        .with("head.b", ParamKind::Bias, &[0.0, 0.0]);
    for name in ["body.w", "body.b", "head.w", "head.b"] {
        toy.set_grad(name, &[1.0, 1.0]);
    }
    toy
}

#[test]
fn each_group_steps_at_its_own_rate_and_decay() {
    let mut net = model();
    let mut opt = Sgd::new(0.1).group(ParamGroup::prefix("head").lr(0.01).weight_decay(0.5));
    opt.step(&mut net).unwrap();
    // Default group: w - 0.1 * g.
    assert_eq!(net.value("body.w"), [0.9, 1.9]);
    // Head: w - 0.01 * (g + 0.5 * w) for the weight, no decay for the bias.
    assert_eq!(net.value("head.w"), [3.0 - 0.01 * 2.5, 4.0 - 0.01 * 3.0]);
    assert_eq!(net.value("head.b"), [-0.01, -0.01]);
    // The reported penalty counts each group's decay on its weights only.
    assert!((opt.l2_penalty(&mut net) - 0.25 * (2.975f32.powi(2) + 3.97f32.powi(2))).abs() < 1e-5);
}

#[test]
fn frozen_parameters_are_neither_updated_nor_decayed_nor_clipped_nor_given_state() {
    let mut net = model();
    net.set_grad("body.w", &[f32::NAN, 1e30]);
    let mut opt = Adam::new(0.1)
        .with_weight_decay(0.1)
        .with_clip_grad_norm(1.0)
        .freeze("body");
    opt.step(&mut net).unwrap();
    assert_eq!(net.value("body.w"), [1.0, 2.0]);
    assert_eq!(net.value("body.b"), [0.5, 0.5]);
    assert_ne!(net.value("head.w"), [3.0, 4.0]);
    let state = opt.state();
    assert_eq!(state.params.keys().collect::<Vec<_>>(), ["head.b", "head.w"]);
    assert!(opt.is_frozen("body.w") && !opt.is_frozen("head.w"));
    let group = &state.groups[0];
    assert_eq!((group.name.as_str(), group.frozen), ("body", true));
    assert_eq!(group.params, ["body.w", "body.b"]);
}

#[test]
fn a_path_that_names_nothing_is_an_error_listing_the_closest_names() {
    let mut net = model();
    let mut opt = Sgd::new(0.1).freeze("bdy");
    let before = net.value("head.w");
    let err = opt.step(&mut net).unwrap_err().to_string();
    assert_eq!(
        err,
        "parameter group `bdy` names no parameter of the model; the closest layer paths and \
         parameter names are `body`, `body.w`, `body.b` (see `nn::summary` for all)"
    );
    assert_eq!(net.value("head.w"), before, "nothing stepped");
    // Closest first, whatever the model's order.
    let err = Sgd::new(0.1)
        .group(ParamGroup::prefix("hed"))
        .check_model(&mut net)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("are `head`, `body`, `head.w` (see"),
        "closest first: {err:?}"
    );
    let mut opt = Sgd::new(0.1).freeze_where("none", |_| false);
    let err = opt.check_model(&mut net).unwrap_err().to_string();
    assert!(
        err.starts_with("parameter group `none` (a predicate) claims no parameter"),
        "{err}"
    );
}

#[test]
fn two_groups_claiming_one_parameter_is_an_error_naming_it() {
    let mut opt = Sgd::new(0.1)
        .freeze("head")
        .group(ParamGroup::matching("weights", |n| n.ends_with(".w")).lr(0.5));
    let err = opt.check_model(&mut model()).unwrap_err().to_string();
    assert!(
        err.starts_with("parameter `head.w` is claimed by two parameter groups, `head` and `weights`;"),
        "{err}"
    );
}

#[test]
fn saved_state_records_the_groups_and_refuses_another_layout() {
    let mut net = model();
    let build = || {
        Adam::new(0.1)
            .group(ParamGroup::prefix("head").lr(0.01))
            .freeze("body")
    };
    let mut opt = build();
    opt.step(&mut net).unwrap();
    opt.set_group_learning_rate(0, 0.005);
    let state = opt.state();
    // The same layout restores, rates included.
    let mut same = build();
    same.load_state(&state).unwrap();
    assert_eq!(same.param_groups()[0].learning_rate(), 0.005);
    same.check_model(&mut net).unwrap();
    // Another layout is refused and changes nothing.
    for mut other in [
        Adam::new(0.1).group(ParamGroup::prefix("head").lr(0.01)),
        Adam::new(0.1)
            .group(ParamGroup::prefix("head").lr(0.01))
            .group(ParamGroup::prefix("body")),
        Adam::new(0.1).freeze("body").group(ParamGroup::prefix("head")),
    ] {
        let before = other.state();
        let err = other.load_state(&state).unwrap_err().to_string();
        assert!(err.starts_with("the optimizer state was saved with parameter groups [`head` (prefix:head), `body` (prefix:body, frozen)]"), "{err}");
        assert_eq!(other.state(), before);
    }
    // A predicate group that now claims other parameters is refused at the next check.
    let mut opt = Adam::new(0.1).freeze_where("biases", |n| n.ends_with(".b"));
    opt.step(&mut net).unwrap();
    let state = opt.state();
    let mut changed = Adam::new(0.1).freeze_where("biases", |n| n == "head.b");
    changed.load_state(&state).unwrap();
    let err = changed.check_model(&mut net).unwrap_err().to_string();
    assert!(
        err.starts_with("parameter group `biases` claimed `body.b`, `head.b` when the optimizer state was saved, but claims `head.b` now"),
        "{err}"
    );
}

#[test]
fn files_without_groups_still_load_and_groups_leave_them_unchanged() {
    let mut net = model();
    let mut opt = Sgd::new(0.1);
    opt.step(&mut net).unwrap();
    let json = serde_json::to_string(&opt.state()).unwrap();
    assert!(!json.contains("groups"), "{json}");
    let read: OptimizerState = serde_json::from_str(&json).unwrap();
    assert!(read.groups.is_empty());
    Sgd::new(0.1).load_state(&read).unwrap();
}

#[test]
#[should_panic(expected = "Sgd: a parameter group called `head` exists already")]
fn two_groups_of_one_name_are_refused() {
    let _ = Sgd::new(0.1).freeze("head").group(ParamGroup::prefix("head"));
}
