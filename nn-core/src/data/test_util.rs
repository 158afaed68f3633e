//! Test helpers: synthetic MNIST files.

use super::idx;

/// Raw IDX bytes of `n` 28x28 images whose pixels depend on the sample index and `seed`.
pub fn raw_images(n: usize, seed: u8) -> Vec<u8> {
    let px: Vec<u8> = (0..n * 784)
        .map(|k| ((k / 784) as u8).wrapping_mul(31).wrapping_add((k % 784) as u8) ^ seed)
        .collect();
    idx::encode(&[n, 28, 28], &px)
}

/// Raw IDX bytes of `n` labels `(i + seed) % 10`.
pub fn raw_labels(n: usize, seed: u8) -> Vec<u8> {
    let labels: Vec<u8> = (0..n).map(|i| ((i + seed as usize) % 10) as u8).collect();
    idx::encode(&[n], &labels)
}

/// The four files of a tiny MNIST (`n_train` and `n_test` samples), gzipped, by file name.
pub fn tiny_mnist(n_train: usize, n_test: usize) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "train-images-idx3-ubyte.gz".into(),
            idx::gzip(&raw_images(n_train, 1)),
        ),
        (
            "train-labels-idx1-ubyte.gz".into(),
            idx::gzip(&raw_labels(n_train, 1)),
        ),
        (
            "t10k-images-idx3-ubyte.gz".into(),
            idx::gzip(&raw_images(n_test, 2)),
        ),
        (
            "t10k-labels-idx1-ubyte.gz".into(),
            idx::gzip(&raw_labels(n_test, 2)),
        ),
    ]
}
