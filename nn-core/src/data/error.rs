//! Why data could not be loaded: [`DataError`], and the download failures it reports.
//!
//! Policy (as for every error in nn): the `Display` text is complete on its own (the file, what
//! was expected and found, the fix, and the text of the underlying cause); `source()` returns the
//! underlying error where there is one: an [`IdxError`] (whose own source is the gzip layer's
//! `io::Error`), an `io::Error`, or the HTTP client's error.

use super::idx::IdxError;
use std::path::PathBuf;

#[cfg(feature = "download")]
use super::download::Expected;

/// Why data could not be loaded or prepared. Each message names the file, says what was expected
/// and what was found, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A data file is not valid (bad magic, truncated, corrupt gzip, wrong size, ...).
    #[error("{}: {problem}; fix: {fix}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: IdxError,
        /// How to fix it.
        fix: String,
    },
    /// An image file and its label file hold different numbers of samples.
    #[error(
        "{} holds {n_images} images but {} holds {n_labels} labels (they must agree); fix: use the \
         image and label files of the same release",
        images.display(),
        labels.display()
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Images it holds.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Labels it holds.
        n_labels: usize,
    },
    /// The user's local directory lacks a file.
    #[error(
        "{dataset}: {} has none of {}; fix: put the four {dataset} files there (gzipped or not), or \
         unset {env_var} (and don't pass a local directory) to use the cache and download",
        dir.display(),
        file_names(tried)
    )]
    MissingFile {
        /// The dataset's name, e.g. "MNIST".
        dataset: &'static str,
        /// The directory.
        dir: PathBuf,
        /// The names looked for, in order.
        tried: Vec<PathBuf>,
        /// The env var that names the directory.
        env_var: &'static str,
    },
    /// The local directory does not exist or is not a directory.
    #[error(
        "{dataset}: the local directory {} does not exist or is not a directory; fix: set \
         {env_var} (or the loader's local_dir) to the directory holding the four files, or unset \
         it to use the cache and download",
        dir.display()
    )]
    NoLocalDir {
        /// The dataset's name, e.g. "MNIST".
        dataset: &'static str,
        /// The path given as the directory.
        dir: PathBuf,
        /// The env var that names the directory.
        env_var: &'static str,
    },
    /// A data file's path is taken by a directory (or something else that is not a file).
    #[error(
        "{dataset}: {} is a directory, not a data file; fix: move it away (and put the data file \
         of that name there, unless it is in the cache, which then downloads it)",
        path.display()
    )]
    NotAFile {
        /// The dataset's name, e.g. "MNIST".
        dataset: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// No local directory is set and nn-core was built without its `download` feature, so there
    /// is no cache and no download to fall back on.
    #[error(
        "{dataset}: no local directory is set and nn-core was built without its `download` feature \
         (no cache, no download); fix: set {dir_env}=/dir/with/the/four/files (gzipped or raw) or \
         call the loader's local_dir(..), or build nn-core with the `download` feature"
    )]
    DownloadNotBuilt {
        /// The dataset's name, e.g. "MNIST".
        dataset: &'static str,
        /// The env var for a local directory.
        dir_env: &'static str,
    },
    /// Every mirror failed for a file (boxed: it is by far the largest variant).
    #[cfg(feature = "download")]
    #[error(transparent)]
    DownloadFailed(Box<DownloadFailure>),
    /// Download is switched off and the cache lacks a good copy of a file.
    #[cfg(feature = "download")]
    #[error(
        "{dataset}: {} cannot be used ({reason}) and download is switched off; fix: allow download, \
         or set {dir_env}=/dir/with/the/files",
        path.display()
    )]
    NotCached {
        /// The dataset's name, e.g. "MNIST".
        dataset: &'static str,
        /// The cache file looked for.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
        /// The env var for a local directory.
        dir_env: &'static str,
    },
    /// `split_valid` was asked for more validation samples than there are samples.
    #[error(
        "cannot split off {n_valid} validation samples from a dataset of {len}; fix: ask for at most {len}"
    )]
    SplitTooLarge {
        /// Validation samples asked for.
        n_valid: usize,
        /// Samples in the dataset.
        len: usize,
    },
    /// A dataset was built from inconsistent parts (lengths, labels, indices).
    #[error("invalid dataset: {0}")]
    Invalid(String),
    /// A folder of images cannot be used as it is: no class folders, an empty class, pictures
    /// of mixed colours, a validation class the training set lacks.
    #[error("image folder {}: {problem}", path.display())]
    ImageFolder {
        /// The folder (the root, a split, or a class folder).
        path: PathBuf,
        /// What is wrong, and the fix.
        problem: String,
    },
    /// A CSV table cannot be read as numbers: a cell that is not a finite number, a missing
    /// value, a ragged row, an unknown column.
    #[error("{}{}: {problem}", path.display(), csv_place(*.line, column.as_deref()))]
    Csv {
        /// The file (or the name given to the text).
        path: PathBuf,
        /// The line, counting the header as line 1; 0 for the file as a whole.
        line: u64,
        /// The column's name, where one cell is at fault.
        column: Option<String>,
        /// What is wrong, and the fix.
        problem: String,
    },
}

/// `, line 3, column body_mass_g` for a cell; `, line 3` for a row; nothing for the file.
fn csv_place(line: u64, column: Option<&str>) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (line, None) => format!(", line {line}"),
        (line, Some(column)) => format!(", line {line}, column {column}"),
    }
}

/// The file names of `paths`, comma-separated.
fn file_names(paths: &[PathBuf]) -> String {
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
        .collect();
    names.join(", ")
}

/// Every mirror failed for one file: which file, where it was going, and each mirror's reason.
/// No `source()`: there is one cause per mirror, all of them in the message.
#[cfg(feature = "download")]
#[derive(Debug, thiserror::Error)]
#[error(
    "{dataset}: could not download {file} into {}{}:{}\nfix: without network, copy the four \
     {dataset} .gz files into a directory and set {dir_env}=/that/dir (or into {}), or set \
     {mirror_env}=<base URL> to use another mirror",
    cache_dir.display(),
    cached.as_ref().map_or(String::new(), |why| format!(" ({why})")),
    attempt_lines(attempts),
    cache_dir.display()
)]
pub struct DownloadFailure {
    /// The dataset's name, e.g. "MNIST".
    pub dataset: &'static str,
    /// The file name, e.g. `train-images-idx3-ubyte.gz`.
    pub file: String,
    /// Where it was to be cached.
    pub cache_dir: PathBuf,
    /// Each mirror tried, in order, and why it failed.
    pub attempts: Vec<MirrorFailure>,
    /// Why the cached copy was not used, if there was one.
    pub cached: Option<String>,
    /// The env var for a local directory.
    pub dir_env: &'static str,
    /// The env var for a mirror.
    pub mirror_env: &'static str,
}

/// One indented line per mirror.
#[cfg(feature = "download")]
fn attempt_lines(attempts: &[MirrorFailure]) -> String {
    if attempts.is_empty() {
        return "\n  no mirror configured".to_string();
    }
    attempts.iter().map(|a| format!("\n  {a}")).collect()
}

/// One mirror that did not deliver a good file, and why.
#[cfg(feature = "download")]
#[derive(Debug)]
pub struct MirrorFailure {
    /// The full URL that was tried.
    pub url: String,
    /// What went wrong there.
    pub reason: FailReason,
}

impl DataError {
    /// Whether the data is simply not to be had here: no local directory was set, and neither a
    /// verified cache nor a mirror (or, without the `download` feature, no download at all) could
    /// supply it. A program may then choose another source, such as
    /// [`Mnist::bundled`](crate::data::Mnist::bundled), and say so; a broken local directory or file is not this.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DataError::DownloadNotBuilt { .. } => true,
            #[cfg(feature = "download")]
            DataError::DownloadFailed(_) | DataError::NotCached { .. } => true,
            _ => false,
        }
    }
}

#[cfg(feature = "download")]
impl std::fmt::Display for MirrorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.reason)
    }
}

/// Why a mirror did not deliver a good file.
#[cfg(feature = "download")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailReason {
    /// No response: connection refused, DNS, TLS, timeout, bad URL, ...
    #[error("request failed: {0}")]
    Request(#[source] ureq::Error),
    /// The server answered with a status other than 200.
    #[error("HTTP status {code} {reason}")]
    Status {
        /// The HTTP status code.
        code: u16,
        /// Its reason phrase, if known.
        reason: String,
    },
    /// The server announced a different size (Content-Length) than the file must have.
    #[error("server announces {announced} bytes, expected {expected}")]
    AnnouncedSize {
        /// The size the file must have.
        expected: u64,
        /// The Content-Length the server sent.
        announced: u64,
    },
    /// The body stopped early or the connection failed while reading it.
    #[error("download interrupted: {0}")]
    Body(#[source] std::io::Error),
    /// The body exceeded the size limit for files without a known size.
    #[error("body larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The file arrived but its size or SHA-256 is not the expected one.
    #[error(
        "digest mismatch: expected {} bytes with SHA-256 {}, got {} bytes with SHA-256 {}",
        expected.size,
        expected.sha256,
        actual.size,
        actual.sha256
    )]
    Digest {
        /// What the file must be.
        expected: Expected,
        /// What arrived.
        actual: Expected,
    },
    /// The file arrived and verified (or verification is off) but its content is not valid IDX.
    #[error("not a valid file: {0}")]
    Malformed(#[source] IdxError),
    /// Not tried: the mirror timed out or refused the connection for an earlier file.
    #[error("skipped: it failed for an earlier file ({earlier})")]
    Skipped {
        /// Why it failed then.
        earlier: String,
    },
}

#[cfg(feature = "download")]
impl FailReason {
    /// Whether the mirror itself is out of reach (timed out, refused the connection, unknown
    /// host): then asking it for the other files would only wait again.
    pub fn is_unreachable(&self) -> bool {
        use std::io::ErrorKind::{ConnectionRefused, TimedOut};
        fn timed_out(e: &std::io::Error) -> bool {
            // ureq reports a timeout while reading the body as an io::Error wrapping its own.
            e.kind() == TimedOut
                || e.get_ref()
                    .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                    .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)))
        }
        match self {
            FailReason::Request(ureq::Error::Timeout(_))
            | FailReason::Request(ureq::Error::HostNotFound)
            | FailReason::Request(ureq::Error::ConnectionFailed) => true,
            FailReason::Request(ureq::Error::Io(e)) => e.kind() == ConnectionRefused || timed_out(e),
            FailReason::Body(e) => timed_out(e),
            _ => false,
        }
    }
}

/// Why a download did not produce a file.
#[cfg(feature = "download")]
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A local problem (creating or writing the temporary file): no mirror would do better.
    #[error("writing a download to {}: {source}", path.display())]
    Local {
        /// The temporary file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Every mirror failed; one entry per mirror, in the order tried.
    #[error("every mirror failed:{}", attempt_lines(.0))]
    AllFailed(Vec<MirrorFailure>),
}
