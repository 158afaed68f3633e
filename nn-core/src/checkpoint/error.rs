//! Why a checkpoint or snapshot could not be saved, read or applied: [`CheckpointError`] and the
//! per-tensor [`Mismatch`]es it lists.

use std::fmt::Write as _;
use std::path::PathBuf;

/// How many mismatch lines an error message lists before summarising the rest.
const MAX_LISTED: usize = 20;

/// One way in which stored tensors fail to fit a model. `name` is the model's name for the
/// tensor; `stored_name` is the checkpoint's, when [`load_with`](super::load_with) maps it to
/// another.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// The model has a tensor the checkpoint lacks.
    #[error("missing tensor `{name}` ({}the model has it with shape {shape:?})", looked_up(.stored_name))]
    Missing {
        /// The tensor's full name in the model.
        name: String,
        /// The name it was looked up under, if not `name`.
        stored_name: Option<String>,
        /// Its shape in the model.
        shape: Vec<usize>,
    },
    /// The checkpoint has a tensor the model lacks (no model tensor is loaded from it).
    #[error("unexpected tensor `{name}` with shape {shape:?} (not in the model)")]
    Unexpected {
        /// The tensor's full name in the checkpoint.
        name: String,
        /// Its shape in the checkpoint.
        shape: Vec<usize>,
    },
    /// Both have the tensor, with different shapes.
    #[error("tensor `{name}`{} has shape {found:?}, the model expects {expected:?}", in_file(.stored_name))]
    WrongShape {
        /// The tensor's full name in the model.
        name: String,
        /// Its name in the checkpoint, if not `name`.
        stored_name: Option<String>,
        /// Its shape in the model.
        expected: Vec<usize>,
        /// Its shape in the checkpoint.
        found: Vec<usize>,
    },
    /// The checkpoint stores the tensor with an element type nn does not convert to f32.
    #[error(
        "tensor `{name}`{} is stored as {found}, which nn does not convert to F32 (it reads F32, \
         F16, BF16, F64 and integer types)",
        in_file(.stored_name)
    )]
    WrongDtype {
        /// The tensor's full name in the model.
        name: String,
        /// Its name in the checkpoint, if not `name`.
        stored_name: Option<String>,
        /// The safetensors dtype found (`BOOL`, `F8_E4M3`, …).
        found: String,
    },
    /// An integer tensor holds a value that f32 cannot represent exactly: beyond ±2^24.
    #[error(
        "tensor `{name}`{} is stored as {dtype} and holds {value}, which F32 cannot represent \
         exactly (integers convert only up to 2^24 = 16777216 in magnitude)",
        in_file(.stored_name)
    )]
    Inexact {
        /// The tensor's full name in the model.
        name: String,
        /// Its name in the checkpoint, if not `name`.
        stored_name: Option<String>,
        /// The safetensors dtype found (`I64`, `U8`, …).
        dtype: String,
        /// The first value found beyond ±2^24.
        value: i128,
    },
    /// A value no training leaves behind: NaN or infinite (also once converted to F32), a
    /// negative `running_var`, a `num_batches_tracked` that is not a whole number of at least 0.
    #[error(
        "tensor `{name}`{} holds {value}{}: {why}",
        in_file(.stored_name),
        at_index(.index)
    )]
    BadValue {
        /// The tensor's full name in the model.
        name: String,
        /// Its name in the checkpoint, if not `name`.
        stored_name: Option<String>,
        /// The position of the first such value.
        index: Vec<usize>,
        /// The value as stored (`NaN`, `-inf`, `1e300`, `-0.5`).
        value: String,
        /// Why it cannot load.
        why: String,
    },
}

/// " (`stored` in the file)" when the stored name differs from the model's.
fn in_file(stored_name: &Option<String>) -> String {
    stored_name
        .as_ref()
        .map_or_else(String::new, |s| format!(" (`{s}` in the file)"))
}

/// " at index [2, 1]", or nothing for a scalar.
fn at_index(index: &[usize]) -> String {
    if index.is_empty() {
        String::new()
    } else {
        format!(" at index {index:?}")
    }
}

/// "looked up as `stored`; " when the stored name differs from the model's.
fn looked_up(stored_name: &Option<String>) -> String {
    stored_name
        .as_ref()
        .map_or_else(String::new, |s| format!("looked up as `{s}`; "))
}

/// Why a checkpoint could not be saved, loaded or restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file ends before the data its header describes (an interrupted write or copy).
    #[error(
        "checkpoint {} is truncated: it has {found_bytes} bytes but its header calls for \
         {expected_bytes}; it was probably cut off while being written or copied, so save or copy \
         it again",
        path.display()
    )]
    Truncated {
        /// The checkpoint file.
        path: PathBuf,
        /// How many bytes the file needs (at least, when the header itself is cut off).
        expected_bytes: u64,
        /// How many bytes it has.
        found_bytes: u64,
    },
    /// The file is not a well-formed safetensors file: unreadable header length, header not
    /// valid JSON, tensor offsets that do not tile the data, sizes no file can have, or bytes
    /// after the last tensor.
    #[error(
        "checkpoint {} is not a valid safetensors file: {reason}; check that the path names a \
         checkpoint written by nn (or by safetensors) and that it is not damaged",
        path.display()
    )]
    CorruptHeader {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong, in words (including the JSON parser's message, if any).
        reason: String,
        /// The JSON parser's error, when the header did not parse.
        source: Option<serde_json::Error>,
    },
    /// The stored tensors do not fit the model. Lists every problem, not just the first.
    #[error("{}", mismatch_text(.path, .problems))]
    Mismatch {
        /// The checkpoint file, or `None` for an in-memory [`Snapshot`](super::Snapshot).
        path: Option<PathBuf>,
        /// Every missing, unexpected, wrongly shaped or wrongly typed tensor, in model order,
        /// then unexpected tensors by name.
        problems: Vec<Mismatch>,
    },
    /// The model reports two tensors under one name, so they cannot be told apart in a file.
    #[error(
        "the model reports two tensors named `{name}`; give each parameter and buffer of a layer \
         its own name"
    )]
    DuplicateName {
        /// The name reported twice.
        name: String,
    },
    /// The safetensors encoder refused the model (a header beyond the format's 100 MB limit).
    #[error(
        "cannot encode checkpoint {}: {source}; a safetensors header is limited to 100 MB, so save \
         a model with that many tensors in several files",
        path.display()
    )]
    Unencodable {
        /// Where the checkpoint was to be written.
        path: PathBuf,
        /// The encoder's error.
        source: safetensors::SafeTensorError,
    },
    /// A metadata entry does not hold what its key promises.
    #[error("checkpoint metadata `{key}`: {reason}")]
    BadMetadata {
        /// The entry's key (`classes`).
        key: String,
        /// What was expected and what was found.
        reason: String,
    },
}

/// The text of [`CheckpointError::Mismatch`]: where, how many, each problem, then the fixes.
fn mismatch_text(path: &Option<PathBuf>, problems: &[Mismatch]) -> String {
    let mut s = match path {
        Some(path) => format!("checkpoint {} does not fit the model", path.display()),
        None => "snapshot does not fit the model".to_string(),
    };
    let plural = if problems.len() == 1 { "" } else { "s" };
    let _ = write!(s, " ({} problem{plural}):", problems.len());
    for p in problems.iter().take(MAX_LISTED) {
        let _ = write!(s, "\n  {p}");
    }
    if problems.len() > MAX_LISTED {
        let _ = write!(s, "\n  … and {} more", problems.len() - MAX_LISTED);
    }
    let dtype = |p: &Mismatch| matches!(p, Mismatch::WrongDtype { .. } | Mismatch::Inexact { .. });
    let value = |p: &Mismatch| matches!(p, Mismatch::BadValue { .. });
    if problems.iter().any(dtype) {
        s.push_str(
            "\nconvert the tensors to float32 before saving them (in PyTorch: `.float()`), if its \
             rounding is acceptable",
        );
    }
    if problems.iter().any(value) {
        s.push_str(
            "\nthe file holds values no training leaves behind (it is damaged, or was saved from a \
             run that diverged), and a model with them predicts NaN; to read them as they are, \
             load with `nn::checkpoint::LoadOptions::new().raw_values()`",
        );
    }
    if !problems.iter().all(|p| dtype(p) || value(p)) {
        s.push_str("\nbuild the model with the same layers, names and sizes as the one that was saved");
        let named = |p: &Mismatch| matches!(p, Mismatch::Missing { .. } | Mismatch::Unexpected { .. });
        if path.is_some() && problems.iter().any(named) {
            s.push_str(", or, if only the names differ, map them with `nn::load_with`");
        }
    }
    s
}
