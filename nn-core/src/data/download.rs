//! Fetching one file from a list of mirrors into a verified temporary file.
//!
//! HTTP with timeouts and a User-Agent, the status checked, the body streamed to a temporary file
//! in the destination directory while it is kept for hashing, its size and SHA-256 verified, its
//! content validated by the caller, and only then renamed into place by the caller. Any failure
//! at one mirror moves on to the next; when all fail, every mirror's reason is returned together.
//! Compiled only with the `download` feature; the progress bar only with `progress` too.

use super::error::{FailReason, FetchError, MirrorFailure};
use super::idx::IdxError;
use crate::fsutil::TempFile;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

/// The User-Agent sent with every request: some servers refuse requests without one.
const USER_AGENT: &str = concat!("nn-core/", env!("CARGO_PKG_VERSION"), " (dataset download)");

/// The largest body accepted when no expected size is known (Fashion-MNIST's largest file is
/// 26 MB): a misconfigured mirror must not fill the disk.
const MAX_UNVERIFIED_BYTES: u64 = 512 << 20;

/// The size and SHA-256 a file must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256: String,
}

impl Expected {
    /// A file of `size` bytes whose SHA-256 is `sha256` (hex, any case).
    pub fn new(size: u64, sha256: &str) -> Self {
        Expected {
            size,
            sha256: sha256.to_ascii_lowercase(),
        }
    }

    /// The size and digest of `bytes`, e.g. to pin a file served by a custom mirror.
    pub fn of(bytes: &[u8]) -> Self {
        Expected {
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }

    /// Why `bytes` is not this file, or `None` if it is.
    pub(crate) fn check(&self, bytes: &[u8]) -> Option<FailReason> {
        let actual = sha256_hex(bytes);
        if bytes.len() as u64 != self.size || actual != self.sha256 {
            return Some(FailReason::Digest {
                expected: self.clone(),
                actual: Expected {
                    size: bytes.len() as u64,
                    sha256: actual,
                },
            });
        }
        None
    }
}

/// SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads files over HTTP(S) with one configured agent, remembering which mirrors are
/// unreachable.
pub struct Fetcher {
    agent: ureq::Agent,
    progress: bool,
    /// Mirrors that timed out or refused the connection, with why: skipped for later files, so
    /// that one dead mirror costs one timeout per load, not one per file.
    unreachable: Vec<(String, String)>,
}

impl Fetcher {
    /// A fetcher with the given connect and per-read timeouts and a `deadline` for each whole
    /// file (connecting, headers and body). `progress` draws a bar per file on stderr, and only
    /// when stderr is a terminal.
    pub fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
        deadline: Duration,
        progress: bool,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_per_read(Some(read_timeout))
            // Per request, body included: a server that trickles bytes just fast enough to
            // dodge the read timeout is still cut off.
            .timeout_global(Some(deadline))
            .user_agent(USER_AGENT)
            // Statuses are checked here, so that the reason names the code and the mirror.
            .http_status_as_error(false)
            .build()
            .new_agent();
        Fetcher {
            agent,
            progress,
            unreachable: Vec::new(),
        }
    }

    /// Tries `base + name` for each base in `mirrors`, in order, skipping those found unreachable
    /// for an earlier file. A body is streamed to a temporary file in `dir`, checked against
    /// `expected` (if any), then handed to `accept`, which validates the content. Returns the
    /// first file that passes, still under its temporary name, with what `accept` returned.
    pub fn fetch<T>(
        &mut self,
        mirrors: &[String],
        name: &str,
        dir: &Path,
        expected: Option<&Expected>,
        mut accept: impl FnMut(&[u8]) -> Result<T, IdxError>,
    ) -> Result<(TempFile, T), FetchError> {
        let mut failures = Vec::new();
        for base in mirrors {
            let url = join_url(base, name);
            if let Some((_, why)) = self.unreachable.iter().find(|(b, _)| b == base) {
                let earlier = why.clone();
                failures.push(MirrorFailure {
                    url,
                    reason: FailReason::Skipped { earlier },
                });
                continue;
            }
            match self.try_one(&url, name, dir, expected, &mut accept) {
                Ok(Ok(done)) => return Ok(done),
                Ok(Err(reason)) => {
                    if reason.is_unreachable() {
                        self.unreachable.push((base.clone(), reason.to_string()));
                    }
                    failures.push(MirrorFailure { url, reason });
                }
                Err(local) => return Err(local),
            }
        }
        Err(FetchError::AllFailed(failures))
    }

    /// One mirror. The outer error is local (abort), the inner one is the mirror's (try the next).
    fn try_one<T>(
        &self,
        url: &str,
        name: &str,
        dir: &Path,
        expected: Option<&Expected>,
        accept: &mut impl FnMut(&[u8]) -> Result<T, IdxError>,
    ) -> Result<Result<(TempFile, T), FailReason>, FetchError> {
        let response = match self.agent.get(url).call() {
            Ok(r) => r,
            Err(e) => return Ok(Err(FailReason::Request(e))),
        };
        let status = response.status();
        if status.as_u16() != 200 {
            let reason = status.canonical_reason().unwrap_or("").to_string();
            return Ok(Err(FailReason::Status {
                code: status.as_u16(),
                reason,
            }));
        }
        let announced = response.body().content_length();
        if let (Some(exp), Some(announced)) = (expected, announced) {
            if announced != exp.size {
                return Ok(Err(FailReason::AnnouncedSize {
                    expected: exp.size,
                    announced,
                }));
            }
        }
        // One byte past the expected size is enough to know the body is too long.
        let limit = expected.map_or(MAX_UNVERIFIED_BYTES, |e| e.size) + 1;

        let (temp, mut file) = TempFile::beside(&dir.join(name)).map_err(|source| FetchError::Local {
            path: dir.join(name),
            source,
        })?;
        let bar = self.bar(name, announced.or(expected.map(|e| e.size)));
        // A bar stays on screen only for a file that was accepted; failed attempts clear theirs.
        let reject = |reason| {
            bar.finish_and_clear();
            Ok(Err(reason))
        };
        let mut body = response.into_body().into_reader().take(limit);
        // Reserve by the trusted expected size only; a Content-Length is the server's claim.
        let mut bytes = Vec::with_capacity(expected.map_or(0, |e| e.size as usize));
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = match body.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return reject(FailReason::Body(e)),
            };
            file.write_all(&chunk[..n]).map_err(|source| FetchError::Local {
                path: temp.path().to_path_buf(),
                source,
            })?;
            bytes.extend_from_slice(&chunk[..n]);
            bar.inc(n as u64);
        }
        if expected.is_none() && bytes.len() as u64 > MAX_UNVERIFIED_BYTES {
            return Ok(Err(FailReason::TooLarge {
                limit: MAX_UNVERIFIED_BYTES,
            }));
        }
        if let Some(reason) = expected.and_then(|e| e.check(&bytes)) {
            return Ok(Err(reason));
        }
        // Flush to disk before the caller renames it into place: a crash must not leave a
        // trusted name pointing at a half-written file.
        file.sync_all().map_err(|source| FetchError::Local {
            path: temp.path().to_path_buf(),
            source,
        })?;
        drop(file);
        match accept(&bytes) {
            Ok(value) => {
                bar.finish();
                Ok(Ok((temp, value)))
            }
            Err(e) => reject(FailReason::Malformed(e)),
        }
    }

    fn bar(&self, name: &str, len: Option<u64>) -> Bar {
        Bar::new(self.progress, name, len)
    }
}

/// A download's progress bar on stderr (with the `progress` feature, and only on a terminal).
#[cfg(feature = "progress")]
struct Bar(indicatif::ProgressBar);

#[cfg(feature = "progress")]
impl Bar {
    fn new(show: bool, name: &str, len: Option<u64>) -> Self {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        use std::io::IsTerminal;
        if !show || !io::stderr().is_terminal() {
            return Bar(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:32} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {eta:>4}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(name.to_string());
        Bar(bar)
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish();
    }
    fn finish_and_clear(&self) {
        self.0.finish_and_clear();
    }
}

/// Without the `progress` feature there is nothing to draw.
#[cfg(not(feature = "progress"))]
struct Bar;

#[cfg(not(feature = "progress"))]
impl Bar {
    fn new(_show: bool, _name: &str, _len: Option<u64>) -> Self {
        Bar
    }
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
    fn finish_and_clear(&self) {}
}

/// `base` and `name` joined with exactly one slash.
pub fn join_url(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        // FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn expected_check_reports_both_digests() {
        let want = Expected::of(b"good file");
        assert!(want.check(b"good file").is_none());
        let msg = want.check(b"bad file").unwrap().to_string();
        assert!(
            msg.contains(&want.sha256) && msg.contains(&sha256_hex(b"bad file")),
            "{msg}"
        );
    }

    #[test]
    fn join_url_has_one_slash() {
        assert_eq!(join_url("http://a/b/", "f.gz"), "http://a/b/f.gz");
        assert_eq!(join_url("http://a/b", "f.gz"), "http://a/b/f.gz");
    }
}
