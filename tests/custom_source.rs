//! A data source written outside nn, as a user would: samples of y = sin(x) computed as batches
//! are filled (nothing is stored), with noise added to training batches only, deterministic in
//! (seed, epoch, sample index) the way augmentation must be. `fit`, `evaluate` and `predict`
//! take it as they take a `Dataset`.

use nn::data::{Batch, DataSource, FillContext, TargetKind};
use nn::prelude::*;
use nn::rand::{Rng as _, SeedableRng};
use nn::Tensor;

/// `n` points of y = sin(x) for x evenly spaced in [-3, 3]; training batches get x jittered by
/// up to `jitter`, a draw seeded by (seed, epoch, index).
struct Sine {
    n: usize,
    jitter: f32,
    seed: u64,
}

impl Sine {
    fn x(&self, i: usize, context: FillContext) -> f32 {
        let x = -3.0 + 6.0 * i as f32 / (self.n - 1) as f32;
        if !context.training || self.jitter == 0.0 {
            return x;
        }
        let key = self.seed ^ ((context.epoch as u64) << 32) ^ i as u64;
        x + nn::StdRng::seed_from_u64(key).random_range(-self.jitter..self.jitter)
    }
}

impl DataSource for Sine {
    fn len(&self) -> usize {
        self.n
    }
    fn input_shape(&self) -> &[usize] {
        &[1]
    }
    fn target_kind(&self) -> TargetKind<'_> {
        TargetKind::Values(&[1])
    }
    fn fill(&self, indices: &[usize], batch: &mut Batch, context: FillContext) -> nn::Result<()> {
        let xs: Vec<f32> = indices.iter().map(|&i| self.x(i, context)).collect();
        batch.inputs_mut(indices.len(), &[1]).copy_from_slice(&xs);
        for (y, x) in batch.values_mut(indices.len(), &[1]).iter_mut().zip(&xs) {
            *y = x.sin();
        }
        Ok(())
    }
}

fn net() -> Mlp {
    Mlp::builder(1, &[32, 32], 1)
        .activation(Activation::Tanh)
        .build(&mut seeded(7))
}

#[test]
fn fit_evaluate_and_predict_take_a_source_of_ones_own() {
    let train = Sine {
        n: 200,
        jitter: 0.02,
        seed: 5,
    };
    let valid = Sine {
        n: 50,
        jitter: 0.0,
        seed: 0,
    };
    let run = || {
        let mut net = net();
        let mut trainer = Trainer::new(Adam::new(0.01))
            .loss(MseLoss::new())
            .metrics(["rmse"])
            .epochs(60)
            .batch_size(20)
            .silent();
        let history = trainer.fit(&mut net, &train, Some(&valid)).unwrap();
        let test = trainer.evaluate(&mut net, &valid).unwrap();
        let predicted = trainer.predict(&mut net, &valid).unwrap();
        (history, test, predicted)
    };
    let (history, test, predicted) = run();
    assert!(test.metric("rmse").unwrap() < 0.05, "{test:?}");
    assert_eq!(predicted.shape(), &[50, 1]);
    assert!((predicted[[49, 0]] - 3f32.sin()).abs() < 0.1, "{predicted:?}");
    // The jitter is a function of (seed, epoch, index): the same run twice is the same, bit for bit.
    let again = run();
    let without_time = |h: &History| -> Vec<(f32, Option<f32>)> {
        h.records().iter().map(|r| (r.train_loss, r.valid_loss)).collect()
    };
    assert_eq!(without_time(&history), without_time(&again.0));
    assert_eq!(predicted, again.2);
}

#[test]
fn the_fill_sees_the_epoch_and_whether_the_batch_trains() {
    let source = Sine {
        n: 10,
        jitter: 0.1,
        seed: 1,
    };
    let fill = |context| {
        let mut batch = Batch::new();
        source.fill(&[3, 7], &mut batch, context).unwrap();
        batch.inputs.clone()
    };
    let (epoch0, epoch1, eval) = (
        fill(FillContext::train(0)),
        fill(FillContext::train(1)),
        fill(FillContext::eval()),
    );
    assert_ne!(epoch0, epoch1, "each epoch draws new jitter");
    assert_eq!(
        epoch0,
        fill(FillContext::train(0)),
        "the same epoch draws the same"
    );
    let exact =
        Tensor::from_shape_vec(vec![2, 1], vec![-3.0 + 6.0 * 3.0 / 9.0, -3.0 + 6.0 * 7.0 / 9.0]).unwrap();
    assert_eq!(eval, exact, "evaluation batches are not jittered");
    assert_eq!(source.name(), "Sine");
}
