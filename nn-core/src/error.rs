//! The error type for everything that can fail at run time: files, data, network, checkpoints,
//! training. Each message names the file or parameter, what was expected, what was found, and
//! how to fix it.

use crate::optim::OptimError;
use std::fmt;
use std::path::PathBuf;

/// Everything in nn that can fail for reasons outside the program: a file, the network, a
/// checkpoint, a diverging loss. Programmer errors (a wrong input width) panic instead.
#[non_exhaustive]
pub enum Error {
    /// Reading or writing `path` failed.
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What nn was doing: "reading", "writing", "renaming into place", …
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An optimizer step or optimizer state failed (see [`OptimError`]).
    Optim(OptimError),
    /// A checkpoint or snapshot could not be saved, read or applied to a model.
    Checkpoint(crate::checkpoint::CheckpointError),
    /// Loading or preparing data failed (see [`crate::data::DataError`]).
    Data(crate::data::DataError),
    /// Training stopped: a diverging loss, a dataset without batches (see
    /// [`crate::train::TrainError`]).
    Train(crate::train::TrainError),
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, action, source } => write!(f, "{action} {}: {source}", path.display()),
            Error::Optim(e) => e.fmt(f),
            Error::Checkpoint(e) => e.fmt(f),
            Error::Data(e) => e.fmt(f),
            Error::Train(e) => e.fmt(f),
        }
    }
}

/// Prints the `Display` text, so that `fn main() -> nn::Result<()>` shows a readable message.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Optim(e) => e.source(),
            Error::Checkpoint(e) => Some(e),
            Error::Data(_) => None,
            Error::Train(_) => None,
        }
    }
}

impl From<OptimError> for Error {
    fn from(e: OptimError) -> Self {
        Error::Optim(e)
    }
}

impl From<crate::checkpoint::CheckpointError> for Error {
    fn from(e: crate::checkpoint::CheckpointError) -> Self {
        Error::Checkpoint(e)
    }
}

impl From<crate::data::DataError> for Error {
    fn from(e: crate::data::DataError) -> Self {
        Error::Data(e)
    }
}

impl From<crate::train::TrainError> for Error {
    fn from(e: crate::train::TrainError) -> Self {
        Error::Train(e)
    }
}
