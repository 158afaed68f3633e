//! Convolutional networks as a user would write them: a derived CNN's summary, checkpoints,
//! optimizer steps, training on small images, Dropout on 4-D activations, and the panics a
//! wrong input shape gives.

use nn::prelude::*;
use nn::{for_each_param, param_names, Dataset, Snapshot};
use rand::Rng as _;
use std::path::PathBuf;

// The cnn_mnist example's network (examples/common/nets.rs), so that what is checked here is it.
use crate::common::nets as example;

/// Workload C of the benchmarks (two 3x3 convolutions with BatchNorm2d, ReLU and 2x2 max
/// pooling, then Linear), the network of the bench_cnn example.
#[derive(Sequential)]
struct Cnn {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    act1: Relu,
    pool1: MaxPool2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    act2: Relu,
    pool2: MaxPool2d,
    flat: Flatten,
    fc: Linear,
}

impl Cnn {
    fn new(rng: &mut StdRng) -> Self {
        Cnn {
            conv1: Conv2d::new(1, 32, 3, Init::He, rng).with_input_grad(false),
            bn1: BatchNorm2d::new(32),
            act1: Relu::new(),
            pool1: MaxPool2d::new(2),
            conv2: Conv2d::new(32, 64, 3, Init::He, rng),
            bn2: BatchNorm2d::new(64),
            act2: Relu::new(),
            pool2: MaxPool2d::new(2),
            flat: Flatten::new(),
            fc: Linear::new(64 * 5 * 5, 10, Init::He, rng),
        }
    }
}

/// A small CNN on 1x8x8 images with every image layer: dropout between the blocks, average
/// pooling, three classes.
#[derive(Sequential)]
struct Small {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    act1: Relu,
    pool1: MaxPool2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    act2: Tanh,
    drop: Dropout,
    pool2: AvgPool2d,
    flat: Flatten,
    fc: Linear,
}

impl Small {
    fn new(seed: u64) -> Self {
        let mut rng = seeded(seed);
        Small {
            conv1: Conv2d::builder(1, 4, 3).padding_same().build(Init::He, &mut rng),
            bn1: BatchNorm2d::new(4),
            act1: Relu::new(),
            pool1: MaxPool2d::new(2),
            conv2: Conv2d::builder(4, 6, 3)
                .padding(1)
                .groups(2)
                .build(Init::He, &mut rng),
            bn2: BatchNorm2d::new(6),
            act2: Tanh::new(),
            drop: Dropout::from_rng(0.2, &mut rng),
            pool2: AvgPool2d::new(2),
            flat: Flatten::new(),
            fc: Linear::new(6 * 2 * 2, 3, Init::He, &mut rng),
        }
    }
}

/// `n` noisy 1x8x8 images of three classes: a horizontal bar, a vertical bar or a diagonal.
fn bars(n: usize, seed: u64) -> Dataset {
    let mut rng = seeded(seed);
    let mut pixels = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 3;
        let at = rng.random_range(1..7);
        for y in 0..8 {
            for x in 0..8 {
                let on = match class {
                    0 => y == at,
                    1 => x == at,
                    _ => x == y,
                };
                pixels.push(if on { 0.9 } else { 0.0 } + rng.random_range(0.0..0.3f32));
            }
        }
        labels.push(class);
    }
    Dataset::from_f32(pixels, &[1, 8, 8], labels, 3).unwrap()
}

/// A fresh file path under the system temp dir, removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("must panic");
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn summary_shows_each_output_shape_of_a_28x28_image() {
    let mut net = Cnn::new(&mut seeded(4321));
    let summary = nn::summary(&mut net, &[1, 1, 28, 28]);
    let shapes: Vec<(&str, &[usize])> = summary
        .rows
        .iter()
        .map(|r| (r.name.as_str(), r.output_shape.as_slice()))
        .collect();
    let expected: [(&str, &[usize]); 10] = [
        ("conv1", &[1, 32, 26, 26]),
        ("bn1", &[1, 32, 26, 26]),
        ("act1", &[1, 32, 26, 26]),
        ("pool1", &[1, 32, 13, 13]),
        ("conv2", &[1, 64, 11, 11]),
        ("bn2", &[1, 64, 11, 11]),
        ("act2", &[1, 64, 11, 11]),
        ("pool2", &[1, 64, 5, 5]),
        ("flat", &[1, 1600]),
        ("fc", &[1, 10]),
    ];
    assert_eq!(shapes, expected);
    // 32*9+32, 2*32, 64*32*9+64, 2*64, 1600*10+10.
    assert_eq!(summary.total_params, 320 + 64 + 18_496 + 128 + 16_010);
    let text = summary.to_string();
    assert!(
        text.contains("Conv2d(1 -> 32, 3x3)") && text.contains("MaxPool2d(2x2)"),
        "{text}"
    );
}

#[test]
fn a_checkpoint_round_trip_restores_weights_and_running_statistics() {
    let data = bars(30, 1);
    let mut net = Small::new(1);
    let mut adam = Adam::new(1e-2);
    let mut loss = SoftmaxCrossEntropy::new();
    let mut batches = data.batches(10, 2);
    while let Some(batch) = batches.next_batch().unwrap() {
        loss.forward(net.forward(batch.inputs.clone(), Mode::Train), batch.targets());
        net.backward(loss.backward());
        adam.step(&mut net).unwrap();
    }
    let file = TempFile(std::env::temp_dir().join(format!("nn-cnn-{}.safetensors", std::process::id())));
    nn::save(&mut net, &file.0).unwrap();

    let mut other = Small::new(99);
    let x = data.to_tensor();
    assert_ne!(
        other.forward(x.clone(), Mode::Eval),
        net.forward(x.clone(), Mode::Eval)
    );
    nn::load(&mut other, &file.0).unwrap();
    assert_eq!(other.forward(x.clone(), Mode::Eval), net.forward(x, Mode::Eval));
    let snapshot = Snapshot::capture(&mut other);
    assert_eq!(
        snapshot.get("bn1.num_batches_tracked").unwrap().shape(),
        &[] as &[usize]
    );
    assert_eq!(snapshot.get("bn1.num_batches_tracked").unwrap().sum(), 3.0);
    assert_eq!(snapshot.get("conv2.weight").unwrap().shape(), &[6, 2, 3, 3]);
}

#[test]
fn an_optimizer_step_moves_every_parameter_against_its_gradient() {
    let data = bars(12, 3);
    let mut net = Small::new(3);
    net.drop.freeze_mask(true);
    let mut loss = SoftmaxCrossEntropy::new();
    let x = data.to_tensor();
    loss.forward(
        net.forward(x, Mode::Train),
        Targets::Classes(data.labels().unwrap()),
    );
    net.backward(loss.backward());
    let mut before = Vec::new();
    for_each_param(&mut net, |name, p| {
        before.push((name.to_string(), p.value.to_owned(), p.grad.to_owned()))
    });
    Sgd::new(0.1).step(&mut net).unwrap();
    let mut i = 0;
    for_each_param(&mut net, |name, p| {
        let (n, value, grad) = &before[i];
        assert_eq!(name, n);
        let expected = value - &(grad * 0.1);
        assert_eq!(p.value.to_owned(), expected, "{name}");
        assert!(grad.iter().any(|&g| g != 0.0), "{name} has a zero gradient");
        i += 1;
    });
    assert_eq!(
        param_names(&mut net),
        [
            "conv1.weight",
            "conv1.bias",
            "bn1.weight",
            "bn1.bias",
            "conv2.weight",
            "conv2.bias",
            "bn2.weight",
            "bn2.bias",
            "fc.weight",
            "fc.bias"
        ]
    );
}

#[test]
fn a_small_cnn_learns_bars_and_is_deterministic() {
    let (train, test) = (bars(150, 5), bars(60, 6));
    let run = || {
        let mut net = Small::new(5);
        let mut trainer = Trainer::new(Adam::new(1e-2))
            .epochs(6)
            .batch_size(15)
            .verbosity(Verbosity::Silent);
        let history = trainer.fit(&mut net, &train, None).unwrap();
        let test = trainer.evaluate(&mut net, &test).unwrap();
        (
            history.records().iter().map(|r| r.train_loss).collect::<Vec<_>>(),
            test.metric("acc").unwrap(),
        )
    };
    let (losses, accuracy) = run();
    assert!(accuracy >= 0.95, "test accuracy {accuracy}, losses {losses:?}");
    assert!(losses.last() < losses.first(), "{losses:?}");
    assert_eq!(run(), (losses, accuracy), "same seed, same bits");
}

#[test]
fn dropout_on_4d_activations_masks_single_values_and_passes_gradcheck() {
    let shape = [4, 3, 10, 10];
    let mut drop = Dropout::new(0.5, 11);
    let y = drop.forward(Tensor::ones(shape.to_vec()), Mode::Train);
    assert_eq!(y.shape(), &shape);
    assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
    let kept = y.iter().filter(|&&v| v != 0.0).count();
    // 1,200 Bernoulli(0.5) draws: within 10% of 600 with overwhelming probability.
    assert!((540..=660).contains(&kept), "kept {kept}");
    // Units, not channels, are dropped: every plane keeps some values and loses some.
    for n in 0..4 {
        for c in 0..3 {
            let plane = y.slice(ndarray::s![n, c, .., ..]);
            assert!(plane.iter().any(|&v| v == 0.0) && plane.iter().any(|&v| v != 0.0));
        }
    }
    assert_eq!(drop.backward(Tensor::ones(shape.to_vec())), y);
    assert_eq!(
        drop.forward(Tensor::ones(shape.to_vec()), Mode::Eval),
        Tensor::ones(shape.to_vec())
    );
    drop.freeze_mask(true);
    gradcheck(&mut drop, &[2, 3, 4, 5]).assert_passed();
}

#[test]
fn a_network_of_image_layers_passes_gradcheck() {
    // Without max pooling, whose kinks random inputs may straddle, and with a fixed mask.
    #[derive(Sequential)]
    struct Smooth {
        conv1: Conv2d,
        bn1: BatchNorm2d,
        act1: Tanh,
        drop: Dropout,
        pool: AvgPool2d,
        conv2: Conv2d,
        gap: GlobalAvgPool2d,
        fc: Linear,
    }
    let mut rng = seeded(8);
    let mut net = Smooth {
        conv1: Conv2d::builder(2, 4, 3)
            .stride(2)
            .padding(1)
            .build(Init::He, &mut rng),
        bn1: BatchNorm2d::new(4),
        act1: Tanh::new(),
        drop: Dropout::new(0.3, 1),
        pool: AvgPool2d::new(2).with_stride(1),
        conv2: Conv2d::builder(4, 4, 2)
            .groups(4)
            .dilation(2)
            .padding(1)
            .build(Init::He, &mut rng),
        gap: GlobalAvgPool2d::new(),
        fc: Linear::new(4, 3, Init::He, &mut rng),
    };
    net.drop.freeze_mask(true);
    gradcheck(&mut net, &[3, 2, 7, 6]).assert_passed();
}

#[test]
fn a_flat_batch_fed_to_a_cnn_panics_naming_the_layer() {
    let mut net = Cnn::new(&mut seeded(1));
    let msg = panic_message(|| {
        net.forward(Tensor::zeros(vec![2, 784]), Mode::Eval);
    });
    assert_eq!(
        msg,
        "conv1: expected a batch of images of shape [N, 1, H, W], got shape [2, 784]"
    );
    let msg = panic_message(|| {
        net.forward(Tensor::zeros(vec![2, 1, 20, 20]), Mode::Eval);
    });
    assert_eq!(
        msg,
        "fc: expected 1600 input features, got 576: input shape [2, 576], expected [2, 1600]"
    );
}

#[test]
fn a_dataset_reshaped_to_images_hands_out_image_batches_without_copies() {
    let pixels: Vec<u8> = (0..6 * 784).map(|i| (i % 251) as u8).collect();
    let flat = Dataset::from_u8(pixels, &[784], vec![0, 1, 2, 3, 4, 5], 10).unwrap();
    let images = flat.clone().with_feature_shape(&[1, 28, 28]).unwrap();
    assert_eq!(images.feature_shape(), &[1, 28, 28]);
    assert_eq!(
        flat.to_tensor()
            .into_shape_with_order(vec![6, 1, 28, 28])
            .unwrap(),
        images.to_tensor()
    );
    let mut batches = images.batches_in_order(4);
    let first = batches.next_batch().unwrap().unwrap();
    assert_eq!(first.inputs.shape(), &[4, 1, 28, 28]);
    let ptr = first.inputs.as_ptr();
    let second = batches.next_batch().unwrap().unwrap();
    assert_eq!(
        (second.inputs.shape(), second.inputs.as_ptr()),
        (&[2, 1, 28, 28][..], ptr)
    );
    // What MLPs get is unchanged, and a shape of the wrong size is an error naming both.
    assert_eq!(
        flat.batches_in_order(4)
            .next_batch()
            .unwrap()
            .unwrap()
            .inputs
            .shape(),
        &[4, 784]
    );
    let err = flat.with_feature_shape(&[1, 28, 27]).unwrap_err().to_string();
    assert!(
        err.contains("[1, 28, 27] holds 756 values, but each sample has 784"),
        "{err}"
    );
}

#[test]
fn the_example_network_takes_28x28_images_and_names_its_parameters_as_pytorch() {
    let mut net = example::Cnn::new(&mut seeded(4321));
    let summary = nn::summary(&mut net, &[1, 1, 28, 28]);
    let last = summary.rows.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.output_shape.as_slice()),
        ("fc", &[1, 10][..])
    );
    let names = param_names(&mut net);
    assert_eq!(
        &names[..4],
        ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias"]
    );
    assert_eq!(summary.total_params, 104_650);
    // One step on two images runs end to end and moves the first layer's weights.
    let x = Tensor::from_shape_fn(vec![2, 1, 28, 28], |i| ((i[2] * 3 + i[3]) % 7) as f32 / 7.0);
    let mut loss = SoftmaxCrossEntropy::new();
    loss.forward(net.forward(x, Mode::Train), Targets::Classes(&[3, 8]));
    net.backward(loss.backward());
    let before = net.conv1.weight().clone();
    Adam::new(1e-3).step(&mut net).unwrap();
    assert_ne!(net.conv1.weight(), &before);
}
