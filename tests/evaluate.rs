//! `evaluate`'s logic (examples/common/evaluation.rs); its figures are `nn::plot`'s, tested there.

#[path = "../examples/common/mod.rs"]
mod common;

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
