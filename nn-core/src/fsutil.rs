//! Writing files so that a crash or a full disk never leaves a half-written file under the final
//! name: write a temporary file in the same directory, flush it to disk, then rename it into place.
//!
//! A temporary file is named `.NAME.tmp-PID-N` beside `NAME` (hidden, and unique per process and
//! write). A writer that is killed cannot remove its own, so every new temporary file for `NAME`
//! first removes those of `NAME` whose writer is gone: on Linux, a PID with no `/proc/PID`;
//! elsewhere (or without `/proc`), a file untouched for [`STALE_AFTER`]. A PID that another
//! machine or PID namespace wrote into a shared directory may look dead here; its writer's
//! rename then fails with an error naming the file, and the target is never corrupted.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Distinguishes temporary files of concurrent writers within one process; the process id
/// distinguishes processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `path` atomically: `write` fills a buffered temporary file in the same directory, which
/// is then flushed, synced to disk and renamed over `path`. Readers see either the old file or the
/// complete new one, never a prefix; on any error the temporary file is removed and `path` is
/// left as it was.
///
/// The parent directory must exist (create it with `std::fs::create_dir_all` first): creating it
/// silently would hide a mistyped output path.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nn-doc-atomic-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// use std::io::Write;
/// let path = dir.join("hello.txt");
/// nn_core::fsutil::atomic_write(&path, |w| writeln!(w, "hello")).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn atomic_write(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let (temp, file) =
        TempFile::beside(path).map_err(|e| Error::io("creating a temporary file for", path, e))?;
    fill_and_sync(file, write).map_err(|e| Error::io("writing", path, e))?;
    // On an error above, dropping `temp` removes the incomplete write nobody will ever read.
    temp.persist(path)
        .map_err(|e| Error::io("renaming into place", path, e))?;
    sync_dir(path);
    Ok(())
}

/// Writes `bytes` to `path` atomically; see [`atomic_write`].
pub fn atomic_write_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    atomic_write(path, |w| w.write_all(bytes))
}

/// Makes sure `dir` is a directory that files can be written into, creating it and its parents
/// if needed. Call it before long work whose results go there: a mistyped or unwritable output
/// path then fails at once instead of after the work, whose results would be lost.
///
/// Fails, naming `dir`, if it exists but is not a directory, cannot be created, or refuses a
/// new file (checked by creating and removing an empty hidden file in it).
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nn-doc-outdir-{}", std::process::id()));
/// nn_core::fsutil::prepare_output_dir(dir.join("run1"))?;
/// assert!(dir.join("run1").is_dir());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nn_core::Error>(())
/// ```
pub fn prepare_output_dir(dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    if dir.exists() && !dir.is_dir() {
        return Err(Error::io(
            "using as output directory",
            dir,
            io::Error::new(
                io::ErrorKind::NotADirectory,
                "it is a file, not a directory; fix: name a directory (new or existing), or move \
                 the file away",
            ),
        ));
    }
    fs::create_dir_all(dir).map_err(|e| Error::io("creating output directory", dir, e))?;
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let probe = dir.join(format!(".nn-write-test-{}-{n}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| Error::io("creating a file in output directory", dir, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// A temporary file of a writer untouched for this long is taken to be a killed writer's, where
/// PIDs cannot be checked.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A file being written under a temporary name beside its destination; removed on drop unless
/// [`TempFile::persist`]ed, so an interrupted or rejected write never appears under the final name.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl TempFile {
    /// Creates `.NAME.tmp-PID-N` in `dest`'s directory (same directory, so that the final rename
    /// stays within one file system and is atomic), after removing the temporary files of
    /// `dest` whose writer is gone.
    pub fn beside(dest: &Path) -> io::Result<(TempFile, File)> {
        let file_name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file"))?;
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(file_name);
        prefix.push(".tmp-");
        remove_stale(dir, &prefix.to_string_lossy());
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut tmp_name = prefix.clone();
            tmp_name.push(format!("{}-{n}", std::process::id()));
            let path = dir.join(tmp_name);
            // create_new: never clobber a file we did not create (a stale temp of a crashed run with
            // the same pid and counter is skipped, not overwritten).
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((TempFile { path, kept: false }, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Where the file is now.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to `dest` (which should be the destination it was created beside).
    pub fn persist(mut self, dest: &Path) -> io::Result<()> {
        fs::rename(&self.path, dest)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: it may already be gone.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Removes the files in `dir` named `{prefix}{PID}-{N}` whose writer is gone. Best effort: a
/// file that cannot be read or removed is left for a later write.
fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(writer_pid)
        else {
            continue;
        };
        if writer_is_gone(pid, &entry) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The PID in a temporary name's `{PID}-{N}` tail, if it has that form.
fn writer_pid(tail: &str) -> Option<u32> {
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether the process that wrote a temporary file no longer runs (see the module docs).
fn writer_is_gone(pid: u32, entry: &fs::DirEntry) -> bool {
    if pid == std::process::id() {
        return false; // another write of this process, maybe on another thread
    }
    #[cfg(target_os = "linux")]
    if Path::new("/proc/self").exists() {
        return !Path::new(&format!("/proc/{pid}")).exists();
    }
    entry
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_AFTER))
}

fn fill_and_sync(file: File, write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 16, file);
    write(&mut w)?;
    let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    // Without this a power loss after the rename could leave the new name pointing at no data.
    file.sync_all()
}

/// Makes the rename itself durable by syncing the directory entry. Best effort: some platforms
/// and file systems cannot open or sync a directory, and the data is already safely written.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh, empty directory under the system temp dir, removed when dropped.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("nn-test-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
        pub(crate) fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
        /// The sorted names of the entries (hidden temporary files included).
        pub(crate) fn entries(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn writes_and_replaces_leaving_no_temporary_files() {
        let dir = TempDir::new("atomic");
        let path = dir.join("out.txt");
        atomic_write_bytes(&path, b"first").unwrap();
        atomic_write(&path, |w| w.write_all(b"second")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(dir.entries(), ["out.txt"]);
    }

    #[test]
    fn a_failing_writer_keeps_the_old_file_and_cleans_up() {
        let dir = TempDir::new("atomic-fail");
        let path = dir.join("out.txt");
        atomic_write_bytes(&path, b"old").unwrap();
        let err = atomic_write(&path, |w| {
            w.write_all(b"partial new content")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(err.to_string().contains("out.txt"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(dir.entries(), ["out.txt"]);
    }

    #[test]
    fn an_output_dir_is_created_and_a_file_in_its_place_is_an_error() {
        let dir = TempDir::new("outdir");
        let out = dir.join("a/b");
        prepare_output_dir(&out).unwrap();
        assert!(out.is_dir());
        assert!(
            fs::read_dir(&out).unwrap().next().is_none(),
            "the probe file is left behind"
        );
        prepare_output_dir(&out).unwrap();

        let file = dir.join("file.txt");
        atomic_write_bytes(&file, b"keep me").unwrap();
        let err = prepare_output_dir(&file).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("file.txt") && msg.contains("not a directory"),
            "{msg}"
        );
        assert_eq!(fs::read(&file).unwrap(), b"keep me");
        let err = prepare_output_dir(file.join("sub")).unwrap_err();
        assert!(err.to_string().contains("file.txt"), "{err}");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let dir = TempDir::new("atomic-missing");
        let path = dir.join("no/such/dir/out.txt");
        let err = atomic_write_bytes(&path, b"x").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no/such/dir/out.txt"), "{msg}");
        assert!(matches!(err, Error::Io { .. }));
    }

    #[test]
    fn a_save_removes_temporaries_of_dead_writers_and_keeps_live_ones() {
        let dir = TempDir::new("atomic-stale");
        let me = std::process::id();
        // Above Linux's largest pid_max (2^22), so no such process can exist.
        let dead = u32::MAX;
        let names = [
            format!(".out.txt.tmp-{dead}-7"),    // a killed save: removed
            format!(".out.txt.tmp-{dead}-8"),    // the same, two days old: removed everywhere
            format!(".out.txt.tmp-{me}-999999"), // ours (another thread's save): kept
            format!(".other.txt.tmp-{dead}-7"),  // another target's: left to its own saves
            ".out.txt.tmp-notapid".to_string(),  // not our naming: kept
            ".out.txt.tmp-1-5".to_string(),      // PID 1 always runs: kept
        ];
        for name in &names {
            fs::write(dir.join(name), b"partial").unwrap();
        }
        let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        File::options()
            .write(true)
            .open(dir.join(&names[1]))
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();

        atomic_write_bytes(dir.join("out.txt"), b"done").unwrap();
        let mut kept: Vec<String> = names[2..].to_vec();
        if !cfg!(target_os = "linux") {
            // Elsewhere only age tells: a fresh temporary of a dead writer waits its turn.
            kept.push(names[0].clone());
        }
        kept.push("out.txt".to_string());
        kept.sort();
        assert_eq!(dir.entries(), kept);
    }

    #[test]
    fn a_temp_file_is_removed_unless_persisted() {
        let dir = TempDir::new("tempfile");
        let (temp, mut f) = TempFile::beside(&dir.join("a.gz")).unwrap();
        f.write_all(b"x").unwrap();
        let path = temp.path().to_path_buf();
        assert!(path.exists());
        drop(temp);
        assert!(!path.exists());
        let (temp, _) = TempFile::beside(&dir.join("b.gz")).unwrap();
        temp.persist(&dir.join("b.gz")).unwrap();
        assert_eq!(dir.entries(), ["b.gz"]);
    }
}
