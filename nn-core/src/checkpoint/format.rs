//! The safetensors file format as nn writes and reads it: F32 little-endian tensors with metadata
//! `format=pt` out, and a checked parse in that tells a cut-off file from a malformed one.

use super::error::CheckpointError;
use crate::tensor::TensorView;
use safetensors::tensor::{Dtype, Metadata, View};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

/// The largest header the safetensors format allows (its reference implementation's limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// A tensor's data as little-endian F32 bytes, for the safetensors encoder.
pub(crate) struct F32Bytes {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Bytes {
    pub(crate) fn new(t: TensorView<'_>) -> Self {
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

/// The bytes of a safetensors file holding `tensors` (names already checked to be unique) and
/// `metadata` (with `format = pt`).
pub(crate) fn encode(
    tensors: &[(String, F32Bytes)],
    metadata: &super::Metadata,
    path: &Path,
) -> Result<Vec<u8>, CheckpointError> {
    safetensors::serialize(
        tensors.iter().map(|(n, t)| (n.as_str(), t)),
        Some(metadata.to_header()),
    )
    .map_err(|source| CheckpointError::Unencodable {
        path: path.to_path_buf(),
        source,
    })
}

/// One tensor of a parsed file: its element type, shape and raw little-endian bytes.
pub(crate) struct FileTensor<'a> {
    pub(crate) name: String,
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) bytes: &'a [u8],
}

/// Parses and validates the file structure, telling a cut-off file from a malformed one. The
/// tensors come back in no particular order.
pub(crate) fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<Vec<FileTensor<'a>>, CheckpointError> {
    let found = bytes.len() as u64;
    let truncated = |expected: u64| CheckpointError::Truncated {
        path: path.to_path_buf(),
        expected_bytes: expected,
        found_bytes: found,
    };
    let corrupt = |reason: String, source: Option<serde_json::Error>| CheckpointError::CorruptHeader {
        path: path.to_path_buf(),
        reason,
        source,
    };

    let Some(len_field) = bytes.first_chunk::<8>() else {
        return Err(truncated(8));
    };
    let header_len = u64::from_le_bytes(*len_field);
    if header_len > MAX_HEADER_BYTES {
        // A cut-off file still has its length field; an absurd one means this is not safetensors.
        return Err(corrupt(
            format!(
                "its first 8 bytes give a header length of {header_len} bytes, beyond the format's \
                 limit of {MAX_HEADER_BYTES}"
            ),
            None,
        ));
    }
    // Cannot overflow: the length was just bounded. Every sum below is checked, as the header's
    // sizes are whatever the file says.
    let header_end = 8 + header_len;
    if header_end > found {
        return Err(truncated(header_end));
    }
    let (header, data) = bytes[8..].split_at(header_len as usize);
    if let Some(name) = named_twice(header) {
        return Err(corrupt(format!("its header lists tensor `{name}` twice"), None));
    }
    // Deserialising `Metadata` also checks that the offsets tile the data region exactly and
    // agree with each tensor's shape and dtype.
    let metadata: Metadata = serde_json::from_slice(header)
        .map_err(|e| corrupt(format!("its header is not valid: {e}"), Some(e)))?;
    let data_len = metadata.data_len() as u64;
    let Some(expected) = header_end.checked_add(data_len) else {
        return Err(corrupt(
            format!(
                "its header describes more data than the file holds: {data_len} bytes of tensors \
                 after a {header_end}-byte header, more than 2^64 bytes in all, and the file has \
                 {found} bytes"
            ),
            None,
        ));
    };
    if expected > found {
        return Err(truncated(expected));
    }
    if expected < found {
        return Err(corrupt(
            format!(
                "{} bytes follow the last tensor the header describes",
                found - expected
            ),
            None,
        ));
    }
    metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| {
            let (start, end) = info.data_offsets;
            // In bounds, as the offsets tile `data` exactly; `get` keeps a wrong guess panic-free.
            let Some(bytes) = data.get(start..end) else {
                return Err(corrupt(format!("tensor `{name}` lies outside the file"), None));
            };
            Ok(FileTensor {
                name,
                dtype: info.dtype,
                shape: info.shape.clone(),
                bytes,
            })
        })
        .collect()
}

/// The first key the header's top-level object holds twice, if any (`None` for a header that is
/// not a JSON object: the full parse reports that). JSON parsers keep the last of equal keys,
/// so without this the first tensor's bytes were left over and another tensor took the blame.
fn named_twice(header: &[u8]) -> Option<String> {
    struct FirstRepeat(Option<String>);
    impl<'de> Deserialize<'de> for FirstRepeat {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(FirstRepeat(None))
        }
    }
    impl<'de> Visitor<'de> for FirstRepeat {
        type Value = FirstRepeat;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FirstRepeat, A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    return Ok(FirstRepeat(Some(key)));
                }
            }
            Ok(FirstRepeat(None))
        }
    }
    serde_json::from_slice::<FirstRepeat>(header).ok()?.0
}

/// The metadata of the safetensors file `bytes` (read from `path`), after [`parse`] has checked
/// the whole file.
pub(crate) fn metadata(bytes: &[u8], path: &Path) -> Result<super::Metadata, CheckpointError> {
    parse(bytes, path)?;
    let header_len =
        u64::from_le_bytes(*bytes.first_chunk::<8>().expect("parse checked the length")) as usize;
    let header: Metadata =
        serde_json::from_slice(&bytes[8..8 + header_len]).expect("parse checked the header");
    Ok(super::Metadata::from_header(header.metadata().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::checkpoint::testing::{all_bits, checkpoint_err, trained_net};
    use crate::checkpoint::{load, save, CheckpointError};
    use crate::fsutil::tests::TempDir;
    use std::path::Path;

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
        assert_eq!(header["__metadata__"]["format"], "pt");
        let w = &header["1.weight"];
        assert_eq!(w["dtype"], "F32");
        assert_eq!(w["shape"], serde_json::json!([4, 2]));
        let start = 8 + n + w["data_offsets"][0].as_u64().unwrap() as usize;
        let first = f32::from_le_bytes(bytes[start..start + 4].try_into().unwrap());
        assert_eq!(first.to_bits(), net[1].w[[0, 0]].to_bits());
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
    fn a_header_that_is_not_json_keeps_the_parser_error_as_its_source() {
        let dir = TempDir::new("ckpt-source");
        let path = dir.join("m.safetensors");
        save(&mut trained_net(3), &path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8] = b'[';
        std::fs::write(&path, &bytes).unwrap();
        let err = checkpoint_err(load(&mut trained_net(4), &path).unwrap_err());
        let source = std::error::Error::source(&err).expect("a source");
        assert!(source.is::<serde_json::Error>(), "{source:?}");
        assert!(err.to_string().contains(&source.to_string()), "{err}");
    }

    /// Issue 23.7: a header naming one tensor twice. JSON keeps the last of two equal keys, so
    /// the first one's bytes were left over and the error blamed an unrelated tensor's offsets.
    #[test]
    fn a_tensor_named_twice_is_reported_by_its_name() {
        let header = r#"{"fc1.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"fc1.bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"fc1.weight":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 20]);
        let err = parse(&bytes, Path::new("twice.safetensors"))
            .err()
            .expect("an error");
        assert!(matches!(err, CheckpointError::CorruptHeader { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("its header lists tensor `fc1.weight` twice"),
            "{text}"
        );
    }

    /// Issue #14.4: eight U8 tensors of 2^61 - 1 elements each, with consecutive offsets and no
    /// data. Their total, 2^64 - 8 bytes, fits a u64, but not once the header is added: unchecked,
    /// that sum panicked in a debug build and wrapped in release to "8 bytes follow the last
    /// tensor".
    #[test]
    fn a_header_describing_more_bytes_than_any_file_holds_is_corrupt_not_a_panic() {
        let n: u64 = (1 << 61) - 1;
        let entries: Vec<String> = (0..8)
            .map(|i| {
                let (start, end) = (i * n, (i + 1) * n);
                format!(r#""t{i}":{{"dtype":"U8","shape":[{n}],"data_offsets":[{start},{end}]}}"#)
            })
            .collect();
        let header = format!("{{{}}}", entries.join(","));
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        assert_eq!(bytes.len(), 854);

        let err = parse(&bytes, Path::new("crafted.safetensors"))
            .err()
            .expect("an error");
        assert!(matches!(err, CheckpointError::CorruptHeader { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("crafted.safetensors"), "{text}");
        assert!(text.contains("describes more data than the file holds"), "{text}");
        assert!(text.contains("854 bytes"), "{text}");
    }
}
