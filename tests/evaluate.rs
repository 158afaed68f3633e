//! `evaluate`'s logic (examples/common/evaluation.rs); its figures are `nn::plot`'s, tested there.

use crate::common;

use common::evaluation::{predicted_classes, worst_mistakes, Confusion, Mistake};
use nn::Tensor;

/// Five samples of three classes: rows of probabilities and their labels.
fn probabilities() -> (Tensor, Vec<usize>) {
    let rows = vec![
        0.8, 0.1, 0.1, // 0, right
        0.1, 0.2, 0.7, // 1 taken for 2 at 0.7
        0.05, 0.05, 0.9, // 2, right
        0.1, 0.6, 0.3, // 2 taken for 1 at 0.6
        0.95, 0.05, 0.0, // 1 taken for 0 at 0.95
    ];
    (
        Tensor::from_shape_vec(vec![5, 3], rows).unwrap(),
        vec![0, 1, 2, 2, 1],
    )
}

#[test]
fn the_confusion_matrix_counts_true_against_predicted_classes() {
    let (p, labels) = probabilities();
    let predicted = predicted_classes(&p);
    assert_eq!(predicted, [0, 2, 2, 1, 0]);
    let c = Confusion::new(&predicted, &labels, 3);
    assert_eq!(c.counts, [[1, 0, 0], [1, 0, 1], [0, 1, 1]]);
    assert_eq!(c.class_accuracy(0), Some(1.0));
    assert_eq!(c.class_accuracy(1), Some(0.0));
    assert_eq!(c.class_accuracy(2), Some(0.5));
    assert_eq!(c.accuracy(), 0.4);
    assert_eq!(
        c.per_class_table(),
        "class  samples  correct  accuracy\n    0        1        1    1.0000\n    1        2        0    \
         0.0000\n    2        2        1    0.5000\n"
    );
    let empty = Confusion::new(&[0], &[0], 2);
    assert_eq!(
        empty.class_accuracy(1),
        None,
        "a class without samples has no accuracy"
    );
}

#[test]
fn the_worst_mistakes_are_the_most_confident_wrong_predictions() {
    let (p, labels) = probabilities();
    let m = |index, label, predicted, probability| Mistake {
        index,
        label,
        predicted,
        probability,
    };
    assert_eq!(
        worst_mistakes(&p, &labels, 10),
        [m(4, 1, 0, 0.95), m(1, 1, 2, 0.7), m(3, 2, 1, 0.6)],
        "only misclassified samples, most confident first"
    );
    assert_eq!(worst_mistakes(&p, &labels, 1).len(), 1);
}

/// A checkpoint of `net` loads into `--arch arch`, which takes digits flat as predict and
/// evaluate hand them over, and computes what `net` computes on the images.
fn loads_by_arch_and_reads_flat_digits_as_images(arch: &str, net: &mut dyn nn::Layer) {
    use nn::prelude::*;
    let path = std::env::temp_dir().join(format!("nn-evaluate-{arch}-{}.safetensors", std::process::id()));
    nn::save(net, &path).unwrap();
    let mut loaded = common::nets::load(arch, &path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let flat = Tensor::from_shape_fn(vec![2, 784], |ix| ((ix[0] * 31 + ix[1] * 7) % 256) as f32 / 255.0);
    let images = flat.clone().into_shape_with_order(vec![2, 1, 28, 28]).unwrap();
    let expected = net.forward(images, Mode::Eval);
    let got = loaded.forward(flat, Mode::Eval);
    assert_eq!(got.shape(), &[2, 10]);
    assert!(got.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn a_cnn_checkpoint_loads_by_arch_and_reads_flat_digits_as_images() {
    loads_by_arch_and_reads_flat_digits_as_images("cnn", &mut common::nets::Cnn::new(&mut nn::seeded(7)));
}

#[test]
fn a_resnet_checkpoint_loads_by_arch_and_reads_flat_digits_as_images() {
    loads_by_arch_and_reads_flat_digits_as_images(
        "resnet",
        &mut common::nets::ResNet::new(&mut nn::seeded(7)),
    );
}

/// Issue 23.4: with one NaN in a bias, evaluate printed `test_accuracy=0.1040` and exited 0.
/// Rows that are not numbers are found, so evaluate fails instead.
#[test]
fn rows_that_are_not_numbers_are_found() {
    let (mut p, _) = probabilities();
    assert_eq!(common::evaluation::non_finite_rows(&p), None);
    p[[3, 1]] = f32::NAN;
    p[[4, 0]] = f32::INFINITY;
    assert_eq!(common::evaluation::non_finite_rows(&p), Some((3, 2)));
}

#[test]
fn a_checkpoint_of_another_known_network_suggests_its_arch() {
    use nn::prelude::*;
    let dir = std::env::temp_dir().join(format!("nn-evaluate-arch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cnn = dir.join("cnn.safetensors");
    nn::save(&mut common::nets::Cnn::new(&mut seeded(7)), &cnn).unwrap();
    let err = common::nets::load("mlp", &cnn)
        .err()
        .expect("a CNN does not load as the MLP");
    let wrong = err.downcast_ref::<common::nets::WrongArch>().expect("WrongArch");
    assert_eq!((wrong.given.as_str(), wrong.fits), ("mlp", "cnn"));
    let text = err.to_string();
    assert!(text.ends_with("fix: add --arch cnn to the command"), "{text}");
    assert!(text.starts_with(&cnn.display().to_string()), "{text}");

    let mlp = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/models/mlp_mnist10k.safetensors"
    );
    let err = common::nets::load("cnn", std::path::Path::new(mlp))
        .err()
        .expect("the MLP is no CNN");
    assert!(err.to_string().contains("add --arch mlp"), "{err}");

    // A checkpoint of no known network keeps the list of what does not fit, and suggests nothing.
    let other = dir.join("other.safetensors");
    nn::save(&mut Linear::new(3, 2, Init::He, &mut seeded(1)), &other).unwrap();
    let err = common::nets::load("mlp", &other)
        .err()
        .expect("a lone Linear is no MLP");
    assert!(err.downcast_ref::<nn::Error>().is_some(), "{err}");
    assert!(!err.to_string().contains("--arch"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
