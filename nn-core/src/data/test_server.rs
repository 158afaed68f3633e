//! Test helper: a tiny HTTP server on 127.0.0.1 that serves a fixed set of replies, counts
//! requests, and stops by itself.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// 200 announcing the full length, then one byte per `every`: a server too slow to finish
    /// that never stalls long enough for a read timeout.
    Trickle { body: Vec<u8>, every: Duration },
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
                        serve(stream, &routes, &log);
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
        Server::replying(files, max_requests, |body| Reply::Ok(body.to_vec()))
    }

    /// Answers `/<name>` for each of `files` with the reply `reply` makes of that file's body.
    pub fn replying(
        files: &[(String, Vec<u8>)],
        max_requests: usize,
        reply: impl Fn(&[u8]) -> Reply,
    ) -> Server {
        let routes = files
            .iter()
            .map(|(name, body)| (format!("/{name}"), reply(body)))
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

/// Reads one request, logs its path, answers it, closes the connection.
fn serve(mut stream: TcpStream, routes: &HashMap<String, Reply>, log: &Mutex<Vec<String>>) -> Option<()> {
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
    // Logged on arrival, so a test sees a request the server is still (slowly) answering.
    log.lock().unwrap().push(path.clone());
    let reply = routes.get(&path).cloned().unwrap_or(Reply::Status(404));
    if let Reply::Hang(pause) = reply {
        std::thread::sleep(pause);
        return Some(());
    }
    if let Reply::Trickle { body, every } = reply {
        let header = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = stream.write_all(header.as_bytes());
        // Until the client hangs up (the write then fails) or the body is done.
        for byte in body {
            std::thread::sleep(every);
            if stream.write_all(&[byte]).and_then(|()| stream.flush()).is_err() {
                break;
            }
        }
        return Some(());
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
        Reply::Hang(_) | Reply::Trickle { .. } => unreachable!("answered above"),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes());
    let _ = stream.write_all(&body[..sent]);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Some(())
}
