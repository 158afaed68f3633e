//! The draw page's server: `GET /` serves the page, `POST /predict` turns a PNG drawing into
//! the 28x28 digit nn's MNIST preprocessing makes of it and the network's ten probabilities.
//! A request that fails in any way gets a JSON error, and the server goes on.

use crate::common::digits::{decode_png, probabilities};
use crate::http::{close, read_request, respond, Request, Response};
use nn::data::mnist_digit;
use nn::Layer;
use std::io::Cursor;
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// The page: one HTML file with its script and style inline, nothing fetched from elsewhere.
pub const PAGE: &str = include_str!("page.html");

/// The most memory a drawing may decode to: 2048 x 2048 RGBA.
const MAX_DECODED: usize = 16 << 20;

/// A network that predicts drawn digits.
pub struct Predictor {
    pub net: Box<dyn Layer>,
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
    /// that is not a PNG image (or too large a one), 422 for a picture without a digit.
    pub fn predict(&mut self, png: &[u8]) -> Result<Prediction, Response> {
        let t0 = Instant::now();
        let picture = decode_png(Cursor::new(png), MAX_DECODED).map_err(|e| Response::error(400, e))?;
        let t1 = Instant::now();
        let digit = mnist_digit(picture.width, picture.height, picture.channels, &picture.samples)
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

/// A prediction to make, and where its answer goes.
type Job = (Request, Sender<(Response, String)>);

/// Serves on `listener`, logging each request with its time when `log` is set. Each connection
/// is read by a thread of its own (at most [`MAX_CONNECTIONS`]), so a slow or idle client holds
/// up no one; predictions go to `workers` threads, each with the predictor `load` makes for it
/// (a network is not shared between threads), so they run in parallel without a lock. Returns
/// once every worker has its network, or with the first loading error; the threads run until
/// the process ends.
pub fn spawn(
    listener: TcpListener,
    workers: usize,
    load: impl Fn() -> Result<Predictor, String> + Send + Sync + 'static,
    log: bool,
) -> Result<JoinHandle<()>, String> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    let load = Arc::new(load);
    let (ready, loaded) = mpsc::channel();
    for _ in 0..workers {
        let (queue, load, ready) = (Arc::clone(&queue), Arc::clone(&load), ready.clone());
        std::thread::spawn(move || match load() {
            Ok(mut predictor) => {
                let _ = ready.send(Ok(()));
                work(&queue, &mut predictor);
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        });
    }
    for _ in 0..workers {
        loaded.recv().map_err(|e| e.to_string())??;
    }
    let open = Arc::new(AtomicUsize::new(0));
    Ok(std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::SeqCst);
                continue; // dropped: the client sees the connection closed
            }
            let (jobs, open) = (jobs.clone(), Arc::clone(&open));
            std::thread::spawn(move || {
                connection(stream, &jobs, log);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }))
}

/// A prediction worker: takes jobs until the server ends. A panic inside one prediction (a bug
/// in a layer) answers 500, and the worker goes on.
fn work(queue: &Mutex<Receiver<Job>>, predictor: &mut Predictor) {
    loop {
        let job = queue.lock().map(|q| q.recv());
        let Ok(Ok((request, reply))) = job else { return };
        let answer = catch_unwind(AssertUnwindSafe(|| predict(&request, predictor))).unwrap_or_else(|_| {
            (
                Response::error(500, "internal error: see the server's log"),
                String::new(),
            )
        });
        let _ = reply.send(answer);
    }
}

/// One connection: its request, the response, the log line.
fn connection(mut stream: TcpStream, jobs: &Sender<Job>, log: bool) {
    let (line, start, (response, note)) = match read_request(&mut stream) {
        Ok(None) => return,
        Ok(Some(request)) => {
            // A request's time is counted from its last byte to the response's.
            let start = Instant::now();
            let line = format!("{} {}", request.method, request.path);
            let answer = route(&request, |request| {
                let (reply, answer) = mpsc::channel();
                let asked = jobs.send((request.clone(), reply));
                match asked.ok().and_then(|()| answer.recv().ok()) {
                    Some(answer) => answer,
                    None => (
                        Response::error(500, "the prediction workers stopped"),
                        String::new(),
                    ),
                }
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
