//! The loader of any dataset in MNIST's four-file IDX layout: where its files come from, in order.
//!
//! 1. A local directory the user names ([`Loader::local_dir`], else the env var the dataset's
//!    [`Spec`] names, e.g. `MNIST_DIR`) holding the four files gzipped or raw. Used alone when
//!    given: a file missing there is an error, not a reason to download. Not digest-checked (the
//!    files may be recompressed) but fully validated.
//! 2. With the `download` feature (see `cache.rs`): the cache directory, whose files are trusted
//!    only if their size and SHA-256 match, filled from the mirrors when they do not. Without
//!    the feature, no local directory is an error that says so.
//!
//! Every file is validated against the spec: IDX magic and lengths, the image shape read from
//! the header equal to [`Spec::image_shape`], labels below [`Spec::classes`].

use super::dataset::Dataset;
use super::error::DataError;
use super::idx::{self, Idx, IdxError, IdxKind};
use crate::error::{Error, Result};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Which kind of file each of the four [`Spec::files`] is: train images and labels, then test
/// images and labels.
pub(super) const KINDS: [IdxKind; 4] = [IdxKind::Images, IdxKind::Labels, IdxKind::Images, IdxKind::Labels];

/// Everything the loader needs to know about one dataset: names, files, shapes, sources.
#[derive(Debug)]
pub struct Spec {
    /// Human name, used in messages.
    pub name: &'static str,
    /// The four files, base names without `.gz`: train images, train labels, test images, test
    /// labels.
    pub files: [&'static str; 4],
    /// `[rows, cols]` of every image; the IDX headers must say the same.
    pub image_shape: [usize; 2],
    /// The number of classes; every label must be below it.
    pub classes: usize,
    /// Env var naming a local directory with the files.
    pub dir_env: &'static str,
    /// Subdirectory of the cache root.
    pub cache_subdir: &'static str,
    /// Env var replacing the mirror list with one base URL.
    pub mirror_env: &'static str,
    /// The mirrors (base URLs), tried in order.
    pub mirrors: &'static [&'static str],
    /// The published sizes and SHA-256 digests (hex) of the four gz files, in the order of `files`.
    pub digests: [(u64, &'static str); 4],
}

/// A dataset in the four-file IDX layout, loadable with [`Loader`]: the extension point for
/// datasets beyond MNIST and Fashion-MNIST.
///
/// ```no_run
/// use nn_core::data::{Dataset, IdxDataset, Loader, Spec};
///
/// /// Kuzushiji-MNIST: same layout, other files.
/// struct Kmnist { train: Dataset, test: Dataset }
///
/// const KMNIST: Spec = Spec {
///     name: "KMNIST",
///     files: ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
///             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
///     image_shape: [28, 28],
///     classes: 10,
///     dir_env: "KMNIST_DIR",
///     cache_subdir: "KMNIST",
///     mirror_env: "KMNIST_MIRROR",
///     mirrors: &[],
///     digests: [(0, ""); 4], // unknown: pass `.verify(false)` when downloading
/// };
///
/// impl IdxDataset for Kmnist {
///     const SPEC: &'static Spec = &KMNIST;
///     fn from_parts(train: Dataset, test: Dataset) -> Self { Kmnist { train, test } }
/// }
///
/// let k = Loader::<Kmnist>::new().local_dir("data/kmnist").load()?;
/// assert_eq!(k.train.feature_shape(), &[784]);
/// # Ok::<(), nn_core::Error>(())
/// ```
pub trait IdxDataset: Sized {
    /// Where its files come from and what they must be.
    const SPEC: &'static Spec;
    /// Builds it from its training and test sets.
    fn from_parts(train: Dataset, test: Dataset) -> Self;
}

/// Configures where an [`IdxDataset`] comes from. API settings win over env vars; env vars win
/// over the defaults. The cache and download settings exist with the `download` feature.
#[derive(Clone, Debug)]
pub struct Loader<T> {
    pub(super) local_dir: Option<PathBuf>,
    pub(super) use_env: bool,
    #[cfg(feature = "download")]
    pub(super) remote: super::cache::Remote,
    /// Tests stand in for the process environment, which they must not mutate (other threads read it).
    #[cfg(test)]
    pub(crate) fake_env: Option<std::collections::HashMap<String, String>>,
    kind: PhantomData<fn() -> T>,
}

impl<T: IdxDataset> Default for Loader<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: IdxDataset> Loader<T> {
    /// The defaults: env vars read; with the `download` feature, a `./data/<name>` cache, the
    /// built-in mirrors and digests, download allowed, progress bars on a terminal.
    pub fn new() -> Self {
        Loader {
            local_dir: None,
            use_env: true,
            #[cfg(feature = "download")]
            remote: super::cache::Remote::default(),
            #[cfg(test)]
            fake_env: None,
            kind: PhantomData,
        }
    }

    /// Load only from this directory (the four files, gzipped or raw); overrides `MNIST_DIR`.
    pub fn local_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.local_dir = Some(dir.into());
        self
    }

    /// Whether to read the env vars (`MNIST_DIR`, `NN_CACHE_DIR`, `MNIST_MIRROR`, ...); default
    /// `true`. Tests switch this off so that a developer's shell cannot change what they load.
    pub fn env(mut self, read: bool) -> Self {
        self.use_env = read;
        self
    }

    /// The env var `name` if reading env vars is on and it is set to something non-blank.
    pub(super) fn env_var(&self, name: &str) -> Option<String> {
        if !self.use_env {
            return None;
        }
        #[cfg(test)]
        if let Some(env) = &self.fake_env {
            return env.get(name).cloned().filter(|v| !v.trim().is_empty());
        }
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    /// The local directory in use, if any (API, then env var).
    pub fn resolved_local_dir(&self) -> Option<PathBuf> {
        self.local_dir
            .clone()
            .or_else(|| self.env_var(T::SPEC.dir_env).map(PathBuf::from))
    }

    /// Loads the training and test sets.
    pub fn load(&self) -> Result<T> {
        let [train_images, train_labels, test_images, test_labels] = match self.resolved_local_dir() {
            Some(dir) => self.load_local(&dir)?,
            #[cfg(feature = "download")]
            None => self.load_cached_or_download()?,
            #[cfg(not(feature = "download"))]
            None => {
                return Err(DataError::DownloadNotBuilt {
                    dataset: T::SPEC.name,
                    dir_env: T::SPEC.dir_env,
                }
                .into())
            }
        };
        let train = build(T::SPEC, train_images, train_labels)?;
        let test = build(T::SPEC, test_images, test_labels)?;
        Ok(T::from_parts(train, test))
    }

    /// Builds the dataset from the four files' bytes (gzipped or raw), in [`Spec::files`] order,
    /// validated as a local directory's are; `origin` names them in messages.
    pub(super) fn from_bytes(files: [&[u8]; 4], origin: &Path) -> Result<T> {
        let spec = T::SPEC;
        let mut out = Vec::with_capacity(4);
        for ((bytes, name), kind) in files.into_iter().zip(spec.files).zip(KINDS) {
            let path = origin.join(format!("{name}.gz"));
            let idx = validate(bytes, kind, spec).map_err(|problem| DataError::Malformed {
                path: path.clone(),
                problem,
                fix: "the copy built into nn is damaged: rebuild nn from a good checkout".to_string(),
            })?;
            out.push(Loaded { path, idx });
        }
        let [train_images, train_labels, test_images, test_labels]: [Loaded; 4] =
            out.try_into().expect("four files");
        let train = build(spec, train_images, train_labels)?;
        let test = build(spec, test_images, test_labels)?;
        Ok(T::from_parts(train, test))
    }

    fn load_local(&self, dir: &Path) -> Result<[Loaded; 4]> {
        let spec = T::SPEC;
        if !dir.is_dir() {
            return Err(DataError::NoLocalDir {
                dataset: spec.name,
                dir: dir.to_path_buf(),
                env_var: spec.dir_env,
            }
            .into());
        }
        let mut out = Vec::with_capacity(4);
        for (name, kind) in spec.files.into_iter().zip(KINDS) {
            // Gzipped as published, unpacked, or unpacked with the '.' some archives use.
            let tried = [
                format!("{name}.gz"),
                name.to_string(),
                name.replacen("-idx", ".idx", 1),
            ]
            .map(|candidate| dir.join(candidate));
            // Only a name that exists counts: a directory there is reported as what it is.
            let Some(path) = tried.iter().find(|p| p.exists()).cloned() else {
                return Err(DataError::MissingFile {
                    dataset: spec.name,
                    dir: dir.to_path_buf(),
                    tried: tried.to_vec(),
                    env_var: spec.dir_env,
                }
                .into());
            };
            let bytes = read_data_file(&path, spec)?.map_err(|e| Error::io("reading", &path, e))?;
            let data = validate(&bytes, kind, spec).map_err(|problem| DataError::Malformed {
                path: path.clone(),
                problem,
                fix: format!(
                    "replace it with a good copy of {name}.gz from the {} site (gzipped or not), \
                     or unset {} (or the loader's local_dir) to download instead",
                    spec.name, spec.dir_env
                ),
            })?;
            out.push(Loaded { path, idx: data });
        }
        Ok(out.try_into().expect("four files"))
    }
}

/// The bytes of the data file at `path`, `DataError::NotAFile` if a directory is there, or the
/// I/O error of reading it (the caller words it).
pub(super) fn read_data_file(path: &Path, spec: &Spec) -> Result<std::io::Result<Vec<u8>>> {
    if path.is_dir() {
        return Err(DataError::NotAFile {
            dataset: spec.name,
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(std::fs::read(path))
}

/// One decoded file and where it came from (for messages).
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) path: PathBuf,
    pub(super) idx: Idx,
}

/// Decodes one file and checks it against the spec: the image shape, labels below the class count.
pub(super) fn validate(bytes: &[u8], kind: IdxKind, spec: &Spec) -> Result<Idx, IdxError> {
    let idx = idx::decode(bytes, kind)?;
    match kind {
        IdxKind::Images => {
            let found = [idx.dims[1], idx.dims[2]];
            if found != spec.image_shape {
                return Err(IdxError::ImageSize {
                    expected: spec.image_shape,
                    found,
                });
            }
        }
        IdxKind::Labels => {
            let classes = spec.classes;
            if let Some((index, &label)) = idx.data.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
                return Err(IdxError::LabelOutOfRange {
                    index,
                    label,
                    classes,
                });
            }
        }
    }
    Ok(idx)
}

/// An image file and its label file must hold the same number of samples.
pub(super) fn check_counts(images: &Loaded, labels: &Loaded) -> Result<()> {
    let (n_images, n_labels) = (images.idx.dims[0], labels.idx.dims[0]);
    if n_images != n_labels {
        return Err(DataError::CountMismatch {
            images: images.path.clone(),
            n_images,
            labels: labels.path.clone(),
            n_labels,
        }
        .into());
    }
    Ok(())
}

fn build(spec: &Spec, images: Loaded, labels: Loaded) -> Result<Dataset> {
    check_counts(&images, &labels)?;
    let labels = labels.idx.data.iter().map(|&l| usize::from(l)).collect();
    let [rows, cols] = spec.image_shape;
    Dataset::from_u8(images.idx.data, &[rows * cols], labels, spec.classes)
}
