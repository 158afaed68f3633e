//! MNIST and Fashion-MNIST: where the four files come from, in order.
//!
//! 1. A local directory the user names ([`Loader::local_dir`], else the env var `MNIST_DIR` /
//!    `FASHION_MNIST_DIR`) holding the four files gzipped or raw. Used alone when given: a file
//!    missing there is an error, not a reason to download. Not digest-checked (the files may be
//!    recompressed) but fully validated.
//! 2. The cache directory ([`Loader::cache_dir`], else `$NN_CACHE_DIR/MNIST`, else
//!    `./data/MNIST`; `FashionMNIST` for Fashion-MNIST). A cached file is trusted only if its size
//!    and SHA-256 match; otherwise it is downloaded again.
//! 3. Download from the mirrors, in order ([`Loader::mirrors`], else the env var `MNIST_MIRROR` /
//!    `FASHION_MNIST_MIRROR` as the only mirror, else the built-in list). Each file goes to a
//!    temporary name in the cache directory, is verified and validated, and is renamed into place
//!    only when all four files are good.

use super::dataset::Dataset;
use super::download::{Expected, FetchError, Fetcher, TempFile};
use super::idx::{self, Idx, IdxError, IdxKind};
use super::{DataError, DownloadFailure};
use crate::error::{Error, Result};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Image side in pixels: both datasets are 28x28.
const SIDE: usize = 28;
/// Both datasets have ten classes.
const CLASSES: usize = 10;

/// The four files of a dataset, in the order of [`Digests`]' fields: base names without `.gz`.
const FILES: [(&str, IdxKind); 4] = [
    ("train-images-idx3-ubyte", IdxKind::Images),
    ("train-labels-idx1-ubyte", IdxKind::Labels),
    ("t10k-images-idx3-ubyte", IdxKind::Images),
    ("t10k-labels-idx1-ubyte", IdxKind::Labels),
];

/// What differs between MNIST and Fashion-MNIST.
#[derive(Debug)]
pub struct Spec {
    /// Human name, used in messages.
    pub name: &'static str,
    /// Subdirectory of the cache root.
    pub cache_subdir: &'static str,
    /// Env var naming a local directory with the files.
    pub dir_env: &'static str,
    /// Env var replacing the mirror list with one base URL.
    pub mirror_env: &'static str,
    /// The mirrors, tried in order.
    pub mirrors: &'static [&'static str],
    /// The published sizes and SHA-256 digests of the gz files.
    pub digests: [(u64, &'static str); 4],
}

/// The MNIST spec: mirrors and published digests (TFDS / Keras table).
pub const MNIST: Spec = Spec {
    name: "MNIST",
    cache_subdir: "MNIST",
    dir_env: "MNIST_DIR",
    mirror_env: "MNIST_MIRROR",
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    digests: [
        (
            9912422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        (
            28881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        (
            1648877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        (
            4542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ],
};

/// The Fashion-MNIST spec: mirrors and published digests.
pub const FASHION_MNIST: Spec = Spec {
    name: "Fashion-MNIST",
    cache_subdir: "FashionMNIST",
    dir_env: "FASHION_MNIST_DIR",
    mirror_env: "FASHION_MNIST_MIRROR",
    mirrors: &[
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ],
    digests: [
        (
            26421880,
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        (
            29515,
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        (
            4422102,
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        (
            5148,
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ],
};

/// The size and SHA-256 each downloaded (or cached) gz file must have; `None` skips the check
/// for that file (its content is still validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    /// `train-images-idx3-ubyte.gz`.
    pub train_images: Option<Expected>,
    /// `train-labels-idx1-ubyte.gz`.
    pub train_labels: Option<Expected>,
    /// `t10k-images-idx3-ubyte.gz`.
    pub test_images: Option<Expected>,
    /// `t10k-labels-idx1-ubyte.gz`.
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

/// The MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28 pixels, ten
/// classes. Pixels are kept as `u8`; batches hand them out as `f32` in `[0, 1]`, flattened to 784.
///
/// ```no_run
/// use nn_core::data::Mnist;
/// let mnist = Mnist::load()?; // MNIST_DIR, else the verified cache, else download
/// let (train, valid) = mnist.train.split_valid(Mnist::VALID_SIZE, &mut nn_core::seeded(4321))?;
/// assert_eq!((train.len(), valid.len(), mnist.test.len()), (50_000, 10_000, 10_000));
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The training set (60,000 samples).
    pub train: Dataset,
    /// The test set (10,000 samples).
    pub test: Dataset,
}

/// Zalando's Fashion-MNIST: same format, sizes and API as [`Mnist`], ten kinds of clothing.
#[derive(Clone, Debug)]
pub struct FashionMnist {
    /// The training set (60,000 samples).
    pub train: Dataset,
    /// The test set (10,000 samples).
    pub test: Dataset,
}

impl Mnist {
    /// The validation size of the seed notebook's 50,000 / 10,000 split.
    pub const VALID_SIZE: usize = 10_000;

    /// Loads with the defaults (env vars, `./data/MNIST`, built-in mirrors and digests).
    pub fn load() -> Result<Self> {
        Self::loader().load()
    }

    /// A loader to configure: local directory, cache directory, mirrors, digests, ...
    pub fn loader() -> Loader<Self> {
        Loader::new()
    }
}

impl FashionMnist {
    /// The validation size matching [`Mnist::VALID_SIZE`].
    pub const VALID_SIZE: usize = 10_000;

    /// The class names, by label.
    pub const CLASS_NAMES: [&'static str; 10] = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ];

    /// Loads with the defaults (env vars, `./data/FashionMNIST`, built-in mirrors and digests).
    pub fn load() -> Result<Self> {
        Self::loader().load()
    }

    /// A loader to configure: local directory, cache directory, mirrors, digests, ...
    pub fn loader() -> Loader<Self> {
        Loader::new()
    }
}

/// A dataset in MNIST's four-file IDX layout: [`Mnist`] or [`FashionMnist`].
pub trait IdxDataset: Sized {
    /// Where its files come from and what they must be.
    const SPEC: &'static Spec;
    /// Builds it from its training and test sets.
    fn from_parts(train: Dataset, test: Dataset) -> Self;
}

impl IdxDataset for Mnist {
    const SPEC: &'static Spec = &MNIST;
    fn from_parts(train: Dataset, test: Dataset) -> Self {
        Mnist { train, test }
    }
}

impl IdxDataset for FashionMnist {
    const SPEC: &'static Spec = &FASHION_MNIST;
    fn from_parts(train: Dataset, test: Dataset) -> Self {
        FashionMnist { train, test }
    }
}

/// Configures where [`Mnist`] or [`FashionMnist`] comes from. API settings win over env vars;
/// env vars win over the defaults.
#[derive(Clone, Debug)]
pub struct Loader<T> {
    local_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    mirrors: Option<Vec<String>>,
    digests: Option<Digests>,
    download: bool,
    use_env: bool,
    progress: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
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
    /// The defaults: env vars read, `./data/<name>` cache, built-in mirrors and digests, download
    /// allowed, progress bars on a terminal, 30 s connect and 60 s read timeouts.
    pub fn new() -> Self {
        Loader {
            local_dir: None,
            cache_dir: None,
            mirrors: None,
            digests: None,
            download: true,
            use_env: true,
            progress: true,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
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

    /// Cache downloads in this directory itself (not a parent); overrides `NN_CACHE_DIR`.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Download from these base URLs, in order; overrides `MNIST_MIRROR` and the built-in list.
    pub fn mirrors<S: Into<String>>(mut self, bases: impl IntoIterator<Item = S>) -> Self {
        self.mirrors = Some(bases.into_iter().map(Into::into).collect());
        self
    }

    /// The sizes and digests files must have (default: the published ones). Use
    /// [`Digests::none`] or [`Loader::verify`]`(false)` for a mirror serving other files.
    pub fn digests(mut self, digests: Digests) -> Self {
        self.digests = Some(digests);
        self
    }

    /// `false` switches digest checks off (content is still validated); `true` restores the
    /// published digests.
    pub fn verify(mut self, on: bool) -> Self {
        self.digests = Some(if on {
            Digests::published(T::SPEC)
        } else {
            Digests::none()
        });
        self
    }

    /// Whether a missing or unverified cache may be filled by downloading (default `true`).
    pub fn download(mut self, allowed: bool) -> Self {
        self.download = allowed;
        self
    }

    /// Whether to read the env vars (`MNIST_DIR`, `NN_CACHE_DIR`, `MNIST_MIRROR`, ...); default
    /// `true`. Tests switch this off so that a developer's shell cannot change what they load.
    pub fn env(mut self, read: bool) -> Self {
        self.use_env = read;
        self
    }

    /// Whether to draw a progress bar per downloaded file (only ever on a terminal).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Timeouts for connecting and for each read of a download.
    pub fn timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.connect_timeout = connect;
        self.read_timeout = read;
        self
    }

    fn env_var(&self, name: &str) -> Option<String> {
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

    /// The cache directory in use (API, then `$NN_CACHE_DIR/<name>`, then `./data/<name>`).
    pub fn resolved_cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| {
            let root = self
                .env_var("NN_CACHE_DIR")
                .map_or_else(|| PathBuf::from("data"), PathBuf::from);
            root.join(T::SPEC.cache_subdir)
        })
    }

    /// The mirrors in use (API, then the env var as the only mirror, then the built-in list).
    pub fn resolved_mirrors(&self) -> Vec<String> {
        if let Some(m) = &self.mirrors {
            return m.clone();
        }
        if let Some(m) = self.env_var(T::SPEC.mirror_env) {
            return vec![m.trim().to_string()];
        }
        T::SPEC.mirrors.iter().map(|s| s.to_string()).collect()
    }

    /// Loads the training and test sets.
    pub fn load(&self) -> Result<T> {
        let [train_images, train_labels, test_images, test_labels] = match self.resolved_local_dir() {
            Some(dir) => self.load_local(&dir)?,
            None => self.load_cached_or_download()?,
        };
        let train = build(train_images, train_labels)?;
        let test = build(test_images, test_labels)?;
        Ok(T::from_parts(train, test))
    }

    fn load_local(&self, dir: &Path) -> Result<[Loaded; 4]> {
        let spec = T::SPEC;
        let mut out = Vec::with_capacity(4);
        for (name, kind) in FILES {
            // Gzipped as published, unpacked, or unpacked with the '.' some archives use.
            let tried = [
                format!("{name}.gz"),
                name.to_string(),
                name.replacen("-idx", ".idx", 1),
            ]
            .map(|candidate| dir.join(candidate));
            let Some(path) = tried.iter().find(|p| p.is_file()).cloned() else {
                return Err(DataError::MissingFile {
                    dataset: spec.name,
                    dir: dir.to_path_buf(),
                    tried: tried.to_vec(),
                    env_var: spec.dir_env,
                }
                .into());
            };
            let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
            let data = validate(&bytes, kind).map_err(|problem| DataError::Malformed {
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

    fn load_cached_or_download(&self) -> Result<[Loaded; 4]> {
        let spec = T::SPEC;
        let dir = self.resolved_cache_dir();
        let digests = self.digests.clone().unwrap_or_else(|| Digests::published(spec));
        let mut fetcher = None;
        // Downloads wait here under temporary names until all four files are good: a load that
        // fails leaves the cache as it found it.
        let mut pending: Vec<(TempFile, PathBuf)> = Vec::new();
        let mut out = Vec::with_capacity(4);
        for (i, (name, kind)) in FILES.into_iter().enumerate() {
            let file = format!("{name}.gz");
            let path = dir.join(&file);
            let expected = digests.get(i);
            let stale = match check_cached(&path, expected, kind)? {
                Ok(idx) => {
                    out.push(Loaded { path, idx });
                    continue;
                }
                Err(stale) => stale,
            };
            if !self.download {
                return Err(DataError::NotCached {
                    dataset: spec.name,
                    path,
                    reason: stale.unwrap_or_else(|| "no such file".into()),
                    dir_env: spec.dir_env,
                }
                .into());
            }
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating the cache directory", &dir, e))?;
            let fetcher = fetcher
                .get_or_insert_with(|| Fetcher::new(self.connect_timeout, self.read_timeout, self.progress));
            let mirrors = self.resolved_mirrors();
            match fetcher.fetch(&mirrors, &file, &dir, expected, |bytes| validate(bytes, kind)) {
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

/// One decoded file and where it came from (for messages).
#[derive(Debug)]
struct Loaded {
    path: PathBuf,
    idx: Idx,
}

/// Decodes and checks one file: 28x28 images, labels below 10.
fn validate(bytes: &[u8], kind: IdxKind) -> Result<Idx, IdxError> {
    let idx = idx::decode(bytes, kind)?;
    match kind {
        IdxKind::Images => {
            let found = (idx.dims[1], idx.dims[2]);
            if found != (SIDE, SIDE) {
                return Err(IdxError::ImageSize {
                    expected: (SIDE, SIDE),
                    found,
                });
            }
        }
        IdxKind::Labels => {
            if let Some((index, &label)) = idx.data.iter().enumerate().find(|(_, &l)| l as usize >= CLASSES) {
                return Err(IdxError::LabelOutOfRange {
                    index,
                    label,
                    classes: CLASSES,
                });
            }
        }
    }
    Ok(idx)
}

/// A cached file that verifies and decodes (`Ok(Ok)`), or why it cannot be trusted (`Ok(Err)`,
/// `None` when it is simply absent). Only unexpected I/O errors are returned as `Err`.
fn check_cached(
    path: &Path,
    expected: Option<&Expected>,
    kind: IdxKind,
) -> Result<Result<Idx, Option<String>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(None)),
        Err(e) => return Err(Error::io("reading the cached file", path, e)),
    };
    if let Some(reason) = expected.and_then(|e| e.check(&bytes)) {
        return Ok(Err(Some(format!(
            "the cached copy failed verification ({reason})"
        ))));
    }
    Ok(validate(&bytes, kind).map_err(|e| Some(format!("the cached copy is not valid ({e})"))))
}

fn check_counts(images: &Loaded, labels: &Loaded) -> Result<()> {
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

fn build(images: Loaded, labels: Loaded) -> Result<Dataset> {
    check_counts(&images, &labels)?;
    let labels = labels.idx.data.iter().map(|&l| usize::from(l)).collect();
    Dataset::from_u8(images.idx.data, &[SIDE * SIDE], labels, CLASSES)
}
