//! The error type for everything that can fail at run time: files, data, network, checkpoints,
//! training. Each message names the file or parameter, what was expected, what was found, and
//! how to fix it.

use std::fmt;
use std::path::PathBuf;

/// Everything in nn that can fail for reasons outside the program: a file, the network, a
/// checkpoint, a diverging loss. Programmer errors (a wrong input width) panic instead.
#[derive(Debug)]
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
    /// Loading or preparing data failed (see [`crate::data::DataError`]).
    Data(crate::data::DataError),
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
            Error::Data(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Data(_) => None,
        }
    }
}

impl From<crate::data::DataError> for Error {
    fn from(e: crate::data::DataError) -> Self {
        Error::Data(e)
    }
}
