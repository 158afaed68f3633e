//! The verified cache of a [`Loader`]: files trusted only if their size and SHA-256 match, filled
//! from the mirrors when they do not (the `download` feature).
//!
//! The cache directory is [`Loader::cache_dir`], else `$NN_CACHE_DIR/<Spec::cache_subdir>`, else
//! `./data/<Spec::cache_subdir>`. The mirrors are [`Loader::mirrors`], else the spec's mirror env
//! var as the only mirror, else [`Spec::mirrors`]. Each download goes to a temporary name in the
//! cache directory, is verified and validated, and is renamed into place only when all four
//! files are good, so a load that fails leaves the cache as it found it.

use super::download::{Expected, Fetcher};
use super::error::{DataError, DownloadFailure, FetchError};
use super::idx::{Idx, IdxKind};
use super::loader::{check_counts, read_data_file, validate, IdxDataset, Loaded, Loader, Spec, KINDS};
use crate::error::{Error, Result};
use crate::fsutil::TempFile;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The size and SHA-256 each downloaded (or cached) gz file must have; `None` skips the check
/// for that file (its content is still validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    /// The training images.
    pub train_images: Option<Expected>,
    /// The training labels.
    pub train_labels: Option<Expected>,
    /// The test images.
    pub test_images: Option<Expected>,
    /// The test labels.
    pub test_labels: Option<Expected>,
}

impl Digests {
    /// The published digests of a dataset.
    pub fn published(spec: &Spec) -> Self {
        let [a, b, c, d] = spec.digests.map(|(size, sha)| Some(Expected::new(size, sha)));
        Digests {
            train_images: a,
            train_labels: b,
            test_images: c,
            test_labels: d,
        }
    }

    /// No digest checks: for a custom mirror serving other files.
    pub fn none() -> Self {
        Digests {
            train_images: None,
            train_labels: None,
            test_images: None,
            test_labels: None,
        }
    }

    fn get(&self, i: usize) -> Option<&Expected> {
        [
            &self.train_images,
            &self.train_labels,
            &self.test_images,
            &self.test_labels,
        ][i]
            .as_ref()
    }
}

/// How long one file may take to download by default: Fashion-MNIST's largest file (26 MB) at
/// 45 KB/s. A mirror slower than that is given up on, and skipped for the remaining files.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

/// A loader's cache and download settings.
#[derive(Clone, Debug)]
pub(super) struct Remote {
    cache_dir: Option<PathBuf>,
    mirrors: Option<Vec<String>>,
    digests: Option<Digests>,
    download: bool,
    progress: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
    deadline: Duration,
}

impl Default for Remote {
    fn default() -> Self {
        Remote {
            cache_dir: None,
            mirrors: None,
            digests: None,
            download: true,
            progress: true,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            deadline: DEFAULT_DEADLINE,
        }
    }
}

impl<T: IdxDataset> Loader<T> {
    /// Cache downloads in this directory itself (not a parent); overrides `NN_CACHE_DIR`.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.remote.cache_dir = Some(dir.into());
        self
    }

    /// Download from these base URLs, in order; overrides `MNIST_MIRROR` and the built-in list.
    pub fn mirrors<S: Into<String>>(mut self, bases: impl IntoIterator<Item = S>) -> Self {
        self.remote.mirrors = Some(bases.into_iter().map(Into::into).collect());
        self
    }

    /// The sizes and digests files must have (default: the published ones). Use
    /// [`Digests::none`] or [`Loader::verify`]`(false)` for a mirror serving other files.
    pub fn digests(mut self, digests: Digests) -> Self {
        self.remote.digests = Some(digests);
        self
    }

    /// `false` switches digest checks off (content is still validated); `true` restores the
    /// published digests.
    pub fn verify(mut self, on: bool) -> Self {
        self.remote.digests = Some(if on {
            Digests::published(T::SPEC)
        } else {
            Digests::none()
        });
        self
    }

    /// Whether a missing or unverified cache may be filled by downloading (default `true`).
    pub fn download(mut self, allowed: bool) -> Self {
        self.remote.download = allowed;
        self
    }

    /// Whether to draw a progress bar per downloaded file (only with the `progress` feature, and
    /// only ever on a terminal).
    pub fn progress(mut self, show: bool) -> Self {
        self.remote.progress = show;
        self
    }

    /// Timeouts for connecting (default 30 s) and for each read of a download (default 60 s).
    pub fn timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.remote.connect_timeout = connect;
        self.remote.read_timeout = read;
        self
    }

    /// How long each file may take to download, from connecting to the last byte (default 10
    /// minutes). A mirror that exceeds it, or times out, or refuses the connection, is skipped
    /// for the remaining files and the next mirror is tried.
    pub fn deadline(mut self, per_file: Duration) -> Self {
        self.remote.deadline = per_file;
        self
    }

    /// The cache directory in use (API, then `$NN_CACHE_DIR/<name>`, then `./data/<name>`).
    pub fn resolved_cache_dir(&self) -> PathBuf {
        self.remote.cache_dir.clone().unwrap_or_else(|| {
            let root = self
                .env_var("NN_CACHE_DIR")
                .map_or_else(|| PathBuf::from("data"), PathBuf::from);
            root.join(T::SPEC.cache_subdir)
        })
    }

    /// The mirrors in use (API, then the env var as the only mirror, then the built-in list).
    pub fn resolved_mirrors(&self) -> Vec<String> {
        if let Some(m) = &self.remote.mirrors {
            return m.clone();
        }
        if let Some(m) = self.env_var(T::SPEC.mirror_env) {
            return vec![m.trim().to_string()];
        }
        T::SPEC.mirrors.iter().map(|s| s.to_string()).collect()
    }

    pub(super) fn load_cached_or_download(&self) -> Result<[Loaded; 4]> {
        let spec = T::SPEC;
        let remote = &self.remote;
        let dir = self.resolved_cache_dir();
        let digests = remote.digests.clone().unwrap_or_else(|| Digests::published(spec));
        let mut fetcher = None;
        // Downloads wait here under temporary names until all four files are good.
        let mut pending: Vec<(TempFile, PathBuf)> = Vec::new();
        let mut out = Vec::with_capacity(4);
        for (i, (name, kind)) in spec.files.into_iter().zip(KINDS).enumerate() {
            let file = format!("{name}.gz");
            let path = dir.join(&file);
            let expected = digests.get(i);
            let stale = match check_cached(&path, expected, kind, spec)? {
                Ok(idx) => {
                    out.push(Loaded { path, idx });
                    continue;
                }
                Err(stale) => stale,
            };
            if !remote.download {
                return Err(DataError::NotCached {
                    dataset: spec.name,
                    path,
                    reason: stale.unwrap_or_else(|| "no such file".into()),
                    dir_env: spec.dir_env,
                }
                .into());
            }
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating the cache directory", &dir, e))?;
            let fetcher = fetcher.get_or_insert_with(|| {
                Fetcher::new(
                    remote.connect_timeout,
                    remote.read_timeout,
                    remote.deadline,
                    remote.progress,
                )
            });
            let mirrors = self.resolved_mirrors();
            match fetcher.fetch(&mirrors, &file, &dir, expected, |bytes| {
                validate(bytes, kind, spec)
            }) {
                Ok((temp, idx)) => {
                    out.push(Loaded {
                        path: path.clone(),
                        idx,
                    });
                    pending.push((temp, path));
                }
                Err(FetchError::Local { path, source }) => {
                    return Err(Error::io("writing a download to", path, source));
                }
                Err(FetchError::AllFailed(attempts)) => {
                    return Err(DataError::DownloadFailed(Box::new(DownloadFailure {
                        dataset: spec.name,
                        file,
                        cache_dir: dir,
                        attempts,
                        cached: stale,
                        dir_env: spec.dir_env,
                        mirror_env: spec.mirror_env,
                    }))
                    .into());
                }
            }
        }
        let loaded: [Loaded; 4] = out.try_into().expect("four files");
        // Pairs must agree before anything is renamed into place.
        check_counts(&loaded[0], &loaded[1])?;
        check_counts(&loaded[2], &loaded[3])?;
        for (temp, dest) in pending {
            temp.persist(&dest)
                .map_err(|e| Error::io("renaming a download into place at", &dest, e))?;
        }
        Ok(loaded)
    }
}

/// A cached file that verifies and decodes (`Ok(Ok)`), or why it cannot be trusted (`Ok(Err)`,
/// `None` when it is simply absent). Only unexpected I/O errors are returned as `Err`.
fn check_cached(
    path: &Path,
    expected: Option<&Expected>,
    kind: IdxKind,
    spec: &Spec,
) -> Result<Result<Idx, Option<String>>> {
    let bytes = match read_data_file(path, spec)? {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(None)),
        Err(e) => return Err(Error::io("reading the cached file", path, e)),
    };
    if let Some(reason) = expected.and_then(|e| e.check(&bytes)) {
        return Ok(Err(Some(format!(
            "the cached copy failed verification ({reason})"
        ))));
    }
    Ok(validate(&bytes, kind, spec).map_err(|e| Some(format!("the cached copy is not valid ({e})"))))
}
