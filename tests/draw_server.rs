//! The draw example's server over real HTTP on 127.0.0.1, without a browser: the page, a good
//! drawing, every kind of bad body (each a 4xx with a message, the server serving on after it),
//! an oversized body refused before it is sent, and concurrent requests.

use crate::server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The server under test, started once for all tests: the committed MLP, two workers.
fn server() -> SocketAddr {
    static ADDRESS: OnceLock<SocketAddr> = OnceLock::new();
    *ADDRESS.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/models/mlp_mnist10k.safetensors");
        let predictors = (0..2)
            .map(|_| server::Predictor {
                net: crate::common::nets::load("mlp", &model).unwrap(),
            })
            .collect();
        server::spawn(listener, predictors, false);
        address
    })
}

/// Sends `raw` and returns the status and body of the answer.
fn exchange(raw: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(server()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A POST of `body` to `/predict` with `content_type`.
fn post(content_type: &str, body: &[u8]) -> (u16, String) {
    let mut raw = format!(
        "POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    exchange(&raw)
}

/// A 280x280 RGBA PNG, white with black strokes 18 pixels wide through `strokes`' points, as the
/// page's canvas makes it.
fn drawing(strokes: &[&[(f32, f32)]]) -> Vec<u8> {
    let side = 280;
    let near = |x: f32, y: f32| {
        strokes.iter().any(|s| {
            s.windows(2).any(|w| {
                let ((ax, ay), (bx, by)) = (w[0], w[1]);
                let (dx, dy) = (bx - ax, by - ay);
                let t = (((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy).max(1e-6)).clamp(0.0, 1.0);
                (x - ax - t * dx).hypot(y - ay - t * dy) <= 9.0
            })
        })
    };
    let mut pixels = Vec::with_capacity(side * side * 4);
    for y in 0..side {
        for x in 0..side {
            let v = if near(x as f32, y as f32) { 0 } else { 255 };
            pixels.extend_from_slice(&[v, v, v, 255]);
        }
    }
    encode(side as u32, side as u32, &pixels)
}

fn encode(width: u32, height: u32, rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(rgba).unwrap();
    out
}

const SEVEN: &[(f32, f32)] = &[(80.0, 60.0), (200.0, 60.0), (120.0, 230.0)];

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn the_page_is_one_self_contained_html_file() {
    let (status, page) = exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, 200);
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    for part in [
        "<canvas id=\"pad\"",
        "id=\"clear\"",
        "id=\"bars\"",
        "id=\"seen\"",
        "pointerdown",
    ] {
        assert!(page.contains(part), "{part} missing");
    }
    // Nothing fetched from elsewhere: it works offline.
    assert!(!page.contains("://"), "the page refers to another site");
    assert!(!page.contains(" src="), "the page loads a file");
}

#[test]
fn a_drawing_gets_ten_probabilities_and_the_digit_the_network_saw() {
    let (status, body) = post("image/png", &drawing(&[SEVEN]));
    assert_eq!(status, 200, "{body}");
    let answer = json(&body);
    let p: Vec<f64> = serde_json::from_value(answer["probabilities"].clone()).unwrap();
    assert_eq!(p.len(), 10);
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{p:?}");
    let best = (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
    assert_eq!(best, 7, "{p:?}");
    assert_eq!(answer["predicted"], 7);
    let digit: Vec<f64> = serde_json::from_value(answer["digit"].clone()).unwrap();
    assert_eq!(digit.len(), 784);
    assert!(digit.iter().all(|v| (0.0..=1.0).contains(v)));
    // MNIST's layout: white ink centred on black, the border empty.
    assert_eq!(digit[0], 0.0);
    assert!(digit.contains(&1.0));
}

#[test]
fn bad_bodies_get_a_4xx_with_a_message_and_the_server_serves_on() {
    let png = drawing(&[SEVEN]);
    let blank = encode(280, 280, &[255; 280 * 280 * 4]);
    let cases: Vec<(&str, u16, (u16, String))> = vec![
        ("wrong content type", 415, post("text/plain", &png)),
        ("no content type", 415, exchange(b"POST /predict HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")),
        ("not an image", 400, post("image/png", b"this is not a picture")),
        ("empty body", 400, post("image/png", b"")),
        ("truncated PNG", 400, post("image/png", &png[..png.len() / 2])),
        ("a JPEG", 400, post("image/png", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'])),
        ("blank drawing", 422, post("image/png", &blank)),
        ("picture too large", 400, post("image/png", &huge_png_header())),
        (
            "chunked body",
            411,
            exchange(
                b"POST /predict HTTP/1.1\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
        ),
        ("not HTTP", 400, exchange(b"\x16\x03\x01 hello\r\n\r\n")),
        ("unknown path", 404, exchange(b"GET /admin HTTP/1.1\r\n\r\n")),
        ("wrong method", 405, exchange(b"DELETE /predict HTTP/1.1\r\n\r\n")),
        (
            "length not a number",
            400,
            exchange(b"POST /predict HTTP/1.1\r\nContent-Type: image/png\r\nContent-Length: many\r\n\r\n"),
        ),
    ];
    for (what, expected, (status, body)) in cases {
        assert_eq!(status, expected, "{what}: {body}");
        let message = json(&body)["error"].as_str().unwrap_or_default().to_string();
        assert!(message.len() > 10, "{what}: no message in {body}");
    }
    let (status, _) = post("image/png", &png);
    assert_eq!(status, 200, "the server still predicts");
}

/// A PNG whose header claims 60000 x 60000 pixels: 14 GB decoded, in a file of 57 bytes.
fn huge_png_header() -> Vec<u8> {
    let mut png = encode(1, 1, &[0, 0, 0, 255]);
    // The IHDR chunk: length (4), "IHDR" (4), width at 16, height at 20, CRC after 13 bytes.
    png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// CRC-32 as PNG chunks use it (ISO-HDLC).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn an_oversized_body_is_refused_before_it_is_sent() {
    for length in [(1 << 20) + 1, 1u64 << 40] {
        let start = Instant::now();
        // The head alone: the server must answer without waiting for a body it will not read.
        let head =
            format!("POST /predict HTTP/1.1\r\nContent-Type: image/png\r\nContent-Length: {length}\r\n\r\n");
        let (status, body) = exchange(head.as_bytes());
        assert_eq!(status, 413, "{body}");
        assert!(json(&body)["error"].as_str().unwrap().contains("1 MiB"), "{body}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    // A body at the limit is read (and is not a PNG).
    let (status, _) = post("image/png", &vec![0u8; 1 << 20]);
    assert_eq!(status, 400);
}

#[test]
fn concurrent_requests_all_get_the_same_answer() {
    let png = drawing(&[SEVEN]);
    let expected = json(&post("image/png", &png).1)["probabilities"].clone();
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| (0..4).map(|_| post("image/png", &png)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers.len(), 32);
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["probabilities"], expected);
    }
}

#[test]
fn idle_connections_hold_up_no_prediction() {
    // Browsers open connections ahead of need; a client may stall. Neither may block the workers.
    let idle: Vec<TcpStream> = (0..6).map(|_| TcpStream::connect(server()).unwrap()).collect();
    let start = Instant::now();
    let (status, body) = post("image/png", &drawing(&[SEVEN]));
    assert_eq!(status, 200, "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    drop(idle);
}
