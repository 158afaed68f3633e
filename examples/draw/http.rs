//! The HTTP/1.1 the draw page needs, on a `std::net::TcpStream`: one request per connection,
//! parsed with httparse, its body taken only when it declares a length within the limit, and a
//! response that closes the connection. Every limit is checked before memory is spent on it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// The largest request body read: a drawing's PNG is a few kilobytes.
pub const MAX_BODY: usize = 1 << 20;
/// The largest request head (request line and headers).
const MAX_HEAD: usize = 16 << 10;
/// The most headers a request may have.
const MAX_HEADERS: usize = 32;
/// How long a client may take to send a request, and to take the response.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A request read whole: its method, path, content type and body.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A response: status, content type and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response {
            status,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }

    /// A JSON `{"error": message}` response, the form every refusal takes.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self::json(status, &serde_json::json!({ "error": message.into() }))
    }
}

/// Reads one request from `stream`, or the response that refuses it: 400 for a malformed head,
/// 431 for a head over 16 KiB, 411 for a body without a declared length, 413 for a declared
/// length over [`MAX_BODY`] (answered before any of the body is read), 408 when the client
/// stops sending. `Ok(None)` when the client closed the connection without a request.
pub fn read_request(stream: &mut TcpStream) -> Result<Option<Request>, Response> {
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_len = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(Response::error(431, "request head over 16 KiB"));
        }
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(Response::error(400, "connection closed inside the request head")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(io_refusal(e)),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(Response::error(400, "not an HTTP/1.1 request"));
        }
    }
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    if header("transfer-encoding").is_some() {
        return Err(Response::error(
            411,
            "send the body with a Content-Length, not chunked",
        ));
    }
    let length = match header("content-length") {
        None => 0,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= MAX_BODY as u64 => n as usize,
            Ok(n) => {
                return Err(Response::error(
                    413,
                    format!("body of {n} bytes refused: the limit is {MAX_BODY} bytes (1 MiB)"),
                ))
            }
            Err(_) => {
                return Err(Response::error(
                    400,
                    format!("Content-Length `{v}` is not a number"),
                ))
            }
        },
    };
    // A client that waits for permission before sending the body (curl does for large ones).
    if length > 0 && header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(io_refusal)?;
    }
    let (method, path) = (parsed.method.unwrap_or_default(), parsed.path.unwrap_or_default());
    let (method, path, content_type) = (method.to_string(), path.to_string(), header("content-type"));
    // Bytes past the head already read belong to the body.
    let mut body = buf.split_off(head_len);
    body.truncate(length);
    if body.len() < length {
        let start = body.len();
        body.resize(length, 0);
        stream.read_exact(&mut body[start..]).map_err(io_refusal)?;
    }
    Ok(Some(Request {
        method,
        path,
        content_type,
        body,
    }))
}

/// Writes `response`, which closes the connection.
pub fn respond(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

/// Closes the connection after a response. Reads briefly what the client may still be sending
/// (a refused body), at most 64 KiB, so that closing does not reset the connection before the
/// client has read the response.
pub fn close(stream: TcpStream) {
    if stream.shutdown(Shutdown::Write).is_ok() {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = io::copy(&mut (&stream).take(64 << 10), &mut io::sink());
    }
}

/// The refusal for a failed read: 408 when the client was too slow.
fn io_refusal(e: io::Error) -> Response {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            Response::error(408, "the request did not arrive within 10 s")
        }
        _ => Response::error(400, format!("the request could not be read: {e}")),
    }
}

/// The reason phrase of the status codes this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    }
}
