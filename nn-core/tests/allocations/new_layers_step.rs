//! A steady training step through the layers of issue 19 (AdaptiveAvgPool2d, ConvTranspose2d,
//! GroupNorm, GELU, Upsample, Softmax, LayerNorm, LeakyReLU) allocates nothing of its own
//! either: statistics, saved activations, taps, bins and outputs are buffers reused from step
//! to step. As in `training_step`, the matrix products' own scratch is counted by running the
//! same products alone.

use super::steady_step::{product_allocations, steady_step_allocations};
use nn_core::data::Dataset;
use nn_core::linalg::set_num_threads;
use nn_core::{seeded, Flatten, Init, Layer, Linear, SoftmaxCrossEntropy};
use nn_core::{AdaptiveAvgPool2d, ConvTranspose2d, Gelu, GroupNorm, LayerNorm, LeakyRelu, Softmax, Upsample};

const BATCH: usize = 6;

#[test]
fn a_steady_training_step_through_the_new_layers_allocates_only_inside_the_matrix_products() {
    let _serial = crate::serial();
    set_num_threads(1);
    let mut rng = seeded(4321);
    // [6, 1, 8, 8] -> pool [6, 1, 4, 4] -> transposed conv (stride 2) [6, 4, 8, 8] -> upsample
    // by 1.5 [6, 4, 12, 12] -> pool [6, 4, 3, 3] -> [6, 36] -> [6, 3].
    let mut net: Vec<Box<dyn Layer>> = vec![
        Box::new(AdaptiveAvgPool2d::new(4)),
        Box::new(
            ConvTranspose2d::builder(1, 4, 3)
                .stride(2)
                .padding(1)
                .output_padding(1)
                .build(Init::He, &mut rng),
        ),
        Box::new(GroupNorm::new(2, 4)),
        Box::new(Gelu::new()),
        Box::new(Upsample::bilinear(1.5, false)),
        Box::new(AdaptiveAvgPool2d::new(3)),
        Box::new(Softmax::new(1)),
        Box::new(Flatten::new()),
        Box::new(LayerNorm::new(&[36])),
        Box::new(LeakyRelu::default()),
        Box::new(Linear::new(36, 3, Init::He, &mut rng)),
    ];
    let pixels: Vec<u8> = (0..50 * 64).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<usize> = (0..50).map(|i| i % 3).collect();
    let data = Dataset::from_u8(pixels, &[1, 8, 8], labels, 3).unwrap();
    let per_step = steady_step_allocations(&mut net, &data, BATCH, &mut SoftmaxCrossEntropy::new());

    // The transposed convolution is the convolution from its [4, 8, 8] output to its
    // [1, 4, 4] input, whose patch matrix (stride 2: compact) has 4 * 3 * 3 = 36 rows and
    // 4 * 4 = 16 columns per image, all 6 images in one tile.
    let cols = 16 * BATCH;
    let gemm = product_allocations(36, 1, cols, true, false) // forward: W^T times the input
        + product_allocations(1, cols, 36, false, true) // weight gradient
        + product_allocations(1, 36, cols, false, false) // input gradient: the convolution
        + product_allocations(BATCH, 36, 3, false, true) // fc forward
        + product_allocations(3, BATCH, 36, true, false) // fc weight gradient
        + product_allocations(BATCH, 3, 36, false, false); // fc input gradient
    assert!(
        per_step.iter().all(|&n| n == gemm),
        "allocations per step {per_step:?}; the matrix products alone make {gemm}"
    );
}
