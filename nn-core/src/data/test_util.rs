//! Test helpers: a temporary directory, synthetic MNIST files, and a tiny HTTP server on
//! 127.0.0.1 that serves a fixed set of replies, counts requests, and stops by itself.

use super::idx;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("nn-data-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The names of the files in the directory, sorted (hidden temporary files included).
    pub fn files(&self) -> Vec<String> {
        files_in(&self.0)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sorted names of the entries of `dir` (empty if it does not exist).
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

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

/// What the server answers for one path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this body.
    Ok(Vec<u8>),
    /// This status with a small HTML body (like a real error page).
    Status(u16),
    /// 200 announcing the full length but closing after `sent` bytes.
    CutShort { body: Vec<u8>, sent: usize },
    /// Read the request, then say nothing for this long and close: a stalled server.
    Hang(Duration),
}

/// An HTTP/1.1 server on 127.0.0.1 serving `routes` (unknown paths get 404). It answers at most
/// `max_requests` requests and stops after that, after 30 s, or when dropped.
pub struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(routes: HashMap<String, Reply>, max_requests: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (requests.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut served = 0;
            while served < max_requests && !halt.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        if let Some(path) = serve(stream, &routes) {
                            log.lock().unwrap().push(path);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Server {
            port,
            requests,
            stop,
            handle: Some(handle),
        }
    }

    /// Serves `files` at `/<name>`.
    pub fn serving(files: &[(String, Vec<u8>)], max_requests: usize) -> Server {
        let routes = files
            .iter()
            .map(|(name, body)| (format!("/{name}"), Reply::Ok(body.clone())))
            .collect();
        Server::start(routes, max_requests)
    }

    /// The base URL to use as a mirror.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A base URL on which nothing listens: connecting is refused.
pub fn refused_base() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}

/// Reads one request, answers it, closes the connection. Returns the requested path.
fn serve(mut stream: TcpStream, routes: &HashMap<String, Reply>) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split_whitespace().nth(1)?.to_string();
    let reply = routes.get(&path).cloned().unwrap_or(Reply::Status(404));
    if let Reply::Hang(pause) = reply {
        std::thread::sleep(pause);
        return Some(path);
    }
    let (status, body, sent) = match reply {
        Reply::Ok(body) => {
            let n = body.len();
            ("200 OK".to_string(), body, n)
        }
        Reply::Status(code) => {
            let page = format!("<html><body>{code}</body></html>").into_bytes();
            let n = page.len();
            (format!("{code} Error"), page, n)
        }
        Reply::CutShort { body, sent } => ("200 OK".to_string(), body, sent),
        Reply::Hang(_) => unreachable!("answered above"),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes());
    let _ = stream.write_all(&body[..sent]);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Some(path)
}
