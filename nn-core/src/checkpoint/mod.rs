//! Checkpoints: a model's parameters and buffers saved by their stable names (`fc1.weight`,
//! `bn1.running_mean`) in the [safetensors] format, and in-memory [`Snapshot`]s of the same.
//!
//! A checkpoint file is F32, little-endian, row-major, with the PyTorch layouts nn uses
//! (`Linear.weight` is `[out, in]`), so `safetensors.torch.load_file` reads it into a
//! `state_dict` and `safetensors.numpy.load_file` into numpy arrays. Loading also reads F16, BF16,
//! F64 and integer tensors (a PyTorch model saved in another precision, its integer buffers); it
//! checks every name, shape and dtype before touching the model and reports all mismatches in
//! one error.
//!
//! The parts: `format` (the file's bytes), `dtype` (stored elements to f32), `values` (the values
//! a loaded tensor may hold), `apply` (the check-then-write path shared by [`load`] and
//! [`Snapshot::restore`]), `snapshot`, `error`.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

mod apply;
mod dtype;
mod error;
mod format;
mod metadata;
mod snapshot;
#[cfg(test)]
mod testing;
mod values;

pub use error::{CheckpointError, Mismatch};
pub use metadata::{read_metadata, Metadata};
pub use snapshot::Snapshot;

use self::apply::{check_then_apply, check_unique, map_tensors, Elements, Stored};
use crate::error::{Error, Result};
use crate::fsutil::atomic_write_bytes;
use crate::layer::Layer;
use std::collections::HashMap;
use std::path::Path;

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
    save_with_metadata(model, path, &Metadata::new())
}

/// [`save`], with `metadata` in the file's header: the class names of a classifier
/// ([`Metadata::with_classes`]), anything a program needs to use the model later.
/// [`read_metadata`] reads it back; [`load`] ignores it.
pub fn save_with_metadata(
    model: &mut (impl Layer + ?Sized),
    path: impl AsRef<Path>,
    metadata: &Metadata,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_model(model, metadata, path)?;
    atomic_write_bytes(path, &bytes)
}

/// Loads the parameters and buffers of `model` from the safetensors file at `path`.
///
/// Everything is checked before the model changes: a truncated or corrupt file, or any missing,
/// unexpected or wrongly shaped tensor, or one of a dtype nn does not convert, is an error and
/// leaves the model as it was. Mismatches are all reported at once
/// ([`CheckpointError::Mismatch`]).
///
/// Other dtypes convert to the model's f32, as PyTorch's `load_state_dict` copies across dtypes:
/// F16 and BF16 exactly, F64 rounded to nearest (PyTorch's `.float()`), and integers (I8 to
/// U64) while f32 holds them exactly, up to 2^24 in magnitude; a larger value is a
/// [`Mismatch::Inexact`] rather than a silently rounded count. So PyTorch's I64
/// `num_batches_tracked` loads into an f32 scalar buffer of that name.
///
/// A stored tensor named `num_batches_tracked` or `*.num_batches_tracked` that the model has no
/// tensor for is skipped rather than unexpected: PyTorch's BatchNorm saves that batch counter,
/// so `safetensors.torch.save_file(model.state_dict(), path)` files load as they are.
///
/// Values are checked too: a NaN or infinite value (or an F64 beyond F32's range, which would
/// become infinite), a negative `running_var`, or a `num_batches_tracked` that is not a whole
/// number of at least 0 is a [`Mismatch::BadValue`] naming the tensor and the first such
/// element. No training leaves such values behind, and a model holding one predicts NaN.
/// [`LoadOptions::raw_values`] reads them as they are.
pub fn load(model: &mut (impl Layer + ?Sized), path: impl AsRef<Path>) -> Result<()> {
    LoadOptions::new().load(model, path)
}

/// [`load`] for a model whose names differ from the checkpoint's: `stored_name` maps each of the
/// model's names to the name it is read from. Every stored tensor must still be read (or be a
/// skipped `num_batches_tracked`), and a [`Mismatch`] names both sides.
///
/// ```no_run
/// # fn demo(net: &mut impl nn_core::Layer) -> nn_core::Result<()> {
/// // A PyTorch `nn.Sequential` stored `0.weight`, `0.bias`, `2.weight`, …; the model says `fc1`, `fc2`.
/// nn_core::checkpoint::load_with(net, "torch.safetensors", |name| {
///     name.replacen("fc1.", "0.", 1).replacen("fc2.", "2.", 1)
/// })
/// # }
/// ```
pub fn load_with(
    model: &mut (impl Layer + ?Sized),
    path: impl AsRef<Path>,
    stored_name: impl FnMut(&str) -> String,
) -> Result<()> {
    LoadOptions::new().rename(stored_name).load(model, path)
}

/// How [`LoadOptions::load`] reads a checkpoint: [`load`]'s checks, a mapping of names as
/// [`load_with`]'s, and the one check that can be switched off, of the values themselves.
///
/// ```no_run
/// # fn demo(net: &mut impl nn_core::Layer) -> nn_core::Result<()> {
/// use nn_core::checkpoint::LoadOptions;
/// // The weights of a run that diverged, NaN and all, to look at them.
/// LoadOptions::new().raw_values().load(net, "diverged.safetensors")?;
/// // A PyTorch `nn.Sequential`'s names, values checked.
/// LoadOptions::new()
///     .rename(|name| name.replacen("fc1.", "0.", 1))
///     .load(net, "torch.safetensors")
/// # }
/// ```
#[derive(Clone)]
pub struct LoadOptions<F = fn(&str) -> String> {
    rename: F,
    check_values: bool,
}

impl LoadOptions {
    /// [`load`]'s behaviour: names as the model's, values checked.
    pub fn new() -> Self {
        LoadOptions {
            rename: str::to_string,
            check_values: true,
        }
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: FnMut(&str) -> String> LoadOptions<F> {
    /// Reads each of the model's tensors from the stored name `stored_name` gives it (see
    /// [`load_with`]).
    pub fn rename<G: FnMut(&str) -> String>(self, stored_name: G) -> LoadOptions<G> {
        LoadOptions {
            rename: stored_name,
            check_values: self.check_values,
        }
    }

    /// Loads values as they are stored: NaN, infinities, an F64 beyond F32's range (as
    /// infinity), a negative `running_var`, a fractional `num_batches_tracked`. For inspecting
    /// a damaged file or a diverged run; a model with such values predicts NaN.
    pub fn raw_values(mut self) -> Self {
        self.check_values = false;
        self
    }

    /// Loads `model`'s parameters and buffers from the safetensors file at `path`, every check
    /// passed first (see [`load`]); on error the model is unchanged.
    pub fn load(mut self, model: &mut (impl Layer + ?Sized), path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading checkpoint", path, e))?;
        decode_into(model, &bytes, &mut self.rename, path, self.check_values)?;
        Ok(())
    }
}

/// The bytes of a checkpoint of `model`.
fn encode_model(
    model: &mut (impl Layer + ?Sized),
    metadata: &Metadata,
    path: &Path,
) -> Result<Vec<u8>, CheckpointError> {
    let tensors = map_tensors(model, format::F32Bytes::new);
    check_unique(tensors.iter().map(|(n, _)| n.as_str()))?;
    format::encode(&tensors, metadata, path)
}

/// Parses checkpoint `bytes` (read from `path`) and writes them into `model`, or nothing.
fn decode_into(
    model: &mut (impl Layer + ?Sized),
    bytes: &[u8],
    rename: &mut dyn FnMut(&str) -> String,
    path: &Path,
    check_values: bool,
) -> Result<(), CheckpointError> {
    let tensors = format::parse(bytes, path)?;
    let source: HashMap<&str, Stored<'_>> = tensors
        .iter()
        .map(|t| {
            let stored = Stored {
                shape: &t.shape,
                elements: Elements::Encoded {
                    dtype: t.dtype,
                    bytes: t.bytes,
                },
            };
            (t.name.as_str(), stored)
        })
        .collect();
    check_then_apply(model, &source, rename, Some(path), check_values)
}

#[cfg(test)]
mod tests {
    use super::testing::{all_bits, bits, checkpoint_err, input, trained_net, Probe};
    use super::*;
    use crate::fsutil::tests::TempDir;
    use crate::layer::Mode;

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
    fn damaged_bytes_never_panic_or_half_load() {
        let mut net = trained_net(3);
        let full = encode_model(&mut net, &Metadata::new(), Path::new("m")).unwrap();
        let mut target = trained_net(4);
        let before = all_bits(&mut target);
        for cut in 0..full.len() {
            assert!(
                decode_into(
                    &mut target,
                    &full[..cut],
                    &mut str::to_string,
                    Path::new("m"),
                    true
                )
                .is_err(),
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
                if decode_into(&mut target, &bytes, &mut str::to_string, Path::new("m"), true).is_ok() {
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

    #[test]
    fn load_with_maps_model_names_to_stored_names() {
        let dir = TempDir::new("ckpt-load-with");
        let path = dir.join("m.safetensors");
        // Stored as `0.weight`, `0.bias`, `0.running_mean`.
        let mut saved = vec![Probe::new(3, 4, 1)];
        save(&mut saved, &path).unwrap();
        let mut net = Probe::new(3, 4, 2);
        load_with(&mut net, &path, |name| format!("0.{name}")).unwrap();
        assert_eq!(all_bits(&mut net), all_bits(&mut saved[0]));
    }

    #[test]
    fn load_with_mismatches_name_both_sides() {
        let dir = TempDir::new("ckpt-load-with-bad");
        let path = dir.join("m.safetensors");
        save(&mut vec![Probe::new(3, 4, 1)], &path).unwrap();
        let mut net = Probe::new(5, 4, 2);
        let before = all_bits(&mut net);
        let map = |name: &str| match name {
            "bias" => "0.b".to_string(),
            other => format!("0.{other}"),
        };
        let err = checkpoint_err(load_with(&mut net, &path, map).unwrap_err());
        let CheckpointError::Mismatch { problems, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            problems,
            &[
                Mismatch::WrongShape {
                    name: "weight".into(),
                    stored_name: Some("0.weight".into()),
                    expected: vec![5, 4],
                    found: vec![3, 4]
                },
                Mismatch::Missing {
                    name: "bias".into(),
                    stored_name: Some("0.b".into()),
                    shape: vec![4]
                },
                Mismatch::Unexpected {
                    name: "0.bias".into(),
                    shape: vec![4]
                },
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("tensor `weight` (`0.weight` in the file) has shape [3, 4]"),
            "{text}"
        );
        assert!(
            text.contains("missing tensor `bias` (looked up as `0.b`;"),
            "{text}"
        );
        assert_eq!(all_bits(&mut net), before);
    }
}
