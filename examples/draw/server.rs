//! The draw page's server: `GET /` serves the page, `POST /predict` turns a PNG drawing into
//! the 28x28 digit nn's MNIST preprocessing makes of it and the network's ten probabilities.
//! Worker threads share the listener, each with a network of its own, so requests run in
//! parallel without a lock; a request that fails in any way gets a JSON error and the worker
//! goes on.

use crate::common::digits::{decode_png, probabilities};
use crate::http::{close, read_request, respond, Request, Response};
use nn::data::mnist_digit;
use nn::Layer;
use std::io::Cursor;
use std::net::TcpListener;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
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

/// The response to `request`, and a note for the log.
pub fn route(request: &Request, predictor: &mut Predictor) -> (Response, String) {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => (
            Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: PAGE.as_bytes().to_vec(),
            },
            String::new(),
        ),
        ("POST", "/predict") => predict(request, predictor),
        (_, "/" | "/predict") => (
            Response::error(405, "use GET / for the page and POST /predict for a prediction"),
            String::new(),
        ),
        _ => (Response::error(404, "not found: the page is at /"), String::new()),
    }
}

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

/// Serves on `listener` with `workers` threads, each with the predictor `load` makes for it
/// (a network is not shared between threads, so each has its own), logging each request with
/// its time when `log` is set. Returns once every worker has its network, or the first loading
/// error; the threads run until the process ends.
pub fn spawn(
    listener: TcpListener,
    workers: usize,
    load: impl Fn() -> Result<Predictor, String> + Send + Sync + 'static,
    log: bool,
) -> Result<Vec<JoinHandle<()>>, String> {
    let listener = Arc::new(listener);
    let load = Arc::new(load);
    let (ready, loaded) = std::sync::mpsc::channel();
    let handles = (0..workers)
        .map(|_| {
            let (listener, load, ready) = (Arc::clone(&listener), Arc::clone(&load), ready.clone());
            std::thread::spawn(move || {
                let predictor = load();
                let ok = predictor.is_ok();
                let _ = ready.send(predictor.as_ref().map(|_| ()).map_err(Clone::clone));
                if let (true, Ok(mut predictor)) = (ok, predictor) {
                    serve(&listener, &mut predictor, log);
                }
            })
        })
        .collect();
    for _ in 0..workers {
        loaded.recv().map_err(|e| e.to_string())??;
    }
    Ok(handles)
}

/// A worker's loop: one connection, one request, one response, then the next.
fn serve(listener: &TcpListener, predictor: &mut Predictor, log: bool) -> ! {
    loop {
        let Ok((mut stream, _)) = listener.accept() else {
            continue;
        };
        let (line, start, (response, note)) = match read_request(&mut stream) {
            Ok(None) => continue,
            Ok(Some(request)) => {
                // The time a request takes is counted from its last byte to the response's.
                let start = Instant::now();
                let line = format!("{} {}", request.method, request.path);
                // A bug in a layer must not take the worker down with it.
                let handled = catch_unwind(AssertUnwindSafe(|| route(&request, predictor)));
                let handled = handled.unwrap_or_else(|_| {
                    (
                        Response::error(500, "internal error: see the server's log"),
                        String::new(),
                    )
                });
                (line, start, handled)
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
}
