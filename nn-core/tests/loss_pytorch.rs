//! nn's losses against PyTorch: the value and the gradient with respect to the output of
//! `nn.CrossEntropyLoss`, `nn.MSELoss`, `nn.L1Loss`, `nn.HuberLoss` and `nn.BCEWithLogitsLoss`
//! on the fixed cases of `tests/fixtures/loss_pytorch.safetensors`, written by
//! `tools/make_loss_fixture.py` (PyTorch in float64 on float32 inputs).
//!
//! Each value must match to 1e-5 relative: `|nn - torch| <= 1e-5 * max(|torch|, rms)`, with `rms`
//! the root mean square of the PyTorch tensor (a gradient entry near zero is compared at its
//! tensor's scale, where f32 rounding lives).

use nn_core::loss::{BceWithLogitsLoss, HuberLoss, L1Loss, Loss, MseLoss, Reduction, SoftmaxCrossEntropy};
use nn_core::{Targets, Tensor};
use safetensors::SafeTensors;
use serde_json::Value;

const FIXTURE: &[u8] = include_bytes!("fixtures/loss_pytorch.safetensors");

fn get(file: &SafeTensors<'_>, name: &str) -> Tensor {
    let view = file
        .tensor(name)
        .unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Tensor::from_shape_vec(view.shape().to_vec(), values).expect("shape matches data")
}

/// The worst relative error of `got` against `expected`, as the module comment defines it.
fn relative_error(got: &Tensor, expected: &Tensor) -> f64 {
    assert_eq!(got.shape(), expected.shape());
    let rms =
        (expected.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / expected.len().max(1) as f64).sqrt();
    got.iter()
        .zip(expected)
        .map(|(&a, &b)| {
            let err =
                (f64::from(a) - f64::from(b)).abs() / f64::from(b).abs().max(rms).max(f64::MIN_POSITIVE);
            if err.is_nan() {
                f64::INFINITY
            } else {
                err
            }
        })
        .fold(0.0, f64::max)
}

/// The nn loss a case names, with its options.
fn loss_for(name: &str, options: &Value) -> Box<dyn Loss> {
    let reduction = match options.get("reduction").and_then(Value::as_str) {
        Some("sum") => Reduction::Sum,
        _ => Reduction::Mean,
    };
    let number = |key: &str| options.get(key).and_then(Value::as_f64).map(|v| v as f32);
    match name.split('_').next().unwrap() {
        "ce" => Box::new(
            SoftmaxCrossEntropy::new()
                .label_smoothing(number("label_smoothing").unwrap_or(0.0))
                .reduction(reduction),
        ),
        "mse" => Box::new(MseLoss::new().reduction(reduction)),
        "l1" => Box::new(L1Loss::new().reduction(reduction)),
        "huber" => Box::new(HuberLoss::new(number("delta").unwrap()).reduction(reduction)),
        "bce" => Box::new(BceWithLogitsLoss::new().reduction(reduction)),
        other => panic!("unknown loss in the fixture: {other}"),
    }
}

#[test]
fn every_loss_matches_pytorch_in_value_and_gradient() {
    let file = SafeTensors::deserialize(FIXTURE).unwrap();
    let (_, metadata) = SafeTensors::read_metadata(FIXTURE).unwrap();
    let metadata = metadata.metadata().as_ref().expect("fixture metadata");
    let cases: serde_json::Map<String, Value> = serde_json::from_str(&metadata["cases"]).unwrap();
    assert_eq!(cases.len(), 20, "every case of the fixture");
    let mut report = Vec::new();
    for (name, options) in &cases {
        let output = get(&file, &format!("{name}.output"));
        let target = get(&file, &format!("{name}.target"));
        let expected_loss = get(&file, &format!("{name}.loss"));
        let expected_grad = get(&file, &format!("{name}.grad"));
        let classes: Vec<usize> = target.iter().map(|&c| c as usize).collect();
        let targets = match options["targets"].as_str() {
            Some("classes") => Targets::Classes(&classes),
            _ => Targets::Values(&target),
        };
        let mut loss = loss_for(name, options);
        let value = loss.forward(output, targets);
        let grad = loss.backward();
        let value_err = relative_error(&Tensor::from_elem(vec![1], value), &expected_loss);
        let grad_err = relative_error(&grad, &expected_grad);
        report.push(format!("{name}: loss {value_err:.1e}, gradient {grad_err:.1e}"));
        assert!(
            value_err <= 1e-5 && grad_err <= 1e-5,
            "{name} ({}): loss {value} vs torch {}, relative errors {value_err:.2e} (loss) and \
             {grad_err:.2e} (gradient)",
            loss.name(),
            expected_loss[[0]]
        );
    }
    println!("{}", report.join("\n"));
}
