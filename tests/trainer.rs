//! The Trainer and the Mlp builder as a user would use them: learning a separable problem,
//! determinism, early stopping, divergence errors, checkpoints and resuming.

use nn::prelude::*;
use nn::train::{EpochRecord, TrainError, Trainer};
use nn::{Dataset, Error, OptimizerState};
use std::path::PathBuf;

// The main example's network, as the examples define it, so that its names are checked, not a
// copy's.
use crate::common::nets;

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nn-trainer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` points in 8 dimensions in `classes` blobs: class `c` sits at +3 on axis `c` with uniform
/// noise in [-1, 1] on every axis, so the classes are linearly separable.
fn blobs(n: usize, classes: usize, seed: u64) -> Dataset {
    use rand::Rng as _;
    let mut rng = seeded(seed);
    let dim = 8;
    let mut x = Vec::with_capacity(n * dim);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        for d in 0..dim {
            let centre = if d == c { 3.0 } else { 0.0 };
            x.push(centre + rng.random_range(-1.0f32..1.0));
        }
        labels.push(c);
    }
    Dataset::from_f32(x, &[dim], labels, classes).unwrap()
}

fn mlp(seed: u64) -> Mlp {
    Mlp::builder(8, &[16, 12], 3)
        .batch_norm(true)
        .build(&mut seeded(seed))
}

/// Every metric of every epoch, with the wall-clock time (which varies) set to zero.
pub(crate) fn metrics(h: &History) -> Vec<EpochRecord> {
    h.records()
        .iter()
        .map(|r| EpochRecord {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

fn weights(net: &mut dyn Layer) -> Vec<f32> {
    let mut all = Vec::new();
    nn::for_each_param(net, |_, p| all.extend(p.value.iter().copied()));
    nn::for_each_buffer(net, |_, t| all.extend(t.iter().copied()));
    all
}

#[test]
fn a_separable_problem_is_learned_to_full_accuracy() {
    let (train, valid) = (blobs(300, 3, 1), blobs(90, 3, 2));
    let mut net = mlp(3);
    let mut trainer = Trainer::new(Adam::new(0.01)).epochs(15).batch_size(20).silent();
    let history = trainer.fit(&mut net, &train, Some(&valid)).unwrap();
    assert_eq!(history.len(), 15);
    let last = history.last().unwrap();
    assert_eq!(last.valid_metric("acc"), Some(1.0), "{history:?}");
    assert!(last.train_metric("acc").unwrap() >= 0.99, "{history:?}");
    assert!(
        last.train_loss < history.records()[0].train_loss / 5.0,
        "{history:?}"
    );
    let test = trainer.evaluate(&mut net, &blobs(60, 3, 9)).unwrap();
    assert_eq!(test.metric("acc"), Some(1.0));
    assert_eq!(test.samples, 60);
    // predict_proba: one probability row per sample, in order, whose argmax is the label.
    let data = blobs(60, 3, 9);
    let p = trainer.predict_proba(&mut net, &data).unwrap();
    assert_eq!(p.shape(), &[60, 3]);
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5);
    }
    assert_eq!(
        trainer.predict_classes(&mut net, &data).unwrap(),
        data.labels().unwrap()
    );
}

#[test]
fn same_seed_gives_the_same_history_and_another_seed_does_not() {
    let (train, valid) = (blobs(200, 3, 1), blobs(60, 3, 2));
    let run = |seed: u64| {
        let mut net = Mlp::builder(8, &[16], 3)
            .batch_norm(true)
            .dropout(0.2)
            .build(&mut seeded(5));
        let mut trainer = Trainer::new(Momentum::new(0.05))
            .epochs(4)
            .batch_size(32)
            .seed(seed)
            .schedule(LrSchedule::cosine(4))
            .silent();
        let h = trainer.fit(&mut net, &train, Some(&valid)).unwrap();
        (metrics(&h), weights(&mut net))
    };
    let a = run(11);
    assert_eq!(a, run(11));
    // The shuffle depends on the seed: a different seed changes the run.
    assert_ne!(a.0, run(12).0);
}

/// `n` random samples of `shape` with labels of 10 classes, from `seed`.
fn random_data(n: usize, shape: &[usize], seed: u64) -> Dataset {
    use rand::Rng as _;
    let mut rng = seeded(seed);
    let pixels: Vec<u8> = (0..n * shape.iter().product::<usize>())
        .map(|_| rng.random())
        .collect();
    let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..10)).collect();
    Dataset::from_u8(pixels, shape, labels, 10).unwrap()
}

/// Trains the network `make` builds on `data` with Adam for `epochs` epochs of batch 100 on 1,
/// 2, 3 and 4 threads, and asserts the same metrics, weights, buffers and Eval scores each time.
fn assert_same_bits_on_any_thread_count<N: Layer>(make: impl Fn() -> N, data: &Dataset, epochs: usize) {
    let run = |threads: usize| {
        nn::set_num_threads(threads);
        let mut net = make();
        let mut trainer = Trainer::new(Adam::new(1e-3))
            .epochs(epochs)
            .batch_size(100)
            .silent();
        let h = trainer.fit(&mut net, data, None).unwrap();
        let scores = net.forward(data.to_tensor(), Mode::Eval);
        (metrics(&h), weights(&mut net), scores)
    };
    let one = run(1);
    for threads in [2, 3, 4] {
        let r = run(threads);
        let diffs: Vec<usize> =
            r.1.iter()
                .zip(&one.1)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| i)
                .take(5)
                .collect();
        assert!(
            r == one,
            "{threads} threads: metrics {} weights {} (first differing {diffs:?} of {}) scores {}",
            r.0 == one.0,
            r.1 == one.1,
            one.1.len(),
            r.2 == one.2
        );
    }
    nn::set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
}

#[test]
#[ignore = "slow in a debug build (about 10 s); .ci/run runs it with --ignored"]
fn training_the_standard_mlp_gives_the_same_bits_on_any_thread_count() {
    // Workload W's network and batch: fc1's products are large enough to be split over
    // threads, Adam's update of fc1.weight too, and the Eval forward of 1,000 samples splits
    // BatchNorm and ReLU. Every split keeps each value's arithmetic, so the bits are the same.
    let data = random_data(1000, &[784], 3);
    assert_same_bits_on_any_thread_count(|| nets::SeedNet::new(&mut seeded(4321)), &data, 2);
}

#[test]
#[ignore = "slow in a debug build (a minute or two); .ci/run runs it with --ignored"]
fn training_a_cnn_and_a_resnet_gives_the_same_bits_on_any_thread_count() {
    // cnn_mnist's and resnet_mnist's networks on a batch of 100 digit-sized images: every
    // convolution is cut into the same parts whatever the thread count, BatchNorm2d, ReLU and
    // pooling are split over threads, in Train and in the Eval forward.
    let data = random_data(100, &[1, 28, 28], 4);
    assert_same_bits_on_any_thread_count(|| nets::Cnn::new(&mut seeded(4321)), &data, 1);
    assert_same_bits_on_any_thread_count(|| nets::ResNet::new(&mut seeded(4321)), &data, 1);
}

#[test]
fn early_stopping_restores_the_best_epochs_weights() {
    // The validation labels are the training labels rotated by one class: the better the model
    // fits the training set, the worse its validation loss, so epoch 1 is the best.
    let train = blobs(300, 3, 1);
    let v = blobs(90, 3, 2);
    let rotated: Vec<usize> = v.labels().unwrap().iter().map(|&c| (c + 1) % 3).collect();
    let valid = Dataset::from_tensor(v.to_tensor(), rotated, 3).unwrap();

    let mut net = mlp(3);
    let mut trainer = Trainer::new(Adam::new(0.01))
        .epochs(20)
        .batch_size(20)
        .early_stopping(EarlyStopping::new(2))
        .silent();
    let history = trainer.fit(&mut net, &train, Some(&valid)).unwrap();
    let losses: Vec<f32> = history.records().iter().map(|r| r.valid_loss.unwrap()).collect();
    // Patience 2, as in Keras: the best epoch, then two without improvement, and the stop after
    // the second of them.
    let best = history.best_epoch().unwrap();
    assert_eq!(history.len(), best + 2, "{losses:?}");
    assert!(losses[history.len() - 1] > losses[best - 1], "{losses:?}");
    // The model is the best epoch's again: its validation loss is that epoch's, exactly.
    let now = trainer.evaluate(&mut net, &valid).unwrap();
    assert_eq!(now.loss, losses[best - 1], "{losses:?}");
}

#[test]
fn with_min_delta_the_model_ends_with_early_stoppings_best_not_the_lowest_loss() {
    // Every epoch lowers the validation loss, but never by min_delta: early stopping keeps epoch
    // 1, although a later epoch has the lowest loss. The history must name epoch 1 (the plot
    // marks it), and the model must hold epoch 1's weights.
    let (train, valid) = (blobs(300, 3, 1), blobs(90, 3, 2));
    let mut net = mlp(3);
    let mut trainer = Trainer::new(Adam::new(0.01))
        .epochs(20)
        .batch_size(20)
        .early_stopping(EarlyStopping::new(2).min_delta(10.0))
        .silent();
    let history = trainer.fit(&mut net, &train, Some(&valid)).unwrap();
    let losses: Vec<f32> = history.records().iter().map(|r| r.valid_loss.unwrap()).collect();
    let lowest = (0..losses.len())
        .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
        .unwrap()
        + 1;
    assert_ne!(
        lowest, 1,
        "the lowest loss must lie elsewhere for this test to bite: {losses:?}"
    );
    assert_eq!(history.best_epoch(), Some(1), "{losses:?}");
    assert_eq!(history.best().unwrap().valid_loss, Some(losses[0]));
    let now = trainer.evaluate(&mut net, &valid).unwrap();
    assert_eq!(now.loss, losses[0], "{losses:?}");
}

#[test]
fn without_early_stopping_there_is_no_best_epoch() {
    let mut trainer = Trainer::new(Adam::new(0.01)).epochs(2).batch_size(20).silent();
    let history = trainer
        .fit(&mut mlp(3), &blobs(60, 3, 1), Some(&blobs(30, 3, 2)))
        .unwrap();
    assert_eq!(history.best_epoch(), None);
}

#[test]
fn early_stopping_without_a_validation_set_is_an_error() {
    let mut trainer = Trainer::new(Sgd::new(0.1))
        .early_stopping(EarlyStopping::new(2))
        .silent();
    let err = trainer.fit(&mut mlp(1), &blobs(30, 3, 1), None).unwrap_err();
    assert!(
        matches!(err, Error::Train(TrainError::EarlyStoppingWithoutValidation)),
        "{err}"
    );
    assert!(err.to_string().contains("no validation set"), "{err}");
}

#[test]
fn a_nan_loss_stops_training_naming_epoch_and_batch() {
    // Sample 25 overflows the first layer to infinity, and batch norm turns that into NaN (a NaN
    // feature would be refused by the dataset): without shuffling, batches of 10 put it in
    // batch 3 of epoch 1.
    let good = blobs(100, 3, 1);
    let mut x = good.to_tensor();
    x.index_axis_mut(ndarray::Axis(0), 25).fill(f32::MAX);
    let data = Dataset::from_tensor(x, good.labels().unwrap().to_vec(), 3).unwrap();
    let mut trainer = Trainer::new(Sgd::new(0.1))
        .epochs(3)
        .batch_size(10)
        .shuffle(false)
        .silent();
    let err = trainer.fit(&mut mlp(1), &data, None).unwrap_err();
    match &err {
        Error::Train(TrainError::NonFiniteLoss { epoch, batch, .. }) => assert_eq!((*epoch, *batch), (1, 3)),
        other => panic!("expected NonFiniteLoss, got {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("epoch 1/3, batch 3/10"), "{text}");
    assert!(trainer.history().is_empty(), "no epoch was completed");
    assert!(text.contains("lower the learning rate"), "{text}");
}

#[test]
fn an_exploding_learning_rate_is_reported_not_trained_on() {
    let data = blobs(200, 3, 1);
    let mut net = Mlp::builder(8, &[16], 3).build(&mut seeded(1));
    // Two sane epochs, then the rate jumps to 1e29.
    let mut trainer = Trainer::new(Sgd::new(0.1))
        .schedule(LrSchedule::StepDecay {
            every: 2,
            gamma: 1e30,
        })
        .epochs(5)
        .batch_size(10)
        .silent();
    let err = trainer.fit(&mut net, &data, None).unwrap_err();
    // The epochs before the divergence are kept, to be saved or plotted.
    if let Error::Train(TrainError::NonFiniteLoss { epoch, .. }) = &err {
        assert!(*epoch > 2, "{err}");
        assert_eq!(trainer.history().len(), epoch - 1);
    }
    assert!(
        matches!(err, Error::Train(TrainError::NonFiniteLoss { .. })),
        "{err}"
    );
}

#[test]
fn the_builder_and_the_derived_example_network_share_names() {
    let mut built = Mlp::builder(784, &[128, 64], 10)
        .batch_norm(true)
        .build(&mut seeded(1));
    let mut derived = nets::SeedNet::new(&mut seeded(1));
    assert_eq!(nn::param_names(&mut built), nn::param_names(&mut derived));
    let buffers = |net: &mut dyn Layer| {
        let mut names = Vec::new();
        nn::for_each_buffer(net, |n, _| names.push(n.to_string()));
        names
    };
    assert_eq!(buffers(&mut built), buffers(&mut derived));
    // Same seed, same draws in the same order: the two are the same network.
    assert_eq!(weights(&mut built), weights(&mut derived));
}

#[test]
fn a_trained_mlp_round_trips_through_a_checkpoint_bit_for_bit() {
    let dir = TempDir::new("roundtrip");
    let (train, test) = (blobs(200, 3, 1), blobs(60, 3, 2));
    let mut net = mlp(3);
    let mut trainer = Trainer::new(Adam::new(0.01)).epochs(3).batch_size(16).silent();
    trainer.fit(&mut net, &train, None).unwrap();
    let path = dir.0.join("mlp.safetensors");
    nn::save(&mut net, &path).unwrap();

    let mut loaded = mlp(99);
    assert_ne!(
        trainer.predict(&mut loaded, &test).unwrap(),
        trainer.predict(&mut net, &test).unwrap()
    );
    nn::load(&mut loaded, &path).unwrap();
    // Eval uses the BatchNorm running statistics: they must have come through too.
    assert_eq!(
        trainer.predict(&mut loaded, &test).unwrap(),
        trainer.predict(&mut net, &test).unwrap()
    );
    let mut running = Vec::new();
    nn::for_each_buffer(&mut loaded, |_, t| running.extend(t.iter().copied()));
    assert!(
        running.iter().any(|&v| v != 0.0 && v != 1.0),
        "buffers still at their initial values"
    );
}

#[test]
fn resuming_from_model_and_optimizer_state_continues_the_same_run() {
    let dir = TempDir::new("resume");
    let (train, valid) = (blobs(200, 3, 1), blobs(60, 3, 2));
    let trainer = || {
        Trainer::new(Adam::new(0.01))
            .epochs(4)
            .batch_size(16)
            .seed(7)
            .schedule(LrSchedule::cosine(4))
            .silent()
    };

    let mut straight = mlp(3);
    let full = trainer().fit(&mut straight, &train, Some(&valid)).unwrap();

    // Two epochs, then save model and optimizer to disk.
    let mut first = mlp(3);
    let mut t = trainer().epochs(2);
    let head = t.fit(&mut first, &train, Some(&valid)).unwrap();
    assert_eq!(metrics(&head), metrics(&full)[..2]);
    nn::save(&mut first, dir.0.join("model.safetensors")).unwrap();
    t.optimizer()
        .state()
        .save_json(dir.0.join("optimizer.json"))
        .unwrap();

    // A new process would rebuild both from scratch and load them.
    let mut resumed = mlp(42);
    nn::load(&mut resumed, dir.0.join("model.safetensors")).unwrap();
    let mut t = trainer().initial_epoch(2);
    let state = OptimizerState::load_json(dir.0.join("optimizer.json")).unwrap();
    t.optimizer_mut().load_state(&state).unwrap();
    let tail = t.fit(&mut resumed, &train, Some(&valid)).unwrap();

    assert_eq!(metrics(&tail), metrics(&full)[2..]);
    assert_eq!(weights(&mut resumed), weights(&mut straight));
}

#[test]
fn a_dataset_without_a_full_batch_is_an_error_with_drop_last() {
    let mut trainer = Trainer::new(Sgd::new(0.1))
        .batch_size(64)
        .drop_last(true)
        .silent();
    let err = trainer.fit(&mut mlp(1), &blobs(30, 3, 1), None).unwrap_err();
    assert!(
        matches!(err, Error::Train(TrainError::NoBatches { samples: 30, .. })),
        "{err}"
    );
    assert!(err.to_string().contains("drop_last"), "{err}");
}
