//! The error type for everything that can fail at run time: files, data, network, checkpoints,
//! training.
//!
//! Policy for every error type in nn: the `Display` text is complete on its own (it names the
//! file or parameter, what was expected and found, and the fix, and includes the text of the
//! underlying cause), so `fn main() -> nn::Result<()>` prints everything useful; `source()`
//! returns the underlying foreign error (an `io::Error`, a JSON error) for programs that walk
//! the chain. [`Error`]'s variants are transparent: `Display` and `source()` are the wrapped
//! module error's.

use crate::checkpoint::CheckpointError;
use crate::data::DataError;
use crate::layer::onnx::OnnxError;
use crate::optim::OptimError;
use crate::train::TrainError;
use crate::vision::ImageError;
use std::path::PathBuf;

/// Everything in nn that can fail for reasons outside the program: a file, the network, a
/// checkpoint, a diverging loss. Programmer errors (a wrong input width) panic instead.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing `path` failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What nn was doing: "reading", "writing", "renaming into place", …
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An I/O error from your own code, converted by `?` in a function returning [`Result`]
    /// (`From<std::io::Error>`). A bare `std::io::Error` carries no file name, so this variant
    /// names none: its message is the operating system's alone. Where you know the file, build
    /// [`Error::io`] instead, which names it; nn itself always does.
    #[error("I/O error: {0}")]
    IoWithoutPath(#[from] std::io::Error),
    /// An optimizer step or optimizer state failed (see [`OptimError`]).
    #[error(transparent)]
    Optim(#[from] OptimError),
    /// A checkpoint or snapshot could not be saved, read or applied to a model.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Loading or preparing data failed (see [`DataError`]).
    #[error(transparent)]
    Data(#[from] DataError),
    /// A picture could not be decoded, or made into an MNIST digit (see [`ImageError`]).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Training stopped: a diverging loss, a dataset without batches (see [`TrainError`]).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A network could not be written as ONNX: a layer without an ONNX description (see
    /// [`OnnxError`]).
    #[error(transparent)]
    Onnx(#[from] OnnxError),
}

/// `Result` with nn's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error while doing `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

/// Prints the `Display` text, so that `fn main() -> nn::Result<()>` shows a readable message.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// What a user writes: `?` on an `io::Error` in a function returning `nn::Result`.
    fn read_settings(path: &std::path::Path) -> Result<String> {
        Ok(std::fs::read_to_string(path)?)
    }

    #[test]
    fn question_mark_converts_an_io_error_which_stays_the_source() {
        let err = read_settings(std::path::Path::new("/nonexistent/nn/settings.toml")).unwrap_err();
        assert!(matches!(err, Error::IoWithoutPath(_)), "{err:?}");
        let source = err.source().expect("the io::Error is the source");
        let io = source.downcast_ref::<std::io::Error>().expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(err.to_string(), format!("I/O error: {io}"));
    }
}
