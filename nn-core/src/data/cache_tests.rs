//! Cache and download tests against a server on 127.0.0.1 (the `download` feature). Every
//! loader here has `.env(false)` so a developer's `MNIST_MIRROR` cannot change what is tested.

use super::test_server::{refused_base, Reply, Server};
use super::test_util::{raw_images, raw_labels, tiny_mnist};
use super::tests::{assert_tiny, malformed_cases, write_files, N_TEST, N_TRAIN};
use super::*;
use crate::error::Error;
use crate::fsutil::tests::TempDir;
use std::collections::HashMap;
use std::time::Duration;

fn loader() -> Loader<Mnist> {
    Mnist::loader()
        .env(false)
        .progress(false)
        .timeouts(Duration::from_secs(5), Duration::from_secs(5))
}

/// Digests pinned to the files actually served.
fn digests_of(files: &[(String, Vec<u8>)]) -> Digests {
    let e = |i: usize| Some(Expected::of(&files[i].1));
    Digests {
        train_images: e(0),
        train_labels: e(1),
        test_images: e(2),
        test_labels: e(3),
    }
}

/// Loads `files` with `loader` from `slow`, then from a mirror that serves them all; checks that
/// the second mirror served all four files, and returns how long the load took.
fn load_past_slow_mirror(
    loader: Loader<Mnist>,
    slow: &Server,
    files: &[(String, Vec<u8>)],
    cache_name: &str,
) -> Duration {
    let good = Server::serving(files, 8);
    let cache = TempDir::new(cache_name);
    let started = std::time::Instant::now();
    let m = loader
        .cache_dir(cache.path())
        .mirrors([slow.base(), good.base()])
        .digests(digests_of(files))
        .load()
        .unwrap();
    let elapsed = started.elapsed();
    assert_tiny(&m);
    assert_eq!(good.requests().len(), 4);
    elapsed
}

#[test]
fn malformed_downloads_are_rejected_and_leave_no_cached_file() {
    for (case, which, bytes, is_right) in malformed_cases() {
        let mut files = tiny_mnist(N_TRAIN, N_TEST);
        files[which].1 = bytes;
        let server = Server::serving(&files, 8);
        let cache = TempDir::new("dl-bad");
        // Digests pinned to the bad file: only content validation can reject it.
        let err = loader()
            .cache_dir(cache.path())
            .mirrors([server.base()])
            .digests(digests_of(&files))
            .load();
        match err {
            Err(Error::Data(DataError::DownloadFailed(failure))) => {
                let DownloadFailure { attempts, file, .. } = *failure;
                assert_eq!(file, files[which].0, "{case}");
                assert_eq!(attempts.len(), 1, "{case}");
                match &attempts[0].reason {
                    FailReason::Malformed(problem) => assert!(is_right(problem), "{case}: {problem}"),
                    other => panic!("{case}: expected Malformed, got {other}"),
                }
            }
            other => panic!("{case}: expected DownloadFailed, got {other:?}"),
        }
        assert_eq!(
            cache.entries(),
            Vec::<String>::new(),
            "{case}: files left in the cache"
        );
    }
    // A pair that disagrees is caught after both downloads, before either is renamed into place.
    let mut files = tiny_mnist(N_TRAIN, N_TEST);
    files[3].1 = idx::gzip(&raw_labels(N_TEST + 1, 2));
    let server = Server::serving(&files, 8);
    let cache = TempDir::new("dl-count");
    let err = loader()
        .cache_dir(cache.path())
        .mirrors([server.base()])
        .verify(false)
        .load()
        .unwrap_err();
    assert!(
        matches!(err, Error::Data(DataError::CountMismatch { .. })),
        "{err}"
    );
    assert_eq!(cache.entries(), Vec::<String>::new());
}

#[test]
fn download_then_reuse_the_cache_without_requests() {
    let files = tiny_mnist(N_TRAIN, N_TEST);
    let server = Server::serving(&files, 8);
    let cache = TempDir::new("dl-ok");
    let load = || {
        loader()
            .cache_dir(cache.path())
            .mirrors([server.base()])
            .digests(digests_of(&files))
            .load()
    };
    // A download that was killed left its temporary file: the next download removes it.
    let killed = cache.join(&format!(".{}.tmp-{}-0", files[0].0, u32::MAX));
    std::fs::write(&killed, b"half a file").unwrap();
    let first = load().unwrap();
    assert_tiny(&first);
    assert_eq!(server.requests().len(), 4);
    let mut names: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    names.sort();
    assert_eq!(
        cache.entries(),
        names,
        "exactly the four files, no temporary left"
    );
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(cache.path().join(name)).unwrap(), bytes);
    }
    let second = load().unwrap();
    assert_eq!(server.requests().len(), 4, "the second load must not download");
    assert_eq!(first.train, second.train);
    // Without download, the verified cache is enough.
    loader()
        .cache_dir(cache.path())
        .digests(digests_of(&files))
        .download(false)
        .load()
        .unwrap();
}

#[test]
fn cached_file_that_does_not_verify_is_downloaded_again() {
    let files = tiny_mnist(N_TRAIN, N_TEST);
    let cache = TempDir::new("dl-stale");
    write_files(cache.path(), &files);
    // A valid IDX file, but not the one the digest names: must not be trusted.
    std::fs::write(cache.path().join(&files[2].0), idx::gzip(&raw_images(N_TEST, 9))).unwrap();
    let offline = loader()
        .cache_dir(cache.path())
        .digests(digests_of(&files))
        .download(false)
        .load();
    let msg = offline.unwrap_err().to_string();
    assert!(
        msg.contains("t10k-images-idx3-ubyte.gz") && msg.contains("failed verification"),
        "{msg}"
    );
    let server = Server::serving(&files, 8);
    let m = loader()
        .cache_dir(cache.path())
        .mirrors([server.base()])
        .digests(digests_of(&files))
        .load()
        .unwrap();
    assert_eq!(server.requests(), vec!["/t10k-images-idx3-ubyte.gz".to_string()]);
    assert_eq!(std::fs::read(cache.path().join(&files[2].0)).unwrap(), files[2].1);
    assert_tiny(&m);
}

#[test]
fn digest_mismatch_is_rejected_with_both_digests() {
    let files = tiny_mnist(N_TRAIN, N_TEST);
    let server = Server::serving(&files, 8);
    let cache = TempDir::new("dl-digest");
    let mut digests = digests_of(&files);
    let wrong = "ab".repeat(32);
    digests.train_images = Some(Expected::new(files[0].1.len() as u64, &wrong));
    let err = loader()
        .cache_dir(cache.path())
        .mirrors([server.base()])
        .digests(digests)
        .load()
        .unwrap_err();
    let msg = err.to_string();
    let actual = download::sha256_hex(&files[0].1);
    assert!(msg.contains(&wrong) && msg.contains(&actual), "{msg}");
    assert!(
        msg.contains("train-images-idx3-ubyte.gz") && msg.contains(&server.base()),
        "{msg}"
    );
    assert!(msg.contains("MNIST_DIR") && msg.contains("MNIST_MIRROR"), "{msg}");
    assert_eq!(cache.entries(), Vec::<String>::new());

    // The published digests reject these synthetic files (by their announced size, before
    // downloading them).
    let err = loader()
        .cache_dir(cache.path())
        .mirrors([server.base()])
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected 9912422"), "{err}");
    assert_eq!(cache.entries(), Vec::<String>::new());
}

#[test]
fn failing_mirrors_fall_through_to_the_next() {
    let files = tiny_mnist(N_TRAIN, N_TEST);
    let good = Server::serving(&files, 8);
    // 404 for everything.
    let missing = Server::start(HashMap::new(), 8);
    // Every body cut short halfway.
    let cut = Server::replying(&files, 8, |body| Reply::CutShort {
        body: body.to_vec(),
        sent: body.len() / 2,
    });
    // A wrong file of the right size (digest mismatch) also moves on to the next mirror.
    let flipped: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, b)| {
            let mut b = b.clone();
            b[20] ^= 1;
            (n.clone(), b)
        })
        .collect();
    let wrong = Server::serving(&flipped, 8);
    let cache = TempDir::new("dl-fallthrough");
    let mirrors = [
        refused_base(),
        missing.base(),
        cut.base(),
        wrong.base(),
        good.base(),
    ];
    let m = loader()
        .cache_dir(cache.path())
        .mirrors(mirrors.clone())
        .digests(digests_of(&files))
        .load()
        .unwrap();
    assert_tiny(&m);
    assert_eq!(missing.requests().len(), 4);
    assert_eq!(cut.requests().len(), 4);
    assert_eq!(wrong.requests().len(), 4);
    assert_eq!(good.requests().len(), 4);
    assert_eq!(cache.entries().len(), 4);

    // When all fail, one error lists every mirror and why.
    let cache = TempDir::new("dl-allfail");
    let err = loader()
        .cache_dir(cache.path())
        .mirrors(mirrors[..4].to_vec())
        .digests(digests_of(&files))
        .load()
        .unwrap_err();
    let Error::Data(DataError::DownloadFailed(failure)) = &err else {
        panic!("{err}")
    };
    let attempts = &failure.attempts;
    assert!(
        matches!(attempts[0].reason, FailReason::Request(_)),
        "{}",
        attempts[0].reason
    );
    assert!(
        matches!(attempts[1].reason, FailReason::Status { code: 404, .. }),
        "{}",
        attempts[1].reason
    );
    assert!(
        matches!(attempts[2].reason, FailReason::Body(_)),
        "{}",
        attempts[2].reason
    );
    assert!(
        matches!(attempts[3].reason, FailReason::Digest { .. }),
        "{}",
        attempts[3].reason
    );
    let msg = err.to_string();
    for m in &mirrors[..4] {
        assert!(msg.contains(m.as_str()), "{m} missing from: {msg}");
    }
    assert_eq!(cache.entries(), Vec::<String>::new());
}

#[test]
fn a_stalled_mirror_times_out_and_the_next_one_is_used() {
    let files = tiny_mnist(N_TRAIN, N_TEST);
    // Silent for 3 s per request: only the read timeout can make the loader move on sooner.
    let hang = Server::replying(&files, 4, |_| Reply::Hang(Duration::from_secs(3)));
    let within_timeout = loader().timeouts(Duration::from_secs(2), Duration::from_millis(250));
    let elapsed = load_past_slow_mirror(within_timeout, &hang, &files, "dl-timeout");
    // One timeout of 0.25 s, not a 3 s stall, and the stalled mirror is not asked again.
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert_eq!(hang.requests().len(), 1);
}

#[test]
fn env_vars_name_the_cache_and_mirror_unless_the_api_does() {
    let env: HashMap<String, String> = [
        ("MNIST_DIR", "/env/mnist"),
        ("FASHION_MNIST_DIR", ""),
        ("NN_CACHE_DIR", "/env/cache"),
        ("MNIST_MIRROR", "http://env-mirror/"),
        ("FASHION_MNIST_MIRROR", "http://env-fashion/"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut m = Mnist::loader();
    m.fake_env = Some(env.clone());
    assert_eq!(m.resolved_local_dir(), Some("/env/mnist".into()));
    assert_eq!(
        m.resolved_cache_dir(),
        std::path::PathBuf::from("/env/cache/MNIST")
    );
    assert_eq!(m.resolved_mirrors(), vec!["http://env-mirror/".to_string()]);
    let m = m
        .local_dir("/api/dir")
        .cache_dir("/api/cache")
        .mirrors(["http://api/"]);
    assert_eq!(m.resolved_local_dir(), Some("/api/dir".into()));
    assert_eq!(m.resolved_cache_dir(), std::path::PathBuf::from("/api/cache"));
    assert_eq!(m.resolved_mirrors(), vec!["http://api/".to_string()]);

    let mut f = FashionMnist::loader();
    f.fake_env = Some(env);
    assert_eq!(f.resolved_local_dir(), None, "an empty variable counts as unset");
    assert_eq!(
        f.resolved_cache_dir(),
        std::path::PathBuf::from("/env/cache/FashionMNIST")
    );
    assert_eq!(f.resolved_mirrors(), vec!["http://env-fashion/".to_string()]);

    let mut off = Mnist::loader().env(false);
    off.fake_env = f.fake_env.clone();
    assert_eq!(off.resolved_local_dir(), None);
    assert_eq!(off.resolved_cache_dir(), std::path::PathBuf::from("data/MNIST"));
    assert_eq!(off.resolved_mirrors(), MNIST.mirrors);
    assert_eq!(
        FashionMnist::loader().env(false).resolved_mirrors(),
        FASHION_MNIST.mirrors
    );
}

#[test]
fn a_trickling_mirror_hits_the_deadline_and_is_skipped_for_the_other_files() {
    let files = tiny_mnist(N_TRAIN, N_TEST);
    // One byte every 0.7 s never trips the 2 s read timeout; only a deadline per file stops it.
    let trickle = Server::replying(&files, 4, |body| Reply::Trickle {
        body: body.to_vec(),
        every: Duration::from_millis(700),
    });
    let within_deadline = loader()
        .timeouts(Duration::from_secs(2), Duration::from_secs(2))
        .deadline(Duration::from_secs(1));
    let elapsed = load_past_slow_mirror(within_deadline, &trickle, &files, "dl-deadline");
    assert_eq!(
        trickle.requests().len(),
        1,
        "a mirror that timed out is not asked again"
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");

    // A skipped mirror is listed, with the reason it was given up on.
    let first_only = Server::serving(&files[..1], 8);
    let cache = TempDir::new("dl-skipped");
    let err = loader()
        .timeouts(Duration::from_secs(2), Duration::from_secs(2))
        .deadline(Duration::from_millis(500))
        .cache_dir(cache.path())
        .mirrors([refused_base(), first_only.base()])
        .digests(digests_of(&files))
        .load()
        .unwrap_err();
    let Error::Data(DataError::DownloadFailed(failure)) = &err else {
        panic!("{err}")
    };
    assert_eq!(failure.file, files[1].0);
    let reasons: Vec<_> = failure.attempts.iter().map(|a| &a.reason).collect();
    assert!(matches!(reasons[0], FailReason::Skipped { .. }), "{err}");
    assert!(
        matches!(reasons[1], FailReason::Status { code: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("earlier file"), "{err}");
}

#[test]
fn a_directory_in_the_cache_where_a_file_belongs_is_reported_as_such() {
    let files = tiny_mnist(N_TRAIN, N_TEST);
    let cache = TempDir::new("cache-dir-as-file");
    std::fs::create_dir(cache.join(&files[0].0)).unwrap();
    let err = loader()
        .cache_dir(cache.path())
        .mirrors([refused_base()])
        .digests(digests_of(&files))
        .load()
        .unwrap_err();
    assert!(matches!(err, Error::Data(DataError::NotAFile { .. })), "{err}");
    assert!(err.to_string().contains("is a directory"), "{err}");
}
