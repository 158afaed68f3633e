//! A steady training step of a small CNN (Conv2d, BatchNorm2d, ReLU, MaxPool2d, grouped Conv2d,
//! Flatten, Linear) allocates nothing of its own either: patch matrices, tiles, padded images,
//! argmaxes and outputs are buffers reused from step to step. As in `training_step`, the matrix
//! products' own scratch is counted by running the same products alone. Augmenting the batches
//! as they are filled (every built-in augmentation and a normalisation) adds nothing.

use super::steady_step::{product_allocations, steady_step_allocations};
use nn_core::data::{Dataset, Transformed};
use nn_core::linalg::set_num_threads;
use nn_core::vision::{
    Compose, ElasticDistortion, Normalize, RandomAffine, RandomCrop, RandomHorizontalFlip,
};
use nn_core::{
    seeded, BatchNorm2d, Conv2d, Flatten, Init, Layer, Linear, MaxPool2d, Relu, SoftmaxCrossEntropy,
};

const BATCH: usize = 6;

#[test]
fn a_steady_cnn_training_step_allocates_only_inside_the_matrix_products() {
    let _serial = crate::serial();
    set_num_threads(1);
    let data = images();
    let per_step = steady_step_allocations(&mut net(), &data, BATCH, &mut SoftmaxCrossEntropy::new());
    let gemm = products();
    assert!(
        per_step.iter().all(|&n| n == gemm),
        "allocations per step {per_step:?}; the matrix products alone make {gemm}"
    );
}

#[test]
fn augmenting_the_batches_allocates_nothing_once_warm() {
    let _serial = crate::serial();
    set_num_threads(1);
    let data = images();
    let augment = Compose::new()
        .then(
            RandomAffine::new()
                .degrees(10.0)
                .translate(0.1, 0.1)
                .scale(0.9, 1.1),
        )
        .then(RandomCrop::new(1))
        .then(RandomHorizontalFlip::default())
        .then(ElasticDistortion::new(8.0, 2.0));
    let augmented = Transformed::new(&data)
        .unwrap()
        .augment(augment)
        .unwrap()
        .normalize(Normalize::new([0.5], [0.25]))
        .unwrap();
    let per_step = steady_step_allocations(&mut net(), &augmented, BATCH, &mut SoftmaxCrossEntropy::new());
    let gemm = products();
    assert!(
        per_step.iter().all(|&n| n == gemm),
        "allocations per augmented step {per_step:?}; the matrix products alone make {gemm}"
    );
}

/// 50 8x8 grey images in 3 classes.
fn images() -> Dataset {
    let pixels: Vec<u8> = (0..50 * 64).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<usize> = (0..50).map(|i| i % 3).collect();
    Dataset::from_u8(pixels, &[1, 8, 8], labels, 3).unwrap()
}

fn net() -> Vec<Box<dyn Layer>> {
    let mut rng = seeded(4321);
    // [6, 1, 8, 8] -> conv1 (padded) [6, 4, 8, 8] -> pool [6, 4, 4, 4] -> conv2 (2 groups,
    // padded) [6, 6, 4, 4] -> pool [6, 6, 2, 2] -> [6, 24] -> [6, 3].
    vec![
        Box::new(
            Conv2d::builder(1, 4, 3)
                .padding(1)
                .build(Init::He, &mut rng)
                .with_input_grad(false),
        ),
        Box::new(BatchNorm2d::new(4)),
        Box::new(Relu::new()),
        Box::new(MaxPool2d::new(2)),
        Box::new(
            Conv2d::builder(4, 6, 3)
                .padding(1)
                .groups(2)
                .build(Init::He, &mut rng),
        ),
        Box::new(BatchNorm2d::new(6)),
        Box::new(Relu::new()),
        Box::new(MaxPool2d::new(2)),
        Box::new(Flatten::new()),
        Box::new(Linear::new(24, 3, Init::He, &mut rng)),
    ]
}

/// Allocations of the step's matrix products, run alone.
fn products() -> usize {
    // conv1's forward (stride 1, one group) is computed without matrix products (with AVX-512,
    // see below); its backward
    // (8x8 images padded to 10x10: too much padding for the direct kernels) and conv2 (two
    // groups) use im2col. The batch fits one tile per convolution. Patch matrices are wide: `OH`
    // rows of the padded width per image, so conv1's images take 8 * 10 = 80 columns each and
    // conv2's 4 * 6 = 24.
    // Without AVX-512, where the direct forward loses on small images, a convolution whose
    // backward uses im2col takes its forward there too (`conv_direct::forward_pays`): conv1's.
    let (cols1, cols2) = (80 * BATCH, 24 * BATCH);
    let conv1_forward = if wide_vectors() {
        0
    } else {
        product_allocations(4, 9, cols1, false, false)
    };
    conv1_forward
        + product_allocations(4, cols1, 9, false, true) // conv1 weight gradient
        + 2 * product_allocations(3, 18, cols2, false, false) // conv2 forward, per group
        + 2 * product_allocations(3, cols2, 18, false, true) // conv2 weight gradient
        + 2 * product_allocations(18, 3, cols2, true, false) // conv2 patch gradient
        + product_allocations(BATCH, 24, 3, false, true) // fc forward
        + product_allocations(3, BATCH, 24, true, false) // fc weight gradient
        + product_allocations(BATCH, 3, 24, false, false) // fc input gradient
}

/// Whether the CPU has AVX-512, on which the direct forward always runs where it can.
fn wide_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

#[test]
fn a_steady_winograd_convolution_allocates_only_inside_its_products() {
    // A 3x3 stride-1 convolution of 16 channels goes through Winograd's F(2x2, 3x3) on CPUs
    // without AVX-512 (`conv_winograd::pays`): 16 products per chunk of images and pass.
    if wide_vectors() {
        eprintln!("AVX-512: this convolution takes the direct kernels and im2col, covered above");
        return;
    }
    let _serial = crate::serial();
    set_num_threads(1);
    let mut conv = Conv2d::builder(16, 16, 3)
        .padding(1)
        .build(Init::He, &mut seeded(1));
    let mut x = nn_core::Tensor::from_shape_fn(vec![BATCH, 16, 8, 8], |i| (i[0] + i[1]) as f32 * 0.1 - 0.3);
    let mut step = || {
        let y = conv.forward(std::mem::take(&mut x), nn_core::Mode::Train);
        x = conv.backward(y);
    };
    for _ in 0..5 {
        step();
    }
    let before = super::allocations();
    step();
    let per_step = super::allocations() - before;
    // The batch of 6 splits into parts of 1, 2, 1 and 2 images, each one chunk of 16 tiles
    // (4x4 tiles of 2x2 outputs) per image: forward `V · U`, weight gradient `Vᵀ · dM`, input
    // gradient `dM · Uᵀ`, 16 of each.
    let products: usize = [1, 2, 1, 2]
        .iter()
        .map(|images| {
            let tiles = 16 * images;
            16 * (product_allocations(tiles, 16, 16, false, false)
                + product_allocations(16, tiles, 16, true, false)
                + product_allocations(tiles, 16, 16, false, true))
        })
        .sum();
    assert_eq!(
        per_step, products,
        "allocations per step; the products alone make {products}"
    );
}
