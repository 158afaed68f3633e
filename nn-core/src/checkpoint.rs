//! Checkpoints: a model's parameters and buffers saved by their stable names (`fc1.weight`,
//! `bn1.running_mean`) in the [safetensors] format, and in-memory [`Snapshot`]s of the same.
//!
//! A checkpoint file is F32, little-endian, row-major, with the PyTorch layouts nn uses
//! (`Linear.weight` is `[out, in]`), so `safetensors.torch.load_file` reads it into a
//! `state_dict` and `safetensors.numpy.load_file` into numpy arrays. Loading checks every name,
//! shape and dtype before touching the model and reports all mismatches in one error.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

use crate::error::{Error, Result};
use crate::fsutil::atomic_write_bytes;
use crate::layer::{for_each_buffer, for_each_param, Layer};
use crate::tensor::{Tensor, TensorView, TensorViewMut};
use safetensors::tensor::{Dtype, Metadata, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The largest header the safetensors format allows (its reference implementation's limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// How many mismatch lines an error message lists before summarising the rest.
const MAX_LISTED: usize = 20;

/// One way in which stored tensors fail to fit a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The model has a tensor the checkpoint lacks.
    Missing {
        /// The tensor's full name.
        name: String,
        /// Its shape in the model.
        shape: Vec<usize>,
    },
    /// The checkpoint has a tensor the model lacks.
    Unexpected {
        /// The tensor's full name.
        name: String,
        /// Its shape in the checkpoint.
        shape: Vec<usize>,
    },
    /// Both have the tensor, with different shapes.
    WrongShape {
        /// The tensor's full name.
        name: String,
        /// Its shape in the model.
        expected: Vec<usize>,
        /// Its shape in the checkpoint.
        found: Vec<usize>,
    },
    /// The checkpoint stores the tensor with an element type other than F32.
    WrongDtype {
        /// The tensor's full name.
        name: String,
        /// The safetensors dtype found (`F16`, `F64`, `I64`, …).
        found: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Missing { name, shape } => {
                write!(
                    f,
                    "missing tensor `{name}` (the model has it with shape {shape:?})"
                )
            }
            Mismatch::Unexpected { name, shape } => {
                write!(
                    f,
                    "unexpected tensor `{name}` with shape {shape:?} (not in the model)"
                )
            }
            Mismatch::WrongShape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor `{name}` has shape {found:?}, the model expects {expected:?}"
                )
            }
            Mismatch::WrongDtype { name, found } => {
                write!(f, "tensor `{name}` is stored as {found}, nn needs F32")
            }
        }
    }
}

/// Why a checkpoint could not be saved, loaded or restored.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file ends before the data its header describes (an interrupted write or copy).
    Truncated {
        /// The checkpoint file.
        path: PathBuf,
        /// How many bytes the file needs (at least, when the header itself is cut off).
        expected_bytes: u64,
        /// How many bytes it has.
        found_bytes: u64,
    },
    /// The file is not a well-formed safetensors file: unreadable header length, header not
    /// valid JSON, tensor offsets that do not tile the data, or bytes after the last tensor.
    CorruptHeader {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// The stored tensors do not fit the model. Lists every problem, not just the first.
    Mismatch {
        /// The checkpoint file, or `None` for an in-memory [`Snapshot`].
        path: Option<PathBuf>,
        /// Every missing, unexpected, wrongly shaped or wrongly typed tensor, in model order,
        /// then unexpected tensors by name.
        problems: Vec<Mismatch>,
    },
    /// The model reports two tensors under one name, so they cannot be told apart in a file.
    DuplicateName {
        /// The name reported twice.
        name: String,
    },
    /// The safetensors encoder refused the model (a header beyond the format's 100 MB limit).
    Unencodable {
        /// Where the checkpoint was to be written.
        path: PathBuf,
        /// The encoder's reason.
        reason: String,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Truncated {
                path,
                expected_bytes,
                found_bytes,
            } => write!(
                f,
                "checkpoint {} is truncated: it has {found_bytes} bytes but its header calls for \
                 {expected_bytes}; it was probably cut off while being written or copied, so save \
                 or copy it again",
                path.display()
            ),
            CheckpointError::CorruptHeader { path, reason } => write!(
                f,
                "checkpoint {} is not a valid safetensors file: {reason}; check that the path names \
                 a checkpoint written by nn (or by safetensors) and that it is not damaged",
                path.display()
            ),
            CheckpointError::Mismatch { path, problems } => {
                match path {
                    Some(path) => write!(f, "checkpoint {} does not fit the model", path.display())?,
                    None => write!(f, "snapshot does not fit the model")?,
                }
                write!(
                    f,
                    " ({} problem{}):",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                )?;
                for p in problems.iter().take(MAX_LISTED) {
                    write!(f, "\n  {p}")?;
                }
                if problems.len() > MAX_LISTED {
                    write!(f, "\n  … and {} more", problems.len() - MAX_LISTED)?;
                }
                if problems.iter().any(|p| matches!(p, Mismatch::WrongDtype { .. })) {
                    write!(
                        f,
                        "\nconvert the tensors to float32 before loading (in PyTorch: `.float()`)"
                    )?;
                }
                if problems.iter().any(|p| !matches!(p, Mismatch::WrongDtype { .. })) {
                    write!(
                        f,
                        "\nbuild the model with the same layers, names and sizes as the one that was saved"
                    )?;
                }
                Ok(())
            }
            CheckpointError::DuplicateName { name } => write!(
                f,
                "the model reports two tensors named `{name}`; give each parameter and buffer of a \
                 layer its own name"
            ),
            CheckpointError::Unencodable { path, reason } => {
                write!(f, "cannot encode checkpoint {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for CheckpointError {}

/// Saves every parameter and buffer of `model` to `path` as a safetensors file, atomically (a
/// temporary file in the same directory, synced, then renamed over `path`).
///
/// ```
/// # use nn_core::{Layer, Mode, Tensor, Visitor, ParamKind};
/// # struct Scale { w: Tensor, g: Tensor }
/// # impl Layer for Scale {
/// #     fn forward(&mut self, x: Tensor, _: Mode) -> Tensor { x * self.w[0] }
/// #     fn backward(&mut self, g: Tensor) -> Tensor { g * self.w[0] }
/// #     fn visit(&mut self, v: &mut Visitor<'_>) { v.param("w", &mut self.w, &mut self.g, ParamKind::Weight) }
/// # }
/// # let dir = std::env::temp_dir().join(format!("nn-doc-ckpt-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("model.safetensors");
/// let mut a = Scale { w: Tensor::from_elem(vec![1], 3.0), g: Tensor::zeros(vec![1]) };
/// nn_core::checkpoint::save(&mut a, &path)?;
/// let mut b = Scale { w: Tensor::zeros(vec![1]), g: Tensor::zeros(vec![1]) };
/// nn_core::checkpoint::load(&mut b, &path)?;
/// assert_eq!(b.w[0], 3.0);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn save(model: &mut (impl Layer + ?Sized), path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode(model, path)?;
    atomic_write_bytes(path, &bytes)
}

/// Loads the parameters and buffers of `model` from the safetensors file at `path`.
///
/// Everything is checked before the model changes: a truncated or corrupt file, or any missing,
/// unexpected, wrongly shaped or non-F32 tensor, is an error and leaves the model as it was.
/// Mismatches are all reported at once ([`CheckpointError::Mismatch`]).
pub fn load(model: &mut (impl Layer + ?Sized), path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading checkpoint", path, e))?;
    decode_into(model, &bytes, path)?;
    Ok(())
}

/// A tensor's data as little-endian F32 bytes, for the safetensors encoder.
struct F32Bytes {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Bytes {
    fn new(t: TensorView<'_>) -> Self {
        let mut bytes = Vec::with_capacity(t.len() * 4);
        // `iter` walks in logical row-major order whatever the memory layout, which is the order
        // safetensors specifies.
        for v in t.iter() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        F32Bytes {
            shape: t.shape().to_vec(),
            bytes,
        }
    }
}

impl View for &F32Bytes {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// `f` of every tensor of `model` with its name, parameters then buffers, in visiting order.
fn map_tensors<T>(
    model: &mut (impl Layer + ?Sized),
    mut f: impl FnMut(TensorView<'_>) -> T,
) -> Vec<(String, T)> {
    let mut out = Vec::new();
    for_each_param(model, |name, p| out.push((name.to_string(), f(p.value.view()))));
    for_each_buffer(model, |name, t| out.push((name.to_string(), f(t.view()))));
    out
}

/// Every tensor of `model` as bytes to encode.
fn collect_model(model: &mut (impl Layer + ?Sized)) -> Vec<(String, F32Bytes)> {
    map_tensors(model, F32Bytes::new)
}

/// The names and shapes of `model`'s tensors.
fn model_shapes(model: &mut (impl Layer + ?Sized)) -> Vec<(String, Vec<usize>)> {
    map_tensors(model, |t| t.shape().to_vec())
}

fn check_unique<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), CheckpointError> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(CheckpointError::DuplicateName {
                name: name.to_string(),
            });
        }
    }
    Ok(())
}

fn encode(model: &mut (impl Layer + ?Sized), path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let tensors = collect_model(model);
    check_unique(tensors.iter().map(|(n, _)| n.as_str()))?;
    // "pt" tells loaders (transformers among them) that names and layouts follow PyTorch's.
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata)).map_err(|e| {
        CheckpointError::Unencodable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })
}

/// Parses and validates the file structure, telling a cut-off file from a malformed one.
fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>, CheckpointError> {
    let found = bytes.len() as u64;
    let truncated = |expected: u64| CheckpointError::Truncated {
        path: path.to_path_buf(),
        expected_bytes: expected,
        found_bytes: found,
    };
    let corrupt = |reason: String| CheckpointError::CorruptHeader {
        path: path.to_path_buf(),
        reason,
    };

    let Some(len_field) = bytes.first_chunk::<8>() else {
        return Err(truncated(8));
    };
    let header_len = u64::from_le_bytes(*len_field);
    if header_len > MAX_HEADER_BYTES {
        // A cut-off file still has its length field; an absurd one means this is not safetensors.
        return Err(corrupt(format!(
            "its first 8 bytes give a header length of {header_len} bytes, beyond the format's \
             limit of {MAX_HEADER_BYTES}"
        )));
    }
    let header_end = 8 + header_len;
    if header_end > found {
        return Err(truncated(header_end));
    }
    let header = &bytes[8..header_end as usize];
    // Deserialising `Metadata` also checks that the offsets tile the data region exactly and
    // agree with each tensor's shape and dtype.
    let metadata: Metadata =
        serde_json::from_slice(header).map_err(|e| corrupt(format!("its header is not valid: {e}")))?;
    let expected = header_end + metadata.data_len() as u64;
    if expected > found {
        return Err(truncated(expected));
    }
    if expected < found {
        return Err(corrupt(format!(
            "{} bytes follow the last tensor the header describes",
            found - expected
        )));
    }
    SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))
}

/// What is known about one stored tensor when checking it against the model.
struct Stored<'a> {
    shape: &'a [usize],
    dtype: Dtype,
}

/// Compares the model's tensors with the stored ones and lists every problem: model order first,
/// then unexpected stored tensors sorted by name.
fn compare(model: &[(String, Vec<usize>)], stored: &HashMap<&str, Stored<'_>>) -> Vec<Mismatch> {
    let mut problems = Vec::new();
    for (name, shape) in model {
        match stored.get(name.as_str()) {
            None => problems.push(Mismatch::Missing {
                name: name.clone(),
                shape: shape.clone(),
            }),
            Some(s) => {
                if s.dtype != Dtype::F32 {
                    problems.push(Mismatch::WrongDtype {
                        name: name.clone(),
                        found: s.dtype.to_string(),
                    });
                }
                if s.shape != shape.as_slice() {
                    problems.push(Mismatch::WrongShape {
                        name: name.clone(),
                        expected: shape.clone(),
                        found: s.shape.to_vec(),
                    });
                }
            }
        }
    }
    let known: HashSet<&str> = model.iter().map(|(n, _)| n.as_str()).collect();
    let mut unexpected: Vec<Mismatch> = stored
        .iter()
        .filter(|(name, _)| !known.contains(*name))
        .map(|(name, s)| Mismatch::Unexpected {
            name: name.to_string(),
            shape: s.shape.to_vec(),
        })
        .collect();
    unexpected.sort_by(|a, b| match (a, b) {
        (Mismatch::Unexpected { name: x, .. }, Mismatch::Unexpected { name: y, .. }) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    problems.extend(unexpected);
    problems
}

fn copy_le_f32(src: &[u8], mut dst: TensorViewMut<'_>) {
    // Shapes were checked, so the byte count is exactly 4 per element.
    for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

fn decode_into(model: &mut (impl Layer + ?Sized), bytes: &[u8], path: &Path) -> Result<(), CheckpointError> {
    let file = parse(bytes, path)?;
    let shapes = model_shapes(model);
    check_unique(shapes.iter().map(|(n, _)| n.as_str()))?;
    let views: HashMap<&str, _> = file.iter().collect();
    let stored: HashMap<&str, Stored<'_>> = views
        .iter()
        .map(|(&n, v)| {
            (
                n,
                Stored {
                    shape: v.shape(),
                    dtype: v.dtype(),
                },
            )
        })
        .collect();
    let problems = compare(&shapes, &stored);
    if !problems.is_empty() {
        return Err(CheckpointError::Mismatch {
            path: Some(path.to_path_buf()),
            problems,
        });
    }
    // Everything matched, so every lookup below succeeds and the whole model is written.
    let mut write = |name: &str, t: TensorViewMut<'_>| {
        if let Some(v) = views.get(name) {
            copy_le_f32(v.data(), t);
        }
    };
    for_each_param(model, |name, p| write(name, p.value));
    for_each_buffer(model, &mut write);
    Ok(())
}

/// A copy of all parameters and buffers of a model, by name, kept in memory: early stopping takes
/// one at the best epoch and restores it at the end.
///
/// [`Snapshot::recapture`] reuses the snapshot's buffers, so taking a snapshot every epoch
/// allocates only the first time.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    tensors: Vec<(String, Tensor)>,
}

impl Snapshot {
    /// Copies every parameter and buffer of `model`.
    pub fn capture(model: &mut (impl Layer + ?Sized)) -> Self {
        let mut s = Snapshot::default();
        s.recapture(model);
        s
    }

    /// Replaces this snapshot's contents with `model`'s current tensors, reusing the existing
    /// allocations where names and shapes are unchanged.
    pub fn recapture(&mut self, model: &mut (impl Layer + ?Sized)) {
        let mut i = 0;
        let tensors = &mut self.tensors;
        let mut take = |name: &str, t: TensorView<'_>| {
            match tensors.get_mut(i) {
                Some((n, stored)) if n == name && stored.shape() == t.shape() => stored.assign(&t),
                Some(slot) => *slot = (name.to_string(), t.to_owned()),
                None => tensors.push((name.to_string(), t.to_owned())),
            }
            i += 1;
        };
        for_each_param(model, |name, p| take(name, p.value.view()));
        for_each_buffer(model, |name, t| take(name, t.view()));
        tensors.truncate(i);
    }

    /// Writes the snapshot back into `model`. Checks all names and shapes first; on a mismatch
    /// the model is left unchanged and every problem is reported.
    pub fn restore(&self, model: &mut (impl Layer + ?Sized)) -> Result<()> {
        let shapes = model_shapes(model);
        check_unique(shapes.iter().map(|(n, _)| n.as_str()))?;
        let by_name: HashMap<&str, &Tensor> = self.tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let stored: HashMap<&str, Stored<'_>> = by_name
            .iter()
            .map(|(&n, t)| {
                (
                    n,
                    Stored {
                        shape: t.shape(),
                        dtype: Dtype::F32,
                    },
                )
            })
            .collect();
        let problems = compare(&shapes, &stored);
        if !problems.is_empty() {
            return Err(CheckpointError::Mismatch { path: None, problems }.into());
        }
        let mut write = |name: &str, mut t: TensorViewMut<'_>| {
            if let Some(s) = by_name.get(name) {
                t.assign(s);
            }
        };
        for_each_param(model, |name, p| write(name, p.value));
        for_each_buffer(model, &mut write);
        Ok(())
    }

    /// The number of tensors held.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the snapshot holds no tensors (a model without parameters or buffers).
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The stored tensor named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::tests::TempDir;
    use crate::layer::{Mode, ParamKind, Visitor};
    use ndarray::{Array2, Axis, Ix2};
    use rand::Rng as _;

    /// An affine layer with a running mean of its outputs that shifts its Eval output: one
    /// weight, one bias, one buffer, so Eval outputs depend on all three kinds of state.
    struct Probe {
        w: Tensor,
        gw: Tensor,
        b: Tensor,
        gb: Tensor,
        running: Tensor,
    }

    impl Probe {
        fn new(inputs: usize, outputs: usize, seed: u64) -> Self {
            let mut rng = crate::rng::seeded(seed);
            let mut draw = |shape: &[usize]| Tensor::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0));
            Probe {
                w: draw(&[inputs, outputs]),
                gw: Tensor::zeros(vec![inputs, outputs]),
                b: draw(&[outputs]),
                gb: Tensor::zeros(vec![outputs]),
                running: Tensor::zeros(vec![outputs]),
            }
        }
    }

    impl Layer for Probe {
        fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
            let x2 = x.into_dimensionality::<Ix2>().unwrap();
            let w = self.w.view().into_dimensionality::<Ix2>().unwrap();
            let b = self.b.view().into_dimensionality::<ndarray::Ix1>().unwrap();
            let mut y: Array2<f32> = x2.dot(&w) + b;
            match mode {
                Mode::Train => {
                    let mean = y.mean_axis(Axis(0)).unwrap().into_dyn();
                    self.running = &self.running * 0.9 + mean * 0.1;
                }
                Mode::Eval => y -= &self.running.view().into_dimensionality::<ndarray::Ix1>().unwrap(),
            }
            y.into_dyn()
        }
        fn backward(&mut self, grad: Tensor) -> Tensor {
            grad
        }
        fn visit(&mut self, v: &mut Visitor<'_>) {
            v.param("weight", &mut self.w, &mut self.gw, ParamKind::Weight);
            v.param("bias", &mut self.b, &mut self.gb, ParamKind::Bias);
            v.buffer("running_mean", &mut self.running);
        }
    }

    fn trained_net(seed: u64) -> Vec<Probe> {
        let mut net = vec![Probe::new(3, 4, seed), Probe::new(4, 2, seed + 1)];
        for _ in 0..3 {
            net.forward(input(), Mode::Train);
        }
        net
    }

    fn input() -> Tensor {
        Tensor::from_shape_fn(vec![5, 3], |ix| (ix[0] as f32 - 2.0) * 0.37 + ix[1] as f32 * 0.11)
    }

    fn bits(t: TensorView<'_>) -> Vec<u32> {
        t.iter().map(|v| v.to_bits()).collect()
    }

    fn all_bits(model: &mut impl Layer) -> Vec<(String, Vec<u32>)> {
        let mut out = Vec::new();
        for_each_param(model, |n, p| out.push((n.to_string(), bits(p.value.view()))));
        for_each_buffer(model, |n, t| out.push((n.to_string(), bits(t.view()))));
        out
    }

    fn checkpoint_err(e: Error) -> CheckpointError {
        match e {
            Error::Checkpoint(c) => c,
            other => panic!("expected a checkpoint error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_is_bit_identical_including_buffers() {
        let dir = TempDir::new("ckpt-roundtrip");
        let path = dir.join("model.safetensors");
        let mut saved = trained_net(1);
        // Values that a lossy text or f64 detour would change.
        saved[0].w[[0, 0]] = f32::MIN_POSITIVE / 8.0;
        saved[0].w[[0, 1]] = -0.0;
        saved[1].b[[0]] = 0.1 + 0.2;
        save(&mut saved, &path).unwrap();

        let mut loaded = trained_net(99);
        assert_ne!(all_bits(&mut saved), all_bits(&mut loaded));
        load(&mut loaded, &path).unwrap();
        assert_eq!(all_bits(&mut saved), all_bits(&mut loaded));
        let a = saved.forward(input(), Mode::Eval);
        let b = loaded.forward(input(), Mode::Eval);
        assert_eq!(bits(a.view()), bits(b.view()));
    }

    #[test]
    fn file_is_plain_safetensors_with_pytorch_names() {
        let dir = TempDir::new("ckpt-format");
        let path = dir.join("model.safetensors");
        let mut net = trained_net(2);
        save(&mut net, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        let mut names: Vec<&str> = header.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "0.bias",
                "0.running_mean",
                "0.weight",
                "1.bias",
                "1.running_mean",
                "1.weight",
                "__metadata__"
            ]
        );
        let w = &header["1.weight"];
        assert_eq!(w["dtype"], "F32");
        assert_eq!(w["shape"], serde_json::json!([4, 2]));
        let start = 8 + n + w["data_offsets"][0].as_u64().unwrap() as usize;
        let first = f32::from_le_bytes(bytes[start..start + 4].try_into().unwrap());
        assert_eq!(first.to_bits(), net[1].w[[0, 0]].to_bits());
    }

    #[test]
    fn missing_tensors_are_all_reported_and_the_model_is_untouched() {
        let dir = TempDir::new("ckpt-missing");
        let path = dir.join("one.safetensors");
        save(&mut vec![Probe::new(3, 4, 1)], &path).unwrap();
        let mut net = trained_net(5);
        let before = all_bits(&mut net);
        let err = checkpoint_err(load(&mut net, &path).unwrap_err());
        let CheckpointError::Mismatch { problems, .. } = &err else {
            panic!("{err:?}")
        };
        let names: Vec<&str> = problems
            .iter()
            .map(|p| match p {
                Mismatch::Missing { name, .. } => name.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["1.weight", "1.bias", "1.running_mean"]);
        assert!(err.to_string().contains("missing tensor `1.weight`"), "{err}");
        assert_eq!(all_bits(&mut net), before);
    }

    #[test]
    fn wrong_shapes_are_reported_with_both_shapes() {
        let dir = TempDir::new("ckpt-shape");
        let path = dir.join("m.safetensors");
        save(&mut Probe::new(3, 4, 1), &path).unwrap();
        let mut other = Probe::new(5, 4, 1);
        let before = all_bits(&mut other);
        let err = checkpoint_err(load(&mut other, &path).unwrap_err());
        let CheckpointError::Mismatch { problems, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            problems,
            &[Mismatch::WrongShape {
                name: "weight".into(),
                expected: vec![5, 4],
                found: vec![3, 4]
            }]
        );
        assert!(
            err.to_string()
                .contains("has shape [3, 4], the model expects [5, 4]"),
            "{err}"
        );
        assert_eq!(all_bits(&mut other), before);
    }

    #[test]
    fn every_kind_of_mismatch_is_reported_in_one_error() {
        let dir = TempDir::new("ckpt-all");
        let path = dir.join("m.safetensors");
        // Saved: 0.{weight [3,4], bias, running_mean}, 1.{weight [4,2], ...}, 2.{...}
        save(
            &mut vec![Probe::new(3, 4, 1), Probe::new(4, 2, 1), Probe::new(2, 2, 1)],
            &path,
        )
        .unwrap();
        // Model: 0 has a different input width, and there is no layer 2.
        let mut net = vec![Probe::new(6, 4, 1), Probe::new(4, 2, 1)];
        let err = checkpoint_err(load(&mut net, &path).unwrap_err());
        let CheckpointError::Mismatch { problems, path: p } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(p.as_deref(), Some(path.as_path()));
        assert_eq!(
            problems,
            &[
                Mismatch::WrongShape {
                    name: "0.weight".into(),
                    expected: vec![6, 4],
                    found: vec![3, 4]
                },
                Mismatch::Unexpected {
                    name: "2.bias".into(),
                    shape: vec![2]
                },
                Mismatch::Unexpected {
                    name: "2.running_mean".into(),
                    shape: vec![2]
                },
                Mismatch::Unexpected {
                    name: "2.weight".into(),
                    shape: vec![2, 2]
                },
            ]
        );
        assert!(err.to_string().contains("(4 problems)"), "{err}");
    }

    /// A tensor in another dtype, as PyTorch would write a float64 or float16 state dict.
    struct Raw {
        dtype: Dtype,
        shape: Vec<usize>,
        data: Vec<u8>,
    }
    impl View for &Raw {
        fn dtype(&self) -> Dtype {
            self.dtype
        }
        fn shape(&self) -> &[usize] {
            &self.shape
        }
        fn data(&self) -> Cow<'_, [u8]> {
            Cow::Borrowed(&self.data)
        }
        fn data_len(&self) -> usize {
            self.data.len()
        }
    }

    #[test]
    fn non_f32_tensors_are_a_dtype_mismatch() {
        let dir = TempDir::new("ckpt-dtype");
        let path = dir.join("f64.safetensors");
        let f64s = |n: usize| Raw {
            dtype: Dtype::F64,
            shape: vec![n],
            data: vec![0; 8 * n],
        };
        let w = Raw {
            dtype: Dtype::F32,
            shape: vec![3, 4],
            data: vec![0; 48],
        };
        let b = f64s(4);
        let r = f64s(4);
        let bytes =
            safetensors::serialize([("weight", &w), ("bias", &b), ("running_mean", &r)], None).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let err = checkpoint_err(load(&mut Probe::new(3, 4, 1), &path).unwrap_err());
        let CheckpointError::Mismatch { problems, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            problems,
            &[
                Mismatch::WrongDtype {
                    name: "bias".into(),
                    found: "F64".into()
                },
                Mismatch::WrongDtype {
                    name: "running_mean".into(),
                    found: "F64".into()
                },
            ]
        );
        assert!(err.to_string().contains(".float()"), "{err}");
    }

    #[test]
    fn truncated_files_are_reported_as_truncated() {
        let dir = TempDir::new("ckpt-trunc");
        let path = dir.join("m.safetensors");
        save(&mut trained_net(3), &path).unwrap();
        let full = std::fs::read(&path).unwrap();
        let header_end = 8 + u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
        // Inside the length field, inside the header, inside the data, one byte short.
        for cut in [0, 5, header_end / 2, header_end + 7, full.len() - 1] {
            std::fs::write(&path, &full[..cut]).unwrap();
            let mut net = trained_net(4);
            let before = all_bits(&mut net);
            let err = checkpoint_err(load(&mut net, &path).unwrap_err());
            match &err {
                CheckpointError::Truncated {
                    expected_bytes,
                    found_bytes,
                    ..
                } => {
                    assert_eq!(*found_bytes, cut as u64);
                    assert!(*expected_bytes > cut as u64);
                    if cut >= header_end {
                        assert_eq!(*expected_bytes, full.len() as u64);
                    }
                }
                other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
            }
            assert!(err.to_string().contains("is truncated"), "{err}");
            assert_eq!(all_bits(&mut net), before);
        }
    }

    #[test]
    fn corrupt_headers_are_reported_as_corrupt() {
        let dir = TempDir::new("ckpt-corrupt");
        let path = dir.join("m.safetensors");
        save(&mut trained_net(3), &path).unwrap();
        let full = std::fs::read(&path).unwrap();

        let mut bad_json = full.clone();
        bad_json[8] = b'[';
        let mut huge_len = full.clone();
        huge_len[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut trailing = full.clone();
        trailing.extend_from_slice(b"junk");
        let text = b"this is a text file, not a checkpoint at all".to_vec();

        for (what, bytes) in [
            ("bad json", bad_json),
            ("huge length", huge_len),
            ("trailing", trailing),
            ("text", text),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            let err = checkpoint_err(load(&mut trained_net(4), &path).unwrap_err());
            assert!(
                matches!(err, CheckpointError::CorruptHeader { .. }),
                "{what}: {err:?}"
            );
            assert!(err.to_string().contains("not a valid safetensors file"), "{err}");
        }
    }

    #[test]
    fn damaged_bytes_never_panic_or_half_load() {
        let mut net = trained_net(3);
        let full = encode(&mut net, Path::new("m")).unwrap();
        let mut target = trained_net(4);
        let before = all_bits(&mut target);
        for cut in 0..full.len() {
            assert!(
                decode_into(&mut target, &full[..cut], Path::new("m")).is_err(),
                "cut {cut}"
            );
        }
        let header_end = 8 + u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
        for i in 0..header_end {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bytes = full.clone();
                bytes[i] ^= flip;
                // A flip inside a tensor name or the metadata can leave a valid file that no
                // longer fits; a flip in the padding spaces can leave it loadable. Either is
                // fine: only a panic or a partial write would be wrong.
                if decode_into(&mut target, &bytes, Path::new("m")).is_ok() {
                    assert_eq!(all_bits(&mut target), all_bits(&mut net), "flip {flip:#x} at {i}");
                    target = trained_net(4);
                } else {
                    assert_eq!(all_bits(&mut target), before, "flip {flip:#x} at {i}");
                }
            }
        }
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let dir = TempDir::new("ckpt-nofile");
        let path = dir.join("absent.safetensors");
        let err = load(&mut Probe::new(1, 1, 1), &path).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("absent.safetensors"), "{err}");
    }

    /// Reports one buffer under the name of its parameter.
    struct Clash(Probe);
    impl Layer for Clash {
        fn forward(&mut self, x: Tensor, _: Mode) -> Tensor {
            x
        }
        fn backward(&mut self, g: Tensor) -> Tensor {
            g
        }
        fn visit(&mut self, v: &mut Visitor<'_>) {
            v.param("weight", &mut self.0.w, &mut self.0.gw, ParamKind::Weight);
            v.buffer("weight", &mut self.0.running);
        }
    }

    #[test]
    fn duplicate_names_are_refused_on_save() {
        let dir = TempDir::new("ckpt-dup");
        let path = dir.join("m.safetensors");
        let err = checkpoint_err(save(&mut Clash(Probe::new(1, 1, 1)), &path).unwrap_err());
        assert!(
            matches!(&err, CheckpointError::DuplicateName { name } if name == "weight"),
            "{err:?}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn snapshot_restores_params_and_buffers() {
        let mut net = trained_net(7);
        let best = all_bits(&mut net);
        let mut snap = Snapshot::capture(&mut net);
        assert_eq!(snap.len(), 6);
        net.forward(input(), Mode::Train);
        net[0].w.fill(0.5);
        assert_ne!(all_bits(&mut net), best);
        snap.restore(&mut net).unwrap();
        assert_eq!(all_bits(&mut net), best);

        // Recapturing the same model reuses the stored arrays.
        let ptr = snap.get("0.weight").unwrap().as_ptr();
        net[0].w.fill(0.25);
        snap.recapture(&mut net);
        assert_eq!(snap.get("0.weight").unwrap().as_ptr(), ptr);
        assert_eq!(snap.get("0.weight").unwrap()[[1, 1]], 0.25);
    }

    #[test]
    fn snapshot_refuses_a_different_model() {
        let mut net = trained_net(7);
        let snap = Snapshot::capture(&mut net);
        let mut other = vec![Probe::new(3, 5, 1)];
        let before = all_bits(&mut other);
        let err = checkpoint_err(snap.restore(&mut other).unwrap_err());
        let CheckpointError::Mismatch { path, problems } = &err else {
            panic!("{err:?}")
        };
        assert!(path.is_none());
        // Three tensors of layer 0 with the wrong width, three of layer 1 not in the model.
        assert_eq!(problems.len(), 3 + 3, "{err}");
        assert!(
            err.to_string().starts_with("snapshot does not fit the model"),
            "{err}"
        );
        assert_eq!(all_bits(&mut other), before);
    }
}
