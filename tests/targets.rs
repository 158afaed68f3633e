//! Targets of any kind through `fit`, as a user meets them: a regression, a multi-label
//! classifier and an autoencoder train; targets that do not fit the loss (class indices for
//! `MseLoss`, values of the wrong width, more classes than the network has outputs) are one
//! clear error before the first step; NaN in value targets or in a CSV file is an error naming
//! where it is.

use nn::data::CsvTable;
use nn::prelude::*;
use nn::train::TrainError;
use nn::{Snapshot, Tensor};

/// 60 samples of 4 features in [-1, 1], in a fixed pattern.
fn features() -> Tensor {
    Tensor::from_shape_fn(vec![60, 4], |i| ((i[0] * 13 + i[1] * 5) % 17) as f32 / 8.0 - 1.0)
}

/// `fit`'s error on `data` for a net of `outputs` outputs and `trainer`, after checking that the
/// net was left as it was.
fn error_before_training<L: Loss>(mut trainer: Trainer<Sgd, L>, outputs: usize, data: &Dataset) -> String {
    let mut net = Linear::new(4, outputs, Init::Xavier, &mut seeded(1));
    let before = Snapshot::capture(&mut net);
    let err = trainer.fit(&mut net, data, None).unwrap_err();
    assert!(
        matches!(err, nn::Error::Train(TrainError::TargetMismatch { .. })),
        "{err}"
    );
    assert_eq!(
        before.get("weight"),
        Snapshot::capture(&mut net).get("weight"),
        "the net changed"
    );
    assert!(trainer.history().is_empty());
    err.to_string()
}

#[test]
fn targets_that_do_not_fit_the_loss_are_one_error_before_the_first_step() {
    let classes = Dataset::from_tensor(features(), (0..60).map(|i| i % 3).collect(), 3).unwrap();
    let mse = || Trainer::new(Sgd::new(0.1)).loss(MseLoss::new()).silent();
    assert_eq!(
        error_before_training(mse(), 3, &classes),
        "MseLoss cannot be used on the training set: the network outputs [N, 3] and the set's \
         targets are class indices below 3, shape [N]; MseLoss needs f32 value targets of the \
         outputs' shape [N, 3]; fix: give the dataset value targets of that shape \
         (Dataset::from_tensors), or for class indices train with SoftmaxCrossEntropy"
    );
    // Values of the wrong width.
    let wide = Dataset::from_tensors(features(), Tensor::zeros(vec![60, 2])).unwrap();
    let err = error_before_training(mse(), 1, &wide);
    assert!(
        err.contains("the network outputs [N, 1] and the set's targets are values of shape [N, 2]"),
        "{err}"
    );
    // More classes than outputs (issue 23: this panicked inside fit with `accuracy: target class 11`).
    let twelve = Dataset::from_tensor(features(), (0..60).map(|i| i % 12).collect(), 12).unwrap();
    let classifier = Trainer::new(Sgd::new(0.1)).silent();
    assert_eq!(
        error_before_training(classifier, 10, &twelve),
        "SoftmaxCrossEntropy cannot be used on the training set: the network outputs [N, 10] and \
         the set's targets are class indices below 12, shape [N]; SoftmaxCrossEntropy needs a score \
         per class, but the network outputs 10 scores for 12 classes; fix: give the last layer 12 \
         outputs"
    );
    // The validation set is checked too, and no target at all is a mismatch for every loss.
    let values = Dataset::from_tensors(features(), Tensor::zeros(vec![60, 1])).unwrap();
    let mut net = Linear::new(4, 1, Init::Xavier, &mut seeded(1));
    let err = mse()
        .fit(&mut net, &values, Some(&classes))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("MseLoss cannot be used on the validation set"),
        "{err}"
    );
    let err = mse()
        .evaluate(&mut net, &values.clone().without_targets())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("MseLoss cannot be used on the evaluation set") && err.contains("no targets"),
        "{err}"
    );
}

#[test]
fn a_multi_label_classifier_and_an_autoencoder_train() {
    // Multi-label: two independent yes/no labels per sample, from the signs of two features.
    let x = features();
    let labels = Tensor::from_shape_fn(vec![60, 2], |i| f32::from(u8::from(x[[i[0], i[1]]] > 0.0)));
    let data = Dataset::from_tensors(x.clone(), labels).unwrap();
    let mut net = Linear::new(4, 2, Init::Xavier, &mut seeded(2));
    let mut trainer = Trainer::new(Adam::new(0.1))
        .loss(BceWithLogitsLoss::new())
        .epochs(60)
        .batch_size(10)
        .silent();
    let history = trainer.fit(&mut net, &data, None).unwrap();
    assert!(history.last().unwrap().train_loss < 0.2, "{history:?}");
    assert!(
        history.metric_names().is_empty(),
        "no accuracy for a regression-style loss"
    );
    let logits = trainer.predict(&mut net, &data).unwrap();
    let right = logits
        .iter()
        .zip(data.target_values().unwrap())
        .filter(|(&z, &t)| (z > 0.0) == (t > 0.5))
        .count();
    assert!(right >= 115, "{right} of 120 labels");

    // Autoencoder: 4 -> 2 -> 4 on inputs that live on a plane, its targets its inputs.
    let plane = Tensor::from_shape_fn(vec![60, 4], |i| {
        let (a, b) = (x[[i[0], 0]], x[[i[0], 1]]);
        [a, b, a + b, a - b][i[1]]
    });
    let data = Dataset::from_tensors(plane.clone(), plane)
        .unwrap()
        .inputs_as_targets();
    let mut net: Vec<Box<dyn Layer>> = vec![
        Box::new(Linear::new(4, 2, Init::Xavier, &mut seeded(3))),
        Box::new(Linear::new(2, 4, Init::Xavier, &mut seeded(4))),
    ];
    let mut trainer = Trainer::new(Adam::new(0.05))
        .loss(MseLoss::new())
        .epochs(150)
        .batch_size(10)
        .silent();
    let history = trainer.fit(&mut net, &data, None).unwrap();
    assert!(history.last().unwrap().train_loss < 1e-3, "{:?}", history.last());
}

#[test]
fn non_finite_values_are_errors_naming_where_they_are() {
    let mut y = Tensor::zeros(vec![60, 1]);
    y[[17, 0]] = f32::NAN;
    let err = Dataset::from_tensors(features(), y).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid dataset: target value 0 of sample 17 is NaN; fix: remove or impute non-finite \
         values before building the dataset"
    );
    let dir = std::env::temp_dir().join(format!("nn-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("houses.csv");
    std::fs::write(&path, "rooms,area,price\n3,70,200\n4,inf,250\n").unwrap();
    let err = CsvTable::read(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}, line 3, column area: `inf` is not a finite number (NaN, an infinity, or beyond \
             f32's range); fix: remove or replace it",
            path.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
