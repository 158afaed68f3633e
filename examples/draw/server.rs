//! The draw page's server: `GET /` serves the page, `POST /predict` turns a PNG drawing into
//! the 28x28 digit nn's MNIST preprocessing makes of it and the network's ten probabilities.
//! A request that fails in any way gets a JSON error, and the server goes on.

use super::http::{close, read_request, respond, Request, Response};
use crate::common::digits::probabilities;
use nn::vision::{decode_bytes, mnist_digit, Channels, Colour, DecodeOptions, Size, MAX_DIGIT_PICTURE};
use nn::Layer;
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// The page: one HTML file with its script and style inline, nothing fetched from elsewhere.
pub const PAGE: &str = include_str!("page.html");

/// A network that predicts drawn digits.
pub struct Predictor {
    pub net: Box<dyn Layer + Send>,
}

/// What one prediction found, and how long its steps took.
pub struct Prediction {
    /// The ten class probabilities.
    pub probabilities: Vec<f32>,
    /// The digit the network saw, 28 x 28 values in [0, 1] (white ink on black).
    pub digit: Vec<f32>,
    /// The drawing's width and height.
    pub size: (usize, usize),
    /// Milliseconds spent decoding the PNG, preprocessing, and in the network.
    pub times: [f64; 3],
}

impl Predictor {
    /// The digit and probabilities for a PNG drawing, or the response refusing it: 400 for data
    /// that is not a PNG image (or one beyond nn::vision's limits), 422 for a picture without a
    /// digit. Decoded as `nn::vision::read_mnist_digit` decodes files: grey, a large picture
    /// reduced while it is decoded.
    pub fn predict(&mut self, png: &[u8]) -> Result<Prediction, Response> {
        let t0 = Instant::now();
        let options = DecodeOptions::new(Colour::Grey).size(Size::Within(MAX_DIGIT_PICTURE));
        let picture = decode_bytes(png, &options).map_err(|e| Response::error(400, e.to_string()))?;
        let t1 = Instant::now();
        let digit = mnist_digit(picture.width, picture.height, Channels::Grey, &picture.pixels)
            .map_err(|e| Response::error(422, format!("no digit to read: {e}")))?;
        let t2 = Instant::now();
        let p = probabilities(&mut *self.net, &[digit]).map_err(|e| Response::error(500, e.to_string()))?;
        let t3 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        Ok(Prediction {
            probabilities: p.iter().copied().collect(),
            // As the network's input: pixels divided by 255 (nn::Dataset::from_u8).
            digit: digit.iter().map(|&v| f32::from(v) / 255.0).collect(),
            size: (picture.width, picture.height),
            times: [ms(t0, t1), ms(t1, t2), ms(t2, t3)],
        })
    }
}

/// The response to `request`, and a note for the log; `predict` answers `POST /predict`.
pub fn route(request: &Request, predict: impl FnOnce(&Request) -> (Response, String)) -> (Response, String) {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => (
            Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: PAGE.as_bytes().to_vec(),
            },
            String::new(),
        ),
        ("POST", "/predict") => predict(request),
        (_, "/" | "/predict") => (
            Response::error(405, "use GET / for the page and POST /predict for a prediction"),
            String::new(),
        ),
        _ => (Response::error(404, "not found: the page is at /"), String::new()),
    }
}

/// `POST /predict`: the prediction for a PNG body, or the refusal.
fn predict(request: &Request, predictor: &mut Predictor) -> (Response, String) {
    let content_type = request.content_type.as_deref().unwrap_or("none");
    if content_type.split(';').next().map(str::trim) != Some("image/png") {
        let message = format!("expected Content-Type: image/png, got {content_type}");
        return (Response::error(415, message), String::new());
    }
    match predictor.predict(&request.body) {
        Ok(p) => {
            let best = (0..p.probabilities.len())
                .max_by(|&a, &b| p.probabilities[a].total_cmp(&p.probabilities[b]))
                .unwrap_or(0);
            let [decode, preprocess, forward] = p.times;
            let note = format!(
                "{}x{} -> {best} (p={:.3}; decode {decode:.2} ms, preprocess {preprocess:.2} ms, \
                 network {forward:.2} ms)",
                p.size.0, p.size.1, p.probabilities[best]
            );
            let json = serde_json::json!({
                "probabilities": p.probabilities,
                "digit": p.digit,
                "predicted": best,
            });
            (Response::json(200, &json), note)
        }
        Err(refusal) => (refusal, String::new()),
    }
}

/// Connections served at once; more wait in the listener's backlog.
const MAX_CONNECTIONS: usize = 64;

/// The networks not in use: a request takes one, predicts on its own thread, and puts it back.
/// A network is used by one thread at a time, and no request waits for another thread to wake.
struct Pool {
    free: Mutex<Vec<Predictor>>,
    returned: Condvar,
}

impl Pool {
    /// Runs `f` with a free predictor, waiting for one if all are in use.
    fn with<T>(&self, f: impl FnOnce(&mut Predictor) -> T) -> T {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let mut predictor = loop {
            match free.pop() {
                Some(p) => break p,
                None => free = self.returned.wait(free).unwrap_or_else(|e| e.into_inner()),
            }
        };
        drop(free);
        // A panic inside (a bug in a layer) is caught by the caller; the predictor comes back
        // either way, as a forward in Eval mode leaves no half-done state behind.
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut predictor)));
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(predictor);
        self.returned.notify_one();
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Serves on `listener` with `predictors` networks (requests beyond that many wait for one),
/// logging each request with its time when `log` is set. Each connection is read by a thread
/// of its own (at most [`MAX_CONNECTIONS`]), so a slow or idle client holds up no one, and
/// predicts on that thread with a network from the pool. Returns the accepting thread, which
/// runs until the process ends.
pub fn spawn(listener: TcpListener, predictors: Vec<Predictor>, log: bool) -> JoinHandle<()> {
    let pool = Arc::new(Pool {
        free: Mutex::new(predictors),
        returned: Condvar::new(),
    });
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::SeqCst);
                continue; // dropped: the client sees the connection closed
            }
            let (pool, open) = (Arc::clone(&pool), Arc::clone(&open));
            std::thread::spawn(move || {
                connection(stream, &pool, log);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    })
}

/// One connection: its request, the response, the log line.
fn connection(mut stream: TcpStream, pool: &Pool, log: bool) {
    let (line, start, (response, note)) = match read_request(&mut stream) {
        Ok(None) => return,
        Ok(Some(request)) => {
            // A request's time is counted from its last byte to the response's.
            let start = Instant::now();
            let line = format!("{} {}", request.method, request.path);
            let answer = catch_unwind(AssertUnwindSafe(|| {
                route(&request, |request| pool.with(|p| predict(request, p)))
            }));
            let answer = answer.unwrap_or_else(|_| {
                (
                    Response::error(500, "internal error: see the server's log"),
                    String::new(),
                )
            });
            (line, start, answer)
        }
        Err(refusal) => ("(refused)".to_string(), Instant::now(), (refusal, String::new())),
    };
    let status = response.status;
    let written = respond(&mut stream, &response);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    close(stream);
    if log {
        let error = match (&written, status) {
            (Err(e), _) => format!(" (response not delivered: {e})"),
            (Ok(()), 200) => String::new(),
            (Ok(()), _) => format!(" {}", String::from_utf8_lossy(&response.body)),
        };
        println!("{line} {status} in {ms:.2} ms {note}{error}");
    }
}
