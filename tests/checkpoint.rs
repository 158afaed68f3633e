//! Loading a checkpoint another framework wrote, as a user would: a PyTorch `nn.Sequential`
//! state_dict in float64 with its own names, read into a derived network with `nn::load_with`.

use nn::prelude::*;
use nn::{CheckpointError, Error};
use std::path::PathBuf;

/// A file path under the system temp dir, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        TempFile(std::env::temp_dir().join(format!("nn-checkpoint-{}-{name}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The bytes `safetensors.torch.save_file` writes for float64 tensors `(name, shape, values)`.
fn f64_safetensors(tensors: &[(&str, &[usize], &[f64])]) -> Vec<u8> {
    let (mut entries, mut data) = (Vec::new(), Vec::new());
    for (name, shape, values) in tensors {
        let start = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        entries.push(format!(
            r#""{name}":{{"dtype":"F64","shape":{shape:?},"data_offsets":[{start},{}]}}"#,
            data.len()
        ));
    }
    let header = format!("{{{}}}", entries.join(","));
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

#[derive(Sequential)]
struct Net {
    fc1: Linear,
    act: Relu,
    fc2: Linear,
}

fn net(seed: u64) -> Net {
    let mut rng = seeded(seed);
    Net {
        fc1: Linear::new(3, 2, Init::He, &mut rng),
        act: Relu::new(),
        fc2: Linear::new(2, 2, Init::He, &mut rng),
    }
}

fn params(net: &mut Net) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    nn::for_each_param(net, |name, p| {
        out.push((name.to_string(), p.value.iter().copied().collect()))
    });
    out
}

/// `nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)).double()`: its names are `0.*`
/// and `2.*`, its weights `[out, in]` as nn's.
fn torch_file(name: &str) -> TempFile {
    let file = TempFile::new(name);
    let bytes = f64_safetensors(&[
        ("0.weight", &[2, 3], &[0.5, -1.0, 0.25, 2.0, 0.0, -0.125]),
        ("0.bias", &[2], &[0.1, -0.2]),
        ("2.weight", &[2, 2], &[1.5, -0.5, 0.75, 1.0]),
        ("2.bias", &[2], &[0.0, 3.0]),
    ]);
    std::fs::write(&file.0, bytes).unwrap();
    file
}

#[test]
fn a_pytorch_sequential_loads_into_a_derived_net_with_load_with() {
    let file = torch_file("sequential.safetensors");
    let mut net = net(1);
    nn::load_with(&mut net, &file.0, |name| {
        name.replacen("fc1.", "0.", 1).replacen("fc2.", "2.", 1)
    })
    .unwrap();
    assert_eq!(
        params(&mut net),
        [
            ("fc1.weight".to_string(), vec![0.5, -1.0, 0.25, 2.0, 0.0, -0.125]),
            ("fc1.bias".to_string(), vec![0.1, -0.2]),
            ("fc2.weight".to_string(), vec![1.5, -0.5, 0.75, 1.0]),
            ("fc2.bias".to_string(), vec![0.0, 3.0]),
        ]
    );
    let y = net.forward(
        Tensor::from_shape_vec(vec![1, 3], vec![1.0, 2.0, 4.0]).unwrap(),
        Mode::Eval,
    );
    // fc1: [0.5 - 2 + 1 + 0.1, 2 + 0 - 0.5 - 0.2] = [-0.4, 1.3]; relu: [0, 1.3]; fc2 below.
    let want = [-0.5f32 * 1.3, 1.3 + 3.0];
    assert!(y.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{y}");
}

#[test]
fn without_the_mapping_every_name_is_reported_and_load_with_suggested() {
    let file = torch_file("unmapped.safetensors");
    let mut net = net(1);
    let before = params(&mut net);
    let err = nn::load(&mut net, &file.0).unwrap_err();
    let Error::Checkpoint(CheckpointError::Mismatch { problems, .. }) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(problems.len(), 8, "{err}");
    let text = err.to_string();
    assert!(text.contains("missing tensor `fc1.weight`"), "{text}");
    assert!(text.contains("unexpected tensor `2.bias`"), "{text}");
    assert!(text.contains("nn::load_with"), "{text}");
    assert_eq!(params(&mut net), before);
}
