//! Smoke test on real MNIST digits in `NN_SMOKE_MNIST_DIR` (a directory with the four IDX files,
//! e.g. the 10,000 digits bundled in `nn-core/data/mnist-10k`). The tests are `#[ignore]`d so that
//! plain `cargo test` stays fast and needs no data directory; run on their own, they fail
//! when the data is absent rather than pass without checking anything:
//!
//! ```sh
//! NN_SMOKE_MNIST_DIR=nn-core/data/mnist-10k cargo test --release --test mnist_smoke -- --ignored
//! ```

use nn::data::{DataSource, Mnist};
use std::path::PathBuf;

/// The data directory; panics when it is not given or not a directory.
fn smoke_dir() -> PathBuf {
    let Some(dir) = std::env::var_os("NN_SMOKE_MNIST_DIR").filter(|d| !d.is_empty()) else {
        panic!(
            "mnist_smoke needs real MNIST: set NN_SMOKE_MNIST_DIR to a directory with the four IDX \
             files, e.g. NN_SMOKE_MNIST_DIR=nn-core/data/mnist-10k"
        );
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "mnist_smoke: NN_SMOKE_MNIST_DIR={} is not a directory; point it at the four IDX files, \
         e.g. nn-core/data/mnist-10k",
        dir.display()
    );
    dir
}

#[test]
#[ignore = "needs real MNIST: NN_SMOKE_MNIST_DIR=nn-core/data/mnist-10k"]
fn real_mnist_loads_splits_and_batches() {
    let dir = smoke_dir();
    let mnist = Mnist::loader()
        .env(false)
        .progress(false)
        .local_dir(&dir)
        .load()
        .unwrap();
    let (train, test) = (&mnist.train, &mnist.test);
    assert!(
        train.len() >= 1000 && test.len() >= 1000,
        "{} / {}",
        train.len(),
        test.len()
    );
    if dir.ends_with("mnist-10k") {
        assert_eq!((train.len(), test.len()), (8000, 2000));
    }
    assert_eq!(train.feature_shape(), &[784]);
    for set in [train, test] {
        assert_eq!(set.classes(), Some(10));
        let mut counts = [0usize; 10];
        set.labels().unwrap().iter().for_each(|&l| counts[l] += 1);
        // Every digit is common in real MNIST (about a tenth each).
        assert!(
            counts.iter().all(|&c| c * 20 > set.len()),
            "class counts {counts:?}"
        );
        let px = set.pixels().unwrap();
        let mean = px.iter().map(|&p| f64::from(p)).sum::<f64>() / px.len() as f64 / 255.0;
        // MNIST's well-known pixel mean is 0.1307.
        assert!((0.12..0.14).contains(&mean), "pixel mean {mean}");
    }

    let (fit, valid) = train.split_valid(1000, &mut nn::seeded(4321)).unwrap();
    assert_eq!((fit.len(), valid.len()), (train.len() - 1000, 1000));
    let mut batches = fit.batches(100, 1).drop_last(true);
    let mut seen = 0;
    while let Some(batch) = batches.next_batch().unwrap() {
        assert_eq!(batch.inputs.shape(), &[100, 784]);
        assert!(batch.inputs.iter().all(|&v| (0.0..=1.0).contains(&v)));
        seen += batch.len();
    }
    assert_eq!(seen, fit.len() / 100 * 100);
}

#[test]
#[ignore = "needs real MNIST: NN_SMOKE_MNIST_DIR=nn-core/data/mnist-10k"]
fn real_mnist_through_the_cache_without_network() {
    let dir = smoke_dir();
    // The subset has no published digest: copy it into a cache, switch digests off, forbid
    // download. The cache path must then load it just like the local directory.
    let cache = std::env::temp_dir().join(format!("nn-smoke-cache-{}", std::process::id()));
    std::fs::create_dir_all(&cache).unwrap();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::copy(dir.join(format!("{name}.gz")), cache.join(format!("{name}.gz"))).unwrap();
    }
    let loaded = Mnist::loader()
        .env(false)
        .cache_dir(&cache)
        .verify(false)
        .download(false)
        .load();
    let local = Mnist::loader().env(false).local_dir(&dir).load().unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
    let cached = loaded.unwrap();
    assert_eq!(cached.train, local.train);
    assert_eq!(cached.test, local.test);
}
