//! The one check-then-apply path behind `load` and `Snapshot::restore`: compare every tensor of
//! the model with a source, report every problem in one error, and write the whole model only
//! when there is none.

use super::dtype::{self, Unreadable};
use super::error::{CheckpointError, Mismatch};
use super::values::{first_bad, position, Rule};
use crate::layer::{for_each_buffer, for_each_param, Layer};
use crate::tensor::{TensorView, TensorViewMut};
use safetensors::tensor::Dtype;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A stored tensor's elements: already in memory as f32, or bytes as a file holds them.
pub(crate) enum Elements<'a> {
    /// A tensor held in memory (a snapshot's).
    F32(TensorView<'a>),
    /// Little-endian elements of `dtype`, row-major (a file's).
    Encoded { dtype: Dtype, bytes: &'a [u8] },
}

/// One tensor of a source, as the check needs it.
pub(crate) struct Stored<'a> {
    pub(crate) shape: &'a [usize],
    pub(crate) elements: Elements<'a>,
}

/// `f` of every tensor of `model` with its name, parameters then buffers, in visiting order.
pub(crate) fn map_tensors<T>(
    model: &mut (impl Layer + ?Sized),
    mut f: impl FnMut(TensorView<'_>) -> T,
) -> Vec<(String, T)> {
    let mut out = Vec::new();
    for_each_param(model, |name, p| out.push((name.to_string(), f(p.value.view()))));
    for_each_buffer(model, |name, t| out.push((name.to_string(), f(t.view()))));
    out
}

/// Refuses a model that reports two tensors under one name: a file could not tell them apart.
pub(crate) fn check_unique<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), CheckpointError> {
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

/// One tensor of the model and the stored name it is loaded from.
struct Target {
    name: String,
    shape: Vec<usize>,
    stored: String,
}

impl Target {
    /// The stored name for an error message, when it is not the model's.
    fn stored_name(&self) -> Option<String> {
        (self.stored != self.name).then(|| self.stored.clone())
    }
}

/// Checks every tensor of `model` against `source`, where `rename` gives the stored name of
/// each model tensor, and, only if all fit, writes them all. `path` names the file for the error
/// message (`None` for a snapshot). With `check_values`, a stored value outside its
/// [`Rule`] is a problem too (see [`values`](super::values)).
pub(crate) fn check_then_apply(
    model: &mut (impl Layer + ?Sized),
    source: &HashMap<&str, Stored<'_>>,
    rename: &mut dyn FnMut(&str) -> String,
    path: Option<&Path>,
    check_values: bool,
) -> Result<(), CheckpointError> {
    let shapes = map_tensors(model, |t| t.shape().to_vec());
    check_unique(shapes.iter().map(|(n, _)| n.as_str()))?;
    let targets: Vec<Target> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let stored = rename(&name);
            Target { name, shape, stored }
        })
        .collect();
    let problems = compare(&targets, source, check_values);
    if !problems.is_empty() {
        return Err(CheckpointError::Mismatch {
            path: path.map(Path::to_path_buf),
            problems,
        });
    }
    // Everything matched, so every model tensor has its source and the whole model is written.
    let plan: HashMap<&str, &Stored<'_>> = targets
        .iter()
        .filter_map(|t| Some((t.name.as_str(), source.get(t.stored.as_str())?)))
        .collect();
    let mut write = |name: &str, dst: TensorViewMut<'_>| {
        if let Some(s) = plan.get(name) {
            write_elements(&s.elements, dst);
        }
    };
    for_each_param(model, |name, p| write(name, p.value));
    for_each_buffer(model, &mut write);
    Ok(())
}

/// Compares the model's tensors with the stored ones and lists every problem: model order first,
/// then unexpected stored tensors sorted by name.
fn compare(targets: &[Target], source: &HashMap<&str, Stored<'_>>, check_values: bool) -> Vec<Mismatch> {
    let mut problems = Vec::new();
    for t in targets {
        let Some(s) = source.get(t.stored.as_str()) else {
            problems.push(Mismatch::Missing {
                name: t.name.clone(),
                stored_name: t.stored_name(),
                shape: t.shape.clone(),
            });
            continue;
        };
        let shape_fits = s.shape == t.shape.as_slice();
        if let Elements::Encoded { dtype, bytes } = s.elements {
            match dtype::check(dtype, bytes) {
                Ok(()) if shape_fits && check_values => {
                    if let Some(bad) = first_bad(dtype, bytes, Rule::for_name(&t.name)) {
                        problems.push(Mismatch::BadValue {
                            name: t.name.clone(),
                            stored_name: t.stored_name(),
                            index: position(bad.index, s.shape),
                            value: bad.value,
                            why: bad.why.to_string(),
                        });
                    }
                }
                Ok(()) => {}
                Err(Unreadable::Dtype) => problems.push(Mismatch::WrongDtype {
                    name: t.name.clone(),
                    stored_name: t.stored_name(),
                    found: dtype.to_string(),
                }),
                Err(Unreadable::Inexact(value)) => problems.push(Mismatch::Inexact {
                    name: t.name.clone(),
                    stored_name: t.stored_name(),
                    dtype: dtype.to_string(),
                    value,
                }),
            }
        }
        if !shape_fits {
            problems.push(Mismatch::WrongShape {
                name: t.name.clone(),
                stored_name: t.stored_name(),
                expected: t.shape.clone(),
                found: s.shape.to_vec(),
            });
        }
    }
    let used: HashSet<&str> = targets.iter().map(|t| t.stored.as_str()).collect();
    let mut unexpected: Vec<(&str, &[usize])> = source
        .iter()
        .filter(|(name, _)| !used.contains(*name) && !is_batch_counter(name))
        .map(|(&name, s)| (name, s.shape))
        .collect();
    unexpected.sort_unstable();
    problems.extend(unexpected.into_iter().map(|(name, shape)| Mismatch::Unexpected {
        name: name.to_string(),
        shape: shape.to_vec(),
    }));
    problems
}

/// Whether `name` is a PyTorch BatchNorm's `num_batches_tracked`: PyTorch counts batches only
/// for a momentum of `None`, which nn's BatchNorm does not offer, so a model without the tensor
/// loses nothing by skipping it, and state_dicts saved from PyTorch load as they are.
fn is_batch_counter(name: &str) -> bool {
    name.rsplit('.').next() == Some("num_batches_tracked")
}

/// Copies checked elements into `dst` (same shape, elements that convert).
fn write_elements(elements: &Elements<'_>, mut dst: TensorViewMut<'_>) {
    match *elements {
        Elements::F32(ref t) => dst.assign(t),
        Elements::Encoded { dtype, bytes } => dtype::read_into(dtype, bytes, dst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::testing::{all_bits, checkpoint_err, f32_bytes, raw_file, trained_net, Probe};
    use crate::checkpoint::{load, load_with, save};
    use crate::fsutil::tests::TempDir;
    use crate::layer::{Mode, ParamKind, Visitor};
    use crate::tensor::Tensor;

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
        assert!(err.to_string().contains("map them with `nn::load_with`"), "{err}");
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
                stored_name: None,
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
                    stored_name: None,
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

    #[test]
    fn dtypes_without_a_conversion_to_f32_are_a_dtype_mismatch() {
        let dir = TempDir::new("ckpt-dtype");
        let path = dir.join("bool.safetensors");
        let bytes = raw_file(&[
            ("weight", Dtype::F32, &[3, 4], vec![0; 48]),
            ("bias", Dtype::BOOL, &[4], vec![0; 4]),
            ("running_mean", Dtype::F8_E4M3, &[4], vec![0; 4]),
        ]);
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
                    stored_name: None,
                    found: "BOOL".into()
                },
                Mismatch::WrongDtype {
                    name: "running_mean".into(),
                    stored_name: None,
                    found: "F8_E4M3".into()
                },
            ]
        );
        assert!(err.to_string().contains(".float()"), "{err}");
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

    /// PyTorch's `BatchNorm` state_dict has an I64 `num_batches_tracked` beside its statistics.
    #[test]
    fn batch_counters_the_model_lacks_are_ignored() {
        let dir = TempDir::new("ckpt-nbt");
        let path = dir.join("torch.safetensors");
        let src = Probe::new(3, 4, 1);
        let counter = 7i64.to_le_bytes().to_vec();
        let bytes = raw_file(&[
            ("weight", Dtype::F32, &[3, 4], f32_bytes(&src.w)),
            ("bias", Dtype::F32, &[4], f32_bytes(&src.b)),
            ("running_mean", Dtype::F32, &[4], f32_bytes(&src.running)),
            ("num_batches_tracked", Dtype::I64, &[], counter.clone()),
            ("bn1.num_batches_tracked", Dtype::I64, &[], counter.clone()),
        ]);
        std::fs::write(&path, bytes).unwrap();
        let mut net = Probe::new(3, 4, 2);
        load(&mut net, &path).unwrap();
        assert_eq!(all_bits(&mut net), all_bits(&mut Probe::new(3, 4, 1)));

        // Only that name is forgiven.
        let bytes = raw_file(&[
            ("weight", Dtype::F32, &[3, 4], f32_bytes(&src.w)),
            ("bias", Dtype::F32, &[4], f32_bytes(&src.b)),
            ("running_mean", Dtype::F32, &[4], f32_bytes(&src.running)),
            ("bn1.num_batches", Dtype::I64, &[], counter),
        ]);
        std::fs::write(&path, bytes).unwrap();
        let err = checkpoint_err(load(&mut net, &path).unwrap_err());
        assert!(
            err.to_string().contains("unexpected tensor `bn1.num_batches`"),
            "{err}"
        );
    }

    /// PyTorch state_dicts saved in half, bfloat16 or double precision load into f32 models.
    #[test]
    fn f16_bf16_and_f64_tensors_convert_to_f32() {
        let dir = TempDir::new("ckpt-convert");
        let path = dir.join("mixed.safetensors");
        // Encoded by hand: 1, -2, 0.5, 65504 (the largest f16) and 2^-24 (the smallest).
        let f16: [u16; 12] = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0, 0, 0, 0, 0, 0, 0];
        // 1, -3.140625, -0 (bfloat16 is the top half of an f32).
        let bf16: [u16; 4] = [0x3f80, 0xc049, 0x8000, 0];
        // 0.1 and 1 + 2^-24 round to the nearest f32 (the second is a tie, to even: 1).
        let f64s = [0.1f64, 1.0 + 2f64.powi(-24), -1.5, 0.0];
        let bytes = raw_file(&[
            (
                "weight",
                Dtype::F16,
                &[3, 4],
                f16.iter().flat_map(|h| h.to_le_bytes()).collect(),
            ),
            (
                "bias",
                Dtype::BF16,
                &[4],
                bf16.iter().flat_map(|h| h.to_le_bytes()).collect(),
            ),
            (
                "running_mean",
                Dtype::F64,
                &[4],
                f64s.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
        ]);
        std::fs::write(&path, bytes).unwrap();
        let mut net = Probe::new(3, 4, 1);
        load(&mut net, &path).unwrap();
        let w: Vec<f32> = net.w.iter().copied().collect();
        assert_eq!(w[..5], [1.0, -2.0, 0.5, 65504.0, 2f32.powi(-24)]);
        assert!(w[5..].iter().all(|&v| v.to_bits() == 0), "{w:?}");
        let b: Vec<u32> = net.b.iter().map(|v| v.to_bits()).collect();
        assert_eq!(b, [1f32, -3.140625, -0.0, 0.0].map(f32::to_bits));
        let r: Vec<f32> = net.running.iter().copied().collect();
        assert_eq!(r, [0.1f32, 1.0, -1.5, 0.0]);
    }

    /// A layer with a scalar buffer named as PyTorch's BatchNorm batch counter, kept as an f32.
    struct Counted {
        running: Tensor,
        num_batches_tracked: Tensor,
    }
    impl Counted {
        fn new() -> Self {
            Counted {
                running: Tensor::zeros(vec![2]),
                num_batches_tracked: Tensor::zeros(vec![]),
            }
        }
    }
    impl Layer for Counted {
        fn forward(&mut self, x: Tensor, _: Mode) -> Tensor {
            x
        }
        fn backward(&mut self, g: Tensor) -> Tensor {
            g
        }
        fn visit(&mut self, v: &mut Visitor<'_>) {
            v.buffer("running_mean", &mut self.running);
            v.buffer("num_batches_tracked", &mut self.num_batches_tracked);
        }
    }

    fn counted_file(dtype: Dtype, counter: Vec<u8>) -> Vec<u8> {
        let running = f32_bytes(&Tensor::from_elem(vec![2], 0.5));
        raw_file(&[
            ("bn.running_mean", Dtype::F32, &[2], running),
            ("bn.num_batches_tracked", dtype, &[], counter),
        ])
    }

    /// PyTorch's strict `load_state_dict` wants `num_batches_tracked`; nn keeps it as an f32
    /// scalar buffer, writes it as F32 (PyTorch copies across dtypes) and reads PyTorch's I64.
    #[test]
    fn an_i64_batch_counter_loads_into_an_f32_scalar_buffer_and_saves_as_f32() {
        let dir = TempDir::new("ckpt-i64");
        let path = dir.join("torch.safetensors");
        std::fs::write(&path, counted_file(Dtype::I64, 1234i64.to_le_bytes().to_vec())).unwrap();
        let mut net = vec![Counted::new()];
        load_with(&mut net, &path, |n| n.replacen("0.", "bn.", 1)).unwrap();
        assert_eq!(
            net[0].num_batches_tracked.iter().copied().collect::<Vec<_>>(),
            [1234.0]
        );
        assert_eq!(net[0].running.iter().copied().collect::<Vec<_>>(), [0.5, 0.5]);

        let saved = dir.join("nn.safetensors");
        save(&mut net, &saved).unwrap();
        let bytes = std::fs::read(&saved).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(header["0.num_batches_tracked"]["dtype"], "F32");
        assert_eq!(header["0.num_batches_tracked"]["shape"], serde_json::json!([]));
        let mut again = vec![Counted::new()];
        load(&mut again, &saved).unwrap();
        assert_eq!(all_bits(&mut again), all_bits(&mut net));
    }

    #[test]
    fn a_batch_counter_the_model_has_is_checked_not_skipped() {
        let dir = TempDir::new("ckpt-counter-missing");
        let path = dir.join("m.safetensors");
        let running = f32_bytes(&Tensor::from_elem(vec![2], 0.5));
        std::fs::write(&path, raw_file(&[("running_mean", Dtype::F32, &[2], running)])).unwrap();
        let err = checkpoint_err(load(&mut Counted::new(), &path).unwrap_err());
        assert!(
            err.to_string().contains("missing tensor `num_batches_tracked`"),
            "{err}"
        );

        std::fs::write(&path, counted_file(Dtype::BOOL, vec![1])).unwrap();
        let err = checkpoint_err(load_with(&mut Counted::new(), &path, |n| format!("bn.{n}")).unwrap_err());
        assert!(err.to_string().contains("is stored as BOOL"), "{err}");
    }

    /// Integers convert while f32 holds them exactly (|v| <= 2^24); beyond that the load fails
    /// naming the value rather than rounding a count silently.
    #[test]
    fn integers_beyond_two_to_the_24_are_refused() {
        let dir = TempDir::new("ckpt-int-range");
        let path = dir.join("m.safetensors");
        let load_counter = |dtype: Dtype, bytes: Vec<u8>| {
            std::fs::write(&path, counted_file(dtype, bytes)).unwrap();
            let mut net = Counted::new();
            let result = load_with(&mut net, &path, |n| format!("bn.{n}"));
            (
                result,
                net.num_batches_tracked.iter().copied().collect::<Vec<_>>(),
            )
        };
        let (ok, value) = load_counter(Dtype::I64, (1i64 << 24).to_le_bytes().to_vec());
        ok.unwrap();
        assert_eq!(value, [16777216.0]);
        let (ok, value) = load_counter(Dtype::U8, vec![255]);
        ok.unwrap();
        assert_eq!(value, [255.0]);

        let (err, value) = load_counter(Dtype::I64, ((1i64 << 24) + 1).to_le_bytes().to_vec());
        assert_eq!(value, [0.0], "the model changed");
        let err = checkpoint_err(err.unwrap_err());
        let CheckpointError::Mismatch { problems, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            problems,
            &[Mismatch::Inexact {
                name: "num_batches_tracked".into(),
                stored_name: Some("bn.num_batches_tracked".into()),
                dtype: "I64".into(),
                value: 16777217,
            }]
        );
        assert!(err.to_string().contains("holds 16777217"), "{err}");
        let (err, _) = load_counter(Dtype::U64, u64::MAX.to_le_bytes().to_vec());
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("holds 18446744073709551615"));
    }
}

#[cfg(test)]
mod value_tests {
    use crate::checkpoint::testing::{all_bits, checkpoint_err, f32_bytes, raw_file, Probe};
    use crate::checkpoint::{load, load_with, save, CheckpointError, LoadOptions, Mismatch};
    use crate::fsutil::tests::TempDir;
    use crate::layers::BatchNorm;
    use crate::tensor::Tensor;
    use safetensors::tensor::Dtype;

    /// The problems of a failed load, and that the model did not change.
    fn refused(net: &mut Vec<Probe>, path: &std::path::Path) -> (Vec<Mismatch>, String) {
        let before = all_bits(net);
        let err = checkpoint_err(load(net, path).unwrap_err());
        assert_eq!(all_bits(net), before, "the model changed");
        let text = err.to_string();
        let CheckpointError::Mismatch { problems, .. } = err else {
            panic!("{text}")
        };
        (problems, text)
    }

    /// Issue 23.4: one NaN in a bias loaded silently, and the model predicted NaN.
    #[test]
    fn non_finite_values_are_refused_naming_the_tensor_and_the_first_index() {
        let dir = TempDir::new("ckpt-nan");
        let path = dir.join("m.safetensors");
        let mut good = vec![Probe::new(3, 4, 1)];
        save(&mut good, &path).unwrap();
        let mut bias = good[0].b.clone();
        bias[[2]] = f32::NAN;
        bias[[3]] = f32::INFINITY;
        let file = |bias: Vec<u8>, bias_dtype: Dtype| {
            raw_file(&[
                ("0.weight", Dtype::F32, &[3, 4], f32_bytes(&good[0].w)),
                ("0.bias", bias_dtype, &[4], bias),
                ("0.running_mean", Dtype::F32, &[4], f32_bytes(&good[0].running)),
            ])
        };
        std::fs::write(&path, file(f32_bytes(&bias), Dtype::F32)).unwrap();
        let mut net = vec![Probe::new(3, 4, 2)];
        let (problems, text) = refused(&mut net, &path);
        assert_eq!(
            problems,
            [Mismatch::BadValue {
                name: "0.bias".into(),
                stored_name: None,
                index: vec![2],
                value: "NaN".into(),
                why: "a loaded value must be finite".into(),
            }]
        );
        assert!(
            text.contains("tensor `0.bias` holds NaN at index [2]: a loaded value must be finite"),
            "{text}"
        );
        assert!(text.contains("LoadOptions::new().raw_values()"), "{text}");
        assert!(!text.contains("build the model with the same layers"), "{text}");

        // Finite in F64, infinite once converted: 1e300.
        let f64s: Vec<u8> = [0.5f64, -1e300, 0.0, 1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(&path, file(f64s, Dtype::F64)).unwrap();
        let (problems, text) = refused(&mut net, &path);
        assert!(
            matches!(&problems[..], [Mismatch::BadValue { index, value, .. }] if index == &[1] && value == "-1e300")
        );
        assert!(text.contains("beyond F32's range"), "{text}");
        // F16 and BF16 infinities and NaNs: 0x7c00 is F16 +inf, 0xffc0 BF16 NaN.
        for (dtype, bits) in [(Dtype::F16, 0x7c00u16), (Dtype::BF16, 0xffc0)] {
            let halves: Vec<u8> = [0u16, 0, bits, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(&path, file(halves, dtype)).unwrap();
            let (problems, _) = refused(&mut net, &path);
            assert!(
                matches!(&problems[..], [Mismatch::BadValue { index, .. }] if index == &[2]),
                "{dtype}: {problems:?}"
            );
        }

        // The opt-out reads them as they are.
        std::fs::write(&path, file(f32_bytes(&bias), Dtype::F32)).unwrap();
        LoadOptions::new().raw_values().load(&mut net, &path).unwrap();
        assert!(net[0].b[[2]].is_nan() && net[0].b[[3]] == f32::INFINITY);
        // Renaming keeps the check on, and the message gives both names.
        let mut probe = Probe::new(3, 4, 3);
        let err = load_with(&mut probe, &path, |n| format!("0.{n}")).unwrap_err();
        assert!(
            err.to_string()
                .contains("tensor `bias` (`0.bias` in the file) holds NaN"),
            "{err}"
        );
    }

    /// Issue 23.4: buffers whose meaning forbids a value: a negative running variance (the
    /// next Eval forward takes its square root), a batch count of NaN, 2.5 or -5.
    #[test]
    fn impossible_batch_norm_buffers_are_refused() {
        let dir = TempDir::new("ckpt-buffers");
        let path = dir.join("bn.safetensors");
        let stats = |var: f32, count: (Dtype, Vec<u8>)| {
            let ones = f32_bytes(&Tensor::ones(vec![3]));
            let mut v = Tensor::ones(vec![3]);
            v[[1]] = var;
            raw_file(&[
                ("weight", Dtype::F32, &[3], ones.clone()),
                ("bias", Dtype::F32, &[3], ones.clone()),
                ("running_mean", Dtype::F32, &[3], ones),
                ("running_var", Dtype::F32, &[3], f32_bytes(&v)),
                ("num_batches_tracked", count.0, &[], count.1),
            ])
        };
        let f32_count = |v: f32| (Dtype::F32, v.to_le_bytes().to_vec());
        let load_bn = |bytes: Vec<u8>| {
            std::fs::write(&path, bytes).unwrap();
            let mut bn = BatchNorm::new(3);
            load(&mut bn, &path).map(|()| bn.running_var()[[1]])
        };
        assert_eq!(load_bn(stats(0.0, f32_count(7.0))).unwrap(), 0.0);
        assert_eq!(
            load_bn(stats(2.0, (Dtype::I64, 7i64.to_le_bytes().to_vec()))).unwrap(),
            2.0
        );
        let err = load_bn(stats(-0.5, f32_count(7.0))).unwrap_err().to_string();
        assert!(
            err.contains(
                "tensor `running_var` holds -0.5 at index [1]: a running variance cannot be negative"
            ),
            "{err}"
        );
        for count in [
            f32_count(f32::NAN),
            f32_count(2.5),
            f32_count(-5.0),
            (Dtype::I64, (-5i64).to_le_bytes().to_vec()),
        ] {
            let err = load_bn(stats(1.0, count.clone())).unwrap_err().to_string();
            assert!(err.contains("tensor `num_batches_tracked` holds"), "{err}");
        }
    }
}
