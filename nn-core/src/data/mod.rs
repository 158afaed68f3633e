//! Data: MNIST and Fashion-MNIST loading (local directory, verified cache, or download from
//! mirrors), the IDX format, and [`Dataset`] with seeded splits and mini-batches.
//!
//! One batch's path: IDX files -> `u8` pixels in a [`Dataset`] -> [`Batches::next_batch`] fills a
//! reused `f32` [`Batch`] (pixels / 255) -> the model.
//!
//! Files: `idx.rs` (format parser and validation), `download.rs` (mirrors, digests, temporary
//! files, progress), `mnist.rs` (source order, env vars, cache), `dataset.rs` (dataset, split,
//! batches).

mod dataset;
pub mod digit;
pub mod download;
pub mod idx;
mod mnist;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

pub use dataset::{one_hot, Batch, Batches, Dataset};
pub use digit::{mnist_digit, Channels, ImageError};
pub use download::{Expected, FailReason, MirrorFailure};
pub use idx::{IdxError, IdxKind};
pub use mnist::{Digests, FashionMnist, IdxDataset, Loader, Mnist, Spec, FASHION_MNIST, MNIST};

use std::fmt;
use std::path::PathBuf;

/// Why data could not be loaded or prepared. Each message names the file, says what was expected
/// and what was found, and how to fix it.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// A data file is not valid (bad magic, truncated, corrupt gzip, wrong size, ...).
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: IdxError,
        /// How to fix it.
        fix: String,
    },
    /// An image file and its label file hold different numbers of samples.
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
    MissingFile {
        /// "MNIST" or "Fashion-MNIST".
        dataset: &'static str,
        /// The directory.
        dir: PathBuf,
        /// The names looked for, in order.
        tried: Vec<PathBuf>,
        /// The env var that names the directory.
        env_var: &'static str,
    },
    /// Every mirror failed for a file (boxed: it is by far the largest variant).
    DownloadFailed(Box<DownloadFailure>),
    /// Download is switched off and the cache lacks a good copy of a file.
    NotCached {
        /// "MNIST" or "Fashion-MNIST".
        dataset: &'static str,
        /// The cache file looked for.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
        /// The env var for a local directory.
        dir_env: &'static str,
    },
    /// `split_valid` was asked for more validation samples than there are samples.
    SplitTooLarge {
        /// Validation samples asked for.
        n_valid: usize,
        /// Samples in the dataset.
        len: usize,
    },
    /// A dataset was built from inconsistent parts (lengths, labels, indices).
    Invalid(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Malformed { path, problem, fix } => {
                write!(f, "{}: {problem}; fix: {fix}", path.display())
            }
            DataError::CountMismatch { images, n_images, labels, n_labels } => write!(
                f,
                "{} holds {n_images} images but {} holds {n_labels} labels (they must agree); \
                 fix: use the image and label files of the same release",
                images.display(),
                labels.display()
            ),
            DataError::MissingFile { dataset, dir, tried, env_var } => {
                write!(f, "{dataset}: {} has none of ", dir.display())?;
                for (i, t) in tried.iter().enumerate() {
                    let name = t.file_name().unwrap_or_default().to_string_lossy();
                    write!(f, "{}{name}", if i > 0 { ", " } else { "" })?;
                }
                write!(
                    f,
                    "; fix: put the four {dataset} files there (gzipped or not), or unset {env_var} \
                     (and don't pass a local directory) to use the cache and download"
                )
            }
            DataError::DownloadFailed(failure) => failure.fmt(f),
            DataError::NotCached { dataset, path, reason, dir_env } => write!(
                f,
                "{dataset}: {} cannot be used ({reason}) and download is switched off; fix: allow \
                 download, or set {dir_env}=/dir/with/the/files",
                path.display()
            ),
            DataError::SplitTooLarge { n_valid, len } => write!(
                f,
                "cannot split off {n_valid} validation samples from a dataset of {len}; fix: ask for at most {len}"
            ),
            DataError::Invalid(message) => write!(f, "invalid dataset: {message}"),
        }
    }
}

/// Every mirror failed for one file: which file, where it was going, and each mirror's reason.
#[derive(Debug)]
pub struct DownloadFailure {
    /// "MNIST" or "Fashion-MNIST".
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

impl fmt::Display for DownloadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DownloadFailure {
            dataset,
            file,
            cache_dir,
            attempts,
            cached,
            dir_env,
            mirror_env,
        } = self;
        write!(
            f,
            "{dataset}: could not download {file} into {}",
            cache_dir.display()
        )?;
        if let Some(why) = cached {
            write!(f, " ({why})")?;
        }
        write!(f, ":")?;
        if attempts.is_empty() {
            write!(f, "\n  no mirror configured")?;
        }
        for a in attempts {
            write!(f, "\n  {}: {}", a.url, a.reason)?;
        }
        write!(
            f,
            "\nfix: without network, copy the four {dataset} .gz files into a directory and set \
             {dir_env}=/that/dir (or into {}), or set {mirror_env}=<base URL> to use another mirror",
            cache_dir.display()
        )
    }
}

// No `source`: the Display above already includes the inner problem, and a chain printer
// would say it twice.
impl std::error::Error for DataError {}
