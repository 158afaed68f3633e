//! Augmentation as a user meets it: a transform written outside nn in a few lines (Cutout),
//! composed with the built-in ones, training a small CNN through `fit` on real digits; the run
//! repeats bit for bit, and gives the same bits on one thread and on two.

use nn::data::{Dataset, Transformed};
use nn::prelude::*;
use nn::rand::Rng as _;
use nn::vision::{Compose, ElasticDistortion, Image, Normalize, RandomAffine, RandomCrop, Transform};

/// DeVries and Taylor's Cutout (2017): a `size` × `size` square of the image, at a random
/// place, set to 0. A user's transform: one `apply`, drawing only from the RNG it is given.
struct Cutout {
    size: usize,
}

impl Transform for Cutout {
    fn apply(&self, image: &mut Image<'_>, rng: &mut nn::StdRng) {
        let shape = image.shape();
        let top = rng.random_range(0..=shape.height.saturating_sub(self.size) as u32) as usize;
        let left = rng.random_range(0..=shape.width.saturating_sub(self.size) as u32) as usize;
        for plane in image.pixels_mut().chunks_exact_mut(shape.plane()) {
            for row in plane.chunks_exact_mut(shape.width).skip(top).take(self.size) {
                row[left..(left + self.size).min(shape.width)].fill(0.0);
            }
        }
    }
}

#[derive(Sequential)]
struct Small {
    conv: Conv2d,
    bn: BatchNorm2d,
    act: Relu,
    pool: MaxPool2d,
    flat: Flatten,
    fc: Linear,
}

fn small() -> Small {
    let mut rng = seeded(11);
    Small {
        conv: Conv2d::new(1, 4, 3, Init::He, &mut rng).with_input_grad(false),
        bn: BatchNorm2d::new(4),
        act: Relu::new(),
        pool: MaxPool2d::new(2),
        flat: Flatten::new(),
        fc: Linear::new(4 * 13 * 13, 10, Init::He, &mut rng),
    }
}

/// 400 of the bundled digits as `[1, 28, 28]` images.
fn digits() -> Dataset {
    let mnist = Mnist::bundled().unwrap();
    let first: Vec<usize> = (0..400).collect();
    mnist
        .train
        .subset(&first)
        .unwrap()
        .with_feature_shape(&[1, 28, 28])
        .unwrap()
}

/// The bits of every parameter after two epochs of training on `threads` threads, and
/// the epochs' training losses.
fn train(data: &Dataset, threads: usize) -> (Vec<u32>, Vec<f32>) {
    nn::set_num_threads(threads);
    let augment = Compose::new()
        .then(
            RandomAffine::new()
                .degrees(10.0)
                .translate(0.1, 0.1)
                .scale(0.9, 1.1),
        )
        .then(RandomCrop::new(2))
        .then(ElasticDistortion::new(8.0, 3.0))
        .then(Cutout { size: 6 });
    let normalize = Normalize::fit(data).unwrap();
    let source = Transformed::new(data)
        .unwrap()
        .augment(augment)
        .unwrap()
        .normalize(normalize)
        .unwrap()
        .seed(5);
    let mut net = small();
    let mut trainer = Trainer::new(Adam::new(2e-3))
        .epochs(2)
        .batch_size(50)
        .verbosity(Verbosity::Silent);
    let history = trainer.fit(&mut net, &source, None).unwrap();
    let mut bits = Vec::new();
    nn::for_each_param(&mut net, |_, p| bits.extend(p.value.iter().map(|v| v.to_bits())));
    let losses: Vec<f32> = history.records().iter().map(|r| r.train_loss).collect();
    (bits, losses)
}

#[test]
fn an_augmented_run_repeats_bit_for_bit_on_one_and_two_threads() {
    let data = digits();
    let (one, losses) = train(&data, 1);
    let (two, _) = train(&data, 2);
    let (again, _) = train(&data, 2);
    assert!(losses[1] < losses[0] - 0.2, "it learns: {losses:?}");
    assert_eq!(one, two, "1 and 2 threads");
    assert_eq!(two, again, "a repeat");
}

#[test]
fn a_transform_of_ones_own_composes_with_the_built_in_ones() {
    let augment = Compose::new()
        .then(RandomAffine::new().degrees(5.0))
        .then(Cutout { size: 28 });
    assert_eq!(
        augment.describe(),
        "Compose[RandomAffine(degrees=5, translate=(0, 0), scale=(1, 1), fill=0), Cutout]"
    );
    // A cutout as large as the image blanks it: the transform ran, after the warp.
    let data = digits();
    let source = Transformed::new(&data).unwrap().augment(augment).unwrap();
    let mut batch = nn::Batch::new();
    nn::DataSource::fill(&source, &[0, 1], &mut batch, nn::data::FillContext::train(0)).unwrap();
    assert!(batch.inputs.iter().all(|&v| v == 0.0));
}
