//! A loss written outside nn, as a user would: log-cosh (smooth like MSE near zero, robust like
//! L1 far away), in one short impl of `nn::Loss`. It passes gradcheck, trains a regression
//! through `Trainer::loss`, and `fit` refuses class targets for it before the first step.

use nn::data::{TargetKind, Targets};
use nn::prelude::*;
use nn::train::TrainError;
use nn::{GradCheck, Tensor};

/// `mean(log(cosh(output - target)))` over every element.
#[derive(Default)]
struct LogCosh {
    grad: Option<Tensor>,
}

impl Loss for LogCosh {
    fn forward(&mut self, mut output: Tensor, targets: Targets<'_>) -> f32 {
        let Targets::Values(t) = targets else {
            panic!("LogCosh: needs value targets")
        };
        let n = output.len() as f32;
        let mut total = 0.0;
        output.zip_mut_with(t, |y, &t| {
            let d = *y - t;
            // log(cosh d) = |d| + log(1 + e^(-2|d|)) - log 2, finite for any d.
            total += (d.abs() + (-2.0 * d.abs()).exp().ln_1p() - std::f32::consts::LN_2) / n;
            *y = d.tanh() / n;
        });
        self.grad = Some(output);
        total
    }

    fn backward(&mut self) -> Tensor {
        self.grad.take().expect("LogCosh: forward first")
    }

    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        match targets {
            TargetKind::Values(shape) if shape == output => Ok(()),
            _ => Err(format!("needs value targets of the outputs' shape {output:?}")),
        }
    }
}

/// y = 2x + 1 on 64 points in [-1, 1].
fn line() -> Dataset {
    let x = Tensor::from_shape_fn(vec![64, 1], |i| i[0] as f32 / 31.5 - 1.0);
    let y = x.mapv(|v| 2.0 * v + 1.0);
    Dataset::from_tensors(x, y).unwrap()
}

#[test]
fn a_user_loss_passes_gradcheck_and_trains_a_regression() {
    let y = Tensor::from_shape_vec(vec![3, 2], vec![0.5, -2.0, 3.0, 0.1, -0.7, 9.0]).unwrap();
    let t = Tensor::from_shape_vec(vec![3, 2], vec![0.0, 1.0, -1.0, 0.3, 0.2, 0.0]).unwrap();
    let mut loss = LogCosh::default();
    loss.forward(y.clone(), Targets::Values(&t));
    let analytic = loss.backward();
    GradCheck::default()
        .check_fn("output", &y, &analytic, |x| {
            f64::from(loss.forward(x.clone(), Targets::Values(&t)))
        })
        .assert_passed();

    let data = line();
    let mut net = Linear::new(1, 1, Init::Xavier, &mut seeded(1));
    let mut trainer = Trainer::new(Adam::new(0.05))
        .loss(LogCosh::default())
        .metrics(["mae"])
        .epochs(100)
        .batch_size(16)
        .silent();
    let history = trainer.fit(&mut net, &data, None).unwrap();
    let last = history.last().unwrap();
    assert!(last.train_metric("mae").unwrap() < 0.02, "{last:?}");
    assert_eq!(history.loss_name(), "LogCosh");
}

#[test]
fn fit_refuses_class_targets_for_it_before_the_first_step() {
    let x = Tensor::from_shape_fn(vec![6, 1], |i| i[0] as f32);
    let classes = Dataset::from_tensor(x, vec![0, 1, 2, 0, 1, 2], 3).unwrap();
    let mut net = Linear::new(1, 1, Init::Xavier, &mut seeded(1));
    let before = nn::Snapshot::capture(&mut net);
    let mut trainer = Trainer::new(Sgd::new(0.1)).loss(LogCosh::default()).silent();
    let err = trainer.fit(&mut net, &classes, None).unwrap_err();
    assert!(
        matches!(err, nn::Error::Train(TrainError::TargetMismatch { .. })),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "LogCosh cannot be used on the training set: the network outputs [N, 1] and the set's \
         targets are class indices below 3, shape [N]; LogCosh needs value targets of the outputs' \
         shape [1]"
    );
    assert_eq!(
        before.get("weight"),
        nn::Snapshot::capture(&mut net).get("weight")
    );
}
