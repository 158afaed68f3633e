//! A metric written outside nn, as a user would: the coefficient of determination R², in one
//! short impl of `nn::metrics::Metric`. `Trainer::metric` records it beside the built-ins: its
//! name heads its columns in the history's CSV, the progress line and `Evaluation`.

use nn::data::{TargetKind, Targets};
use nn::metrics::Metric;
use nn::prelude::*;
use nn::Tensor;

/// R² = 1 - SS_res / SS_tot over every element seen since the last reset.
#[derive(Default)]
struct R2 {
    sum: f64,
    sum_sq: f64,
    residual: f64,
    count: f64,
}

impl Metric for R2 {
    fn name(&self) -> &str {
        "r2"
    }
    fn reset(&mut self) {
        *self = R2::default();
    }
    fn update(&mut self, output: &Tensor, targets: Targets<'_>) {
        let Targets::Values(t) = targets else {
            panic!("r2: needs value targets")
        };
        for (&y, &t) in output.iter().zip(t) {
            let (y, t) = (f64::from(y), f64::from(t));
            self.sum += t;
            self.sum_sq += t * t;
            self.residual += (y - t).powi(2);
            self.count += 1.0;
        }
    }
    fn value(&self) -> f32 {
        let total = self.sum_sq - self.sum * self.sum / self.count;
        (1.0 - self.residual / total) as f32
    }
    fn check(&self, output: &[usize], targets: TargetKind<'_>) -> Result<(), String> {
        match targets {
            TargetKind::Values(shape) if shape == output => Ok(()),
            _ => Err("needs value targets of the outputs' shape".into()),
        }
    }
}

#[test]
fn a_user_metric_is_recorded_by_name_everywhere() {
    let x = Tensor::from_shape_fn(vec![80, 2], |i| ((i[0] * 7 + i[1] * 3) % 11) as f32 / 5.0 - 1.0);
    let y = Tensor::from_shape_fn(vec![80, 1], |i| x[[i[0], 0]] - 0.5 * x[[i[0], 1]]);
    let data = Dataset::from_tensors(x, y).unwrap();
    let (train, valid) = data.split_valid(20, &mut seeded(3)).unwrap();
    let mut net = Linear::new(2, 1, Init::Xavier, &mut seeded(1));
    let mut trainer = Trainer::new(Adam::new(0.05))
        .loss(MseLoss::new())
        .metrics(["rmse"])
        .metric(R2::default())
        .epochs(60)
        .batch_size(10)
        .silent();
    let history = trainer.fit(&mut net, &train, Some(&valid)).unwrap();
    assert_eq!(history.metric_names(), ["rmse", "r2"]);
    let r2 = history.last().unwrap().valid_metric("r2").unwrap();
    assert!(r2 > 0.99, "{r2}");
    assert!(history
        .to_csv()
        .starts_with("epoch,train_loss,train_rmse,train_r2,valid_loss,valid_rmse,valid_r2,lr,seconds\n"));
    let evaluation = trainer.evaluate(&mut net, &valid).unwrap();
    assert_eq!(
        evaluation.metric("r2"),
        Some(r2),
        "the last epoch's validation, once more"
    );
    // Not on class targets: an error before training, naming the metric.
    let classes = Dataset::from_f32(vec![0.0; 8], &[2], vec![0, 1, 0, 1], 2).unwrap();
    let mut classifier = Linear::new(2, 2, Init::Xavier, &mut seeded(1));
    let mut trainer = Trainer::new(Sgd::new(0.1)).metric(R2::default()).silent();
    let err = trainer
        .fit(&mut classifier, &classes, None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "r2 cannot be used on the training set: the network outputs [N, 2] and the set's targets \
         are class indices below 2, shape [N]; r2 needs value targets of the outputs' shape"
    );
}
