//! Loader tests without network: local directories, validation against the spec, env vars.
//! Every loader here has `.env(false)` so a developer's `MNIST_DIR` cannot change what is tested.

use super::test_util::{raw_images, raw_labels, tiny_mnist};
use super::*;
use crate::error::Error;
use crate::fsutil::tests::TempDir;
use std::collections::HashMap;

pub(super) const N_TRAIN: usize = 20;
pub(super) const N_TEST: usize = 7;

fn loader() -> Loader<Mnist> {
    Mnist::loader().env(false)
}

pub(super) fn write_files(dir: &std::path::Path, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

pub(super) fn assert_tiny(m: &Mnist) {
    assert_eq!((m.train.len(), m.test.len()), (N_TRAIN, N_TEST));
    assert_eq!(m.train.feature_shape(), &[784]);
    assert_eq!(m.train.classes(), Some(10));
    let expect_px = &raw_images(N_TRAIN, 1)[16..];
    assert_eq!(m.train.pixels().unwrap(), expect_px);
    let expect_labels: Vec<usize> = raw_labels(N_TEST, 2)[8..].iter().map(|&l| l as usize).collect();
    assert_eq!(m.test.labels().unwrap(), &expect_labels[..]);
}

#[test]
fn local_dir_gz_and_raw_round_trip() {
    let gz = TempDir::new("local-gz");
    write_files(gz.path(), &tiny_mnist(N_TRAIN, N_TEST));
    assert_tiny(&loader().local_dir(gz.path()).load().unwrap());

    // Raw (unzipped) files, one of them in the "train-images.idx3-ubyte" spelling.
    let raw = TempDir::new("local-raw");
    std::fs::write(raw.path().join("train-images.idx3-ubyte"), raw_images(N_TRAIN, 1)).unwrap();
    std::fs::write(raw.path().join("train-labels-idx1-ubyte"), raw_labels(N_TRAIN, 1)).unwrap();
    std::fs::write(raw.path().join("t10k-images-idx3-ubyte"), raw_images(N_TEST, 2)).unwrap();
    std::fs::write(raw.path().join("t10k-labels-idx1-ubyte"), raw_labels(N_TEST, 2)).unwrap();
    let m = loader().local_dir(raw.path()).load().unwrap();
    assert_tiny(&m);
    // Batches hand pixels out divided by 255.
    let mut it = m.train.batches_in_order(3);
    let b = it.next_batch().unwrap().unwrap();
    assert_eq!(b.inputs.shape(), &[3, 784]);
    assert_eq!(
        b.inputs[[1, 5]],
        f32::from(raw_images(N_TRAIN, 1)[16 + 784 + 5]) / 255.0
    );
}

#[test]
fn local_dir_missing_file_names_it_and_the_env_var() {
    let dir = TempDir::new("local-missing");
    let files = tiny_mnist(N_TRAIN, N_TEST);
    write_files(dir.path(), &files[..3]);
    let err = loader().local_dir(dir.path()).load().unwrap_err();
    assert!(matches!(err, Error::Data(DataError::MissingFile { .. })), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("t10k-labels-idx1-ubyte.gz") && msg.contains("MNIST_DIR"),
        "{msg}"
    );
}

/// The malformed cases of the issue, each as a replacement for one of the four files, with a check
/// of the problem it must be reported as.
/// (case name, which of the four files it replaces, its bytes, the check of the reported problem)
pub(super) type Case = (&'static str, usize, Vec<u8>, fn(&IdxError) -> bool);

pub(super) fn malformed_cases() -> Vec<Case> {
    let good_images = raw_images(N_TRAIN, 1);
    let mut corrupt = idx::gzip(&good_images);
    let mid = corrupt.len() / 2;
    corrupt[mid..mid + 16].iter_mut().for_each(|b| *b ^= 0xa5);
    let mut huge = idx::encode(&[1_000_000, 28, 28], &[7u8; 1008]);
    huge.truncate(1024);
    let over_limit = idx::encode(&[1 << 31, 28, 28], &[7u8; 1008]);
    vec![
        ("wrong magic", 1, idx::gzip(&raw_images(N_TRAIN, 1)), |e| {
            matches!(e, IdxError::BadMagic { .. })
        }),
        (
            "truncated payload",
            0,
            idx::gzip(&good_images[..good_images.len() - 100]),
            |e| matches!(e, IdxError::Truncated { .. }),
        ),
        (
            "a million images in 1 kB",
            0,
            idx::gzip(&huge),
            |e| matches!(e, IdxError::Truncated { expected, .. } if *expected == 1_000_000 * 784),
        ),
        (
            "2^31 images: over the size limit",
            2,
            idx::gzip(&over_limit),
            |e| matches!(e, IdxError::TooLarge { .. }),
        ),
        ("corrupt gzip", 0, corrupt, |e| matches!(e, IdxError::Gzip(_))),
        ("empty file", 3, Vec::new(), |e| matches!(e, IdxError::Empty)),
        (
            "wrong image size",
            2,
            idx::gzip(&idx::encode(&[N_TEST, 27, 29], &vec![0; N_TEST * 27 * 29])),
            |e| matches!(e, IdxError::ImageSize { found: [27, 29], .. }),
        ),
        (
            "label out of range",
            3,
            idx::gzip(&idx::encode(&[N_TEST], &[1, 2, 3, 10, 0, 0, 0])),
            |e| {
                matches!(
                    e,
                    IdxError::LabelOutOfRange {
                        index: 3,
                        label: 10,
                        ..
                    }
                )
            },
        ),
    ]
}

#[test]
fn malformed_local_files_give_typed_errors_naming_the_file() {
    for (case, which, bytes, is_right) in malformed_cases() {
        let dir = TempDir::new("local-bad");
        let mut files = tiny_mnist(N_TRAIN, N_TEST);
        files[which].1 = bytes;
        write_files(dir.path(), &files);
        match loader().local_dir(dir.path()).load() {
            Err(Error::Data(DataError::Malformed { path, problem, .. })) => {
                assert!(is_right(&problem), "{case}: wrong problem: {problem}");
                assert_eq!(path, dir.path().join(&files[which].0), "{case}");
            }
            other => panic!("{case}: expected Malformed, got {other:?}"),
        }
        let msg = loader().local_dir(dir.path()).load().unwrap_err().to_string();
        assert!(
            msg.contains(&files[which].0) && msg.contains("fix:"),
            "{case}: {msg}"
        );
    }
}

#[test]
fn count_mismatch_between_images_and_labels() {
    let dir = TempDir::new("local-count");
    let mut files = tiny_mnist(N_TRAIN, N_TEST);
    files[1].1 = idx::gzip(&raw_labels(N_TRAIN - 1, 1));
    write_files(dir.path(), &files);
    let err = loader().local_dir(dir.path()).load().unwrap_err();
    assert!(
        matches!(err, Error::Data(DataError::CountMismatch { n_images: N_TRAIN, n_labels, .. }) if n_labels == N_TRAIN - 1),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("20 images") && msg.contains("19 labels"), "{msg}");
}

#[test]
fn env_vars_name_the_local_dir_unless_the_api_does() {
    let env: HashMap<String, String> = [("MNIST_DIR", "/env/mnist"), ("FASHION_MNIST_DIR", "")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut m = Mnist::loader();
    m.fake_env = Some(env.clone());
    assert_eq!(m.resolved_local_dir(), Some("/env/mnist".into()));
    let m = m.local_dir("/api/dir");
    assert_eq!(m.resolved_local_dir(), Some("/api/dir".into()));
    let mut f = FashionMnist::loader();
    f.fake_env = Some(env.clone());
    assert_eq!(f.resolved_local_dir(), None, "an empty variable counts as unset");
    let mut off = Mnist::loader().env(false);
    off.fake_env = Some(env);
    assert_eq!(off.resolved_local_dir(), None);
}

/// Without the `download` feature there is no cache to fall back on: the error says so.
#[cfg(not(feature = "download"))]
#[test]
fn without_the_download_feature_no_local_dir_is_an_error_saying_so() {
    let err = loader().load().unwrap_err();
    assert!(
        matches!(err, Error::Data(DataError::DownloadNotBuilt { .. })),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`download` feature") && msg.contains("MNIST_DIR="),
        "{msg}"
    );
}

/// The loader is generic: a dataset with other files, image shape and class count loads through
/// its own spec, and the shape read from each header is checked against it.
#[test]
fn a_custom_spec_sets_files_shape_and_classes() {
    #[derive(Debug)]
    struct Tiny {
        train: Dataset,
        test: Dataset,
    }
    const TINY: Spec = Spec {
        name: "Tiny",
        files: ["a-img", "a-lab", "b-img", "b-lab"],
        image_shape: [4, 3],
        classes: 3,
        dir_env: "TINY_DIR",
        cache_subdir: "Tiny",
        mirror_env: "TINY_MIRROR",
        mirrors: &[],
        digests: [(0, ""); 4],
    };
    impl IdxDataset for Tiny {
        const SPEC: &'static Spec = &TINY;
        fn from_parts(train: Dataset, test: Dataset) -> Self {
            Tiny { train, test }
        }
    }
    let dir = TempDir::new("custom-spec");
    let images = |n: usize, rows: usize| idx::encode(&[n, rows, 3], &vec![9; n * rows * 3]);
    let write = |imgs: Vec<u8>, labels: &[u8]| {
        std::fs::write(dir.join("a-img"), &imgs).unwrap();
        std::fs::write(dir.join("a-lab"), idx::encode(&[labels.len()], labels)).unwrap();
        std::fs::write(dir.join("b-img"), images(1, 4)).unwrap();
        std::fs::write(dir.join("b-lab"), idx::encode(&[1], &[0])).unwrap();
    };
    write(images(2, 4), &[2, 1]);
    let t = Loader::<Tiny>::new()
        .env(false)
        .local_dir(dir.path())
        .load()
        .unwrap();
    assert_eq!((t.train.len(), t.test.len()), (2, 1));
    assert_eq!(t.train.feature_shape(), &[12]);
    assert_eq!(t.train.classes(), Some(3));

    write(images(2, 5), &[2, 1]);
    let err = Loader::<Tiny>::new()
        .env(false)
        .local_dir(dir.path())
        .load()
        .unwrap_err();
    assert!(
        err.to_string().contains("expected 4x3 pixels, found 5x3"),
        "{err}"
    );
    write(images(2, 4), &[3, 1]);
    let err = Loader::<Tiny>::new()
        .env(false)
        .local_dir(dir.path())
        .load()
        .unwrap_err();
    assert!(err.to_string().contains("label 3 at position 0"), "{err}");
}

#[test]
fn fashion_mnist_loads_the_same_format() {
    let dir = TempDir::new("fashion");
    write_files(dir.path(), &tiny_mnist(N_TRAIN, N_TEST));
    let f = FashionMnist::loader()
        .env(false)
        .local_dir(dir.path())
        .load()
        .unwrap();
    assert_eq!((f.train.len(), f.test.len()), (N_TRAIN, N_TEST));
    assert_eq!(FashionMnist::CLASS_NAMES[9], "Ankle boot");
}

#[test]
fn errors_chain_to_their_cause_and_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<DataError>();
    let dir = TempDir::new("source-chain");
    let mut files = tiny_mnist(N_TRAIN, N_TEST);
    let mid = files[0].1.len() / 2;
    files[0].1[mid..mid + 16].iter_mut().for_each(|b| *b ^= 0xa5);
    write_files(dir.path(), &files);
    let err = loader().local_dir(dir.path()).load().unwrap_err();
    // Error -> DataError (transparent) -> IdxError -> the gzip layer's io::Error.
    let idx = std::error::Error::source(&err).expect("a source");
    assert!(idx.downcast_ref::<IdxError>().is_some(), "{idx}");
    let io = idx.source().expect("the gzip error");
    assert!(io.downcast_ref::<std::io::Error>().is_some(), "{io}");
    assert!(err.to_string().contains(&io.to_string()), "{err}");
}

#[test]
fn a_directory_where_a_file_belongs_is_reported_as_such() {
    let dir = TempDir::new("local-dir-as-file");
    let files = tiny_mnist(N_TRAIN, N_TEST);
    write_files(dir.path(), &files[1..]);
    std::fs::create_dir(dir.join(&files[0].0)).unwrap();
    let err = loader().local_dir(dir.path()).load().unwrap_err();
    assert!(matches!(err, Error::Data(DataError::NotAFile { .. })), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("train-images-idx3-ubyte.gz") && msg.contains("is a directory"),
        "{msg}"
    );

    // The local directory itself missing, or a file.
    for missing in [dir.join("no-such-dir"), dir.join(&files[1].0)] {
        let err = loader().local_dir(&missing).load().unwrap_err();
        assert!(matches!(err, Error::Data(DataError::NoLocalDir { .. })), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&*missing.to_string_lossy()) && msg.contains("not a directory"),
            "{msg}"
        );
    }
}

#[test]
fn the_bundled_subset_is_real_mnist_with_every_class() {
    let m = Mnist::bundled().unwrap();
    assert_eq!((m.train.len(), m.test.len()), (8000, 2000));
    assert_eq!(m.train.feature_shape(), &[784]);
    for set in [&m.train, &m.test] {
        let mut counts = [0usize; 10];
        set.labels().unwrap().iter().for_each(|&l| counts[l] += 1);
        // Real digits: every class present in a share near a tenth.
        assert!(counts.iter().all(|&c| c * 20 > set.len()), "{counts:?}");
    }
    // Real handwriting: mostly black background with some ink, not noise.
    let px = m.train.pixels().unwrap();
    let ink = px.iter().filter(|&&p| p > 128).count() as f64 / px.len() as f64;
    assert!((0.05..0.3).contains(&ink), "ink share {ink}");
}

#[test]
fn only_data_that_cannot_be_had_counts_as_unavailable() {
    let dir = TempDir::new("unavailable");
    let err = loader().local_dir(dir.path().join("absent")).load().unwrap_err();
    match err {
        Error::Data(e) => assert!(!e.is_unavailable(), "a wrong local dir is the user's to fix: {e}"),
        other => panic!("{other}"),
    }
    let not_built = DataError::DownloadNotBuilt {
        dataset: "MNIST",
        dir_env: "MNIST_DIR",
    };
    assert!(not_built.is_unavailable());
}
