//! The draw page in a real browser: headless Chromium, driven over the DevTools protocol, loads
//! the page from the draw example's server, draws three digits as strokes of pointer events
//! (a 7 with the mouse, a 1 with a pen, a 0 with a finger), clicking Clear between them, and
//! reads the prediction the page shows. Screenshots and the canvas's PNGs are kept in the
//! test's temporary directory, whose path is printed.
//!
//! Without Chromium (`chromium` on the PATH, or `NN_CHROMIUM=<path>`) the test says so and
//! passes, unless `NN_REQUIRE_CHROMIUM` is set, as `.ci/run` does: then it fails.
//! `cargo test --test integration draw_page -- --nocapture` prints the screenshots' paths.

use crate::server;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The flags the browser runs with: headless, and nothing that reaches the network.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=900,760",
    "--remote-debugging-port=0",
];

/// The browser's executable: `NN_CHROMIUM`, or `chromium` / `chromium-browser` on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NN_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|path| path.is_file())
}

/// A DevTools-protocol session with one page of the browser.
struct Page {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: Option<String>,
    next_id: u64,
}

impl Page {
    /// Sends `method` with `params` and returns its result, skipping the events in between.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("send to the browser");
        loop {
            let Message::Text(text) = self.socket.read().expect("the browser answers") else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).expect("DevTools replies are JSON");
            if reply["id"] == id {
                assert!(
                    reply.get("error").is_none(),
                    "{method} failed: {}",
                    reply["error"]
                );
                return reply["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    fn wait_for(&mut self, expression: &str) {
        let start = Instant::now();
        while self.eval(expression) != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {expression}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The page coordinates of the element `id`'s box: left, top, width, height.
    fn rect(&mut self, id: &str) -> [f64; 4] {
        let r = self.eval(&format!(
            "(r => [r.left, r.top, r.width, r.height])(document.getElementById('{id}').getBoundingClientRect())"
        ));
        serde_json::from_value(r).unwrap()
    }

    /// Clicks the middle of element `id` with the mouse.
    fn click(&mut self, id: &str) {
        let [x, y, w, h] = self.rect(id);
        let (x, y) = (x + w / 2.0, y + h / 2.0);
        for kind in ["mousePressed", "mouseReleased"] {
            let event = json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 });
            self.call("Input.dispatchMouseEvent", event);
        }
    }

    /// Draws `strokes` (points on the 280 x 280 canvas) with `device`: `mouse` and `pen` as
    /// mouse events of that pointer type, `touch` as touch events.
    fn draw(&mut self, device: &str, strokes: &[Stroke]) {
        let [left, top, width, height] = self.rect("pad");
        let at = |(x, y): (f64, f64)| (left + x * width / 280.0, top + y * height / 280.0);
        for stroke in strokes {
            let points: Vec<(f64, f64)> = densify(stroke).into_iter().map(at).collect();
            let last = points.len() - 1;
            for (i, &(x, y)) in points.iter().enumerate() {
                if device == "touch" {
                    let kind = match i {
                        0 => "touchStart",
                        _ => "touchMove",
                    };
                    let point = json!([{ "x": x, "y": y, "radiusX": 4, "radiusY": 4, "force": 1 }]);
                    self.call(
                        "Input.dispatchTouchEvent",
                        json!({ "type": kind, "touchPoints": point }),
                    );
                    if i == last {
                        self.call(
                            "Input.dispatchTouchEvent",
                            json!({ "type": "touchEnd", "touchPoints": [] }),
                        );
                    }
                } else {
                    let kinds: &[&str] = match i {
                        0 => &["mousePressed"],
                        _ if i == last => &["mouseMoved", "mouseReleased"],
                        _ => &["mouseMoved"],
                    };
                    for kind in kinds {
                        let event = json!({
                            "type": kind, "x": x, "y": y, "button": "left", "buttons": 1,
                            "clickCount": 1, "pointerType": device, "force": 0.5,
                        });
                        self.call("Input.dispatchMouseEvent", event);
                    }
                }
            }
        }
    }

    /// Saves a screenshot of the page to `path`.
    fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = data_encoding::BASE64
            .decode(shot["data"].as_str().unwrap().as_bytes())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// `stroke` with a point every 8 canvas pixels along each segment, as a hand moves.
fn densify(stroke: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut points = vec![stroke[0]];
    for w in stroke.windows(2) {
        let ((ax, ay), (bx, by)) = (w[0], w[1]);
        let steps = ((bx - ax).hypot(by - ay) / 8.0).ceil().max(1.0) as usize;
        for k in 1..=steps {
            let t = k as f64 / steps as f64;
            points.push((ax + t * (bx - ax), ay + t * (by - ay)));
        }
    }
    points
}

/// The browser, killed when the test ends however it ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Chromium with a fresh profile in `dir`, and returns it with its DevTools address.
fn launch(executable: &Path, dir: &Path) -> (Browser, String) {
    let mut child = Command::new(executable)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", executable.display()));
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let browser = Browser(child);
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap_or_default();
        if let Some(url) = line.strip_prefix("DevTools listening on ") {
            return (browser, url.trim().to_string());
        }
        seen.push(line);
    }
    panic!("Chromium exited without a DevTools address:\n{}", seen.join("\n"));
}

/// A line drawn without lifting the pointer, in canvas pixels.
type Stroke = Vec<(f64, f64)>;

/// Digits drawn as a person would: with which device, and the strokes on the 280 x 280 canvas.
fn digits() -> Vec<(usize, &'static str, Vec<Stroke>)> {
    let oval: Stroke = (0..=40)
        .map(|k| {
            let a = k as f64 / 40.0 * std::f64::consts::TAU;
            (140.0 + 60.0 * a.sin(), 140.0 - 90.0 * a.cos())
        })
        .collect();
    vec![
        (
            7,
            "mouse",
            vec![vec![(80.0, 60.0), (200.0, 60.0), (120.0, 230.0)]],
        ),
        (1, "pen", vec![vec![(150.0, 40.0), (130.0, 240.0)]]),
        (0, "touch", vec![oval]),
    ]
}

#[test]
fn drawn_digits_are_read_in_headless_chromium() {
    let Some(executable) = chromium() else {
        let message = "Chromium not found: the draw page was not tested in a browser. Install it \
                       (Debian: apt-get install chromium) or set NN_CHROMIUM to its path.";
        if std::env::var_os("NN_REQUIRE_CHROMIUM").is_some() {
            panic!("{message} (NN_REQUIRE_CHROMIUM is set)");
        }
        // Past the test harness's capture, so that a passing run still shows it.
        let _ = writeln!(std::io::stderr(), "{message}");
        return;
    };
    let dir = std::env::temp_dir().join(format!("nn-draw-page-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/models/mlp_mnist10k.safetensors");
    let predictors = (0..2)
        .map(|_| server::Predictor {
            net: crate::common::nets::load("mlp", &model).unwrap(),
        })
        .collect();
    server::spawn(listener, predictors, false);

    let (_browser, devtools) = launch(&executable, &dir);
    let (socket, _) = tungstenite::connect(devtools.as_str()).expect("connect to DevTools");
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    let mut page = Page {
        socket,
        session: None,
        next_id: 0,
    };
    let target = page.call(
        "Target.createTarget",
        json!({ "url": format!("http://{address}/") }),
    );
    let attached = page.call(
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
    );
    page.session = Some(attached["sessionId"].as_str().unwrap().to_string());
    page.call(
        "Emulation.setTouchEmulationEnabled",
        json!({ "enabled": true, "maxTouchPoints": 1 }),
    );
    page.wait_for("document.readyState === 'complete' && document.body.dataset.state === 'idle'");

    let mut read = Vec::new();
    for (digit, device, strokes) in digits() {
        page.click("clear");
        page.wait_for("document.getElementById('prediction').textContent === ''");
        page.draw(device, &strokes);
        page.wait_for("document.body.dataset.state === 'idle' && document.getElementById('prediction').textContent !== ''");
        let shown = page.eval("document.getElementById('prediction').textContent");
        let bars: Vec<String> = serde_json::from_value(
            page.eval("[...document.querySelectorAll('.bar .value')].map(e => e.textContent)"),
        )
        .unwrap();
        let best = page.eval("document.querySelector('.bar.best').dataset.digit");
        let seen_ink = page.eval(
            "[...document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data]\
             .filter((v, i) => i % 4 === 0 && v > 128).length",
        );
        let shot = dir.join(format!("digit-{digit}-{device}.png"));
        page.screenshot(&shot);
        let canvas = page.eval("document.getElementById('pad').toDataURL('image/png').split(',')[1]");
        let drawing = data_encoding::BASE64
            .decode(canvas.as_str().unwrap().as_bytes())
            .unwrap();
        std::fs::write(dir.join(format!("drawing-{digit}.png")), drawing).unwrap();
        println!(
            "drew {digit} with the {device}: the page reads {shown}, bars {bars:?}; screenshot {}",
            shot.display()
        );
        assert_eq!(bars.len(), 10);
        assert_eq!(
            best,
            json!(shown.as_str().unwrap()),
            "the highlighted bar is the prediction"
        );
        assert!(
            seen_ink.as_u64().unwrap() > 20,
            "the 28x28 preview shows the digit: {seen_ink}"
        );
        read.push((digit, shown));
    }
    println!("screenshots in {}", dir.display());
    for (digit, shown) in read {
        assert_eq!(shown, json!(digit.to_string()), "drew {digit}");
    }
}
