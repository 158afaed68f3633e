//! The finetune example's task and stages (examples/finetune/task.rs), on the bundled digits: the
//! turned, parity-labelled samples, a head trained on a frozen body that does not move, and the
//! whole network trained with a group per part.

#[allow(dead_code)] // train_scratch runs in the example only
#[path = "../examples/finetune/task.rs"]
mod task;

use crate::common::nets::Cnn;
use nn::prelude::*;
use task::Stage;

/// Every parameter and buffer, by name, as bits.
fn tensors(net: &mut dyn Layer) -> Vec<(String, Vec<u32>)> {
    let mut all = Vec::new();
    nn::for_each_param(net, |n, p| {
        all.push((n.to_string(), p.value.iter().map(|v| v.to_bits()).collect()))
    });
    nn::for_each_buffer(net, |n, b| {
        all.push((n.to_string(), b.iter().map(|v| v.to_bits()).collect()))
    });
    all
}

#[test]
fn samples_are_turned_clockwise_and_labelled_by_parity() {
    // Three images, each with one lit pixel at row 2, column 5; labels 7, 4, 0.
    let mut pixels = vec![0.0f32; 3 * 784];
    for i in 0..3 {
        pixels[i * 784 + 2 * 28 + 5] = 1.0;
    }
    let digits = Dataset::from_f32(pixels, &[784], vec![7, 4, 0], 10).unwrap();
    let turned = task::samples(&digits, 2, task::Style::Turned, task::Labels::Parity).unwrap();
    assert_eq!(turned.len(), 2);
    assert_eq!(turned.labels().unwrap(), [1, 0]);
    assert_eq!(turned.feature_shape(), [1, 28, 28]);
    // A quarter turn clockwise takes (row 2, column 5) to (row 5, column 25).
    let x = turned.to_tensor();
    assert_eq!(x[[0, 0, 5, 25]], 1.0);
    assert_eq!(x.iter().filter(|&&v| v != 0.0).count(), 2);
}

#[test]
fn the_head_stage_moves_only_the_head_and_the_second_stage_moves_everything() {
    let digits = nn::Mnist::bundled().unwrap();
    let train = task::samples(&digits.train, 40, task::Style::Turned, task::Labels::Parity).unwrap();
    let valid = task::samples(&digits.test, 20, task::Style::Turned, task::Labels::Parity).unwrap();
    let mut rng = seeded(1);
    let mut net = Cnn::new(&mut rng);
    task::new_head(&mut net, 2, &mut rng);
    let stage = Stage {
        epochs: 1,
        batch_size: 20,
        seed: 1,
        log: None,
    };
    let before = tensors(&mut net);
    task::train_head(&mut net, &stage, 1e-3, &train, &valid).unwrap();
    let after = tensors(&mut net);
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a == b, task::in_body(name), "{name}");
    }
    let trainer = task::train_all(&mut net, &stage, (1e-4, 1e-3), &train, &valid).unwrap();
    let moved = tensors(&mut net);
    assert!(after
        .iter()
        .zip(&moved)
        .any(|((n, a), (_, b))| n == "conv1.weight" && a != b));
    let rates: Vec<f32> = trainer
        .optimizer()
        .param_groups()
        .iter()
        .map(|g| g.learning_rate())
        .collect();
    // One epoch of a one-epoch cosine: each group at its own starting rate.
    assert_eq!(rates, [1e-4, 1e-3]);
    assert_eq!(trainer.optimizer().state().groups.len(), 2);
}
