//! A scripted stand-in for the Anthropic Messages API, for Claude Code to talk to: a small
//! HTTP/1.1 server on 127.0.0.1 that answers each `POST /v1/messages` (any query string) with
//! the next [`Step`] of its script, streamed as server-sent events (with the `event:` lines
//! Claude Code needs) or as one JSON message when the request does not ask for a stream. Every
//! request body is kept for the test to read; anything else is answered 404.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One answer of the model.
#[derive(Debug, Clone)]
pub enum Step {
    /// Text, streamed in `chunks` deltas with `delay` before each.
    Text {
        text: String,
        chunks: usize,
        delay: Duration,
    },
    /// A call of tool `name` with `input` (stop reason `tool_use`).
    ToolUse { name: String, input: Value },
}

impl Step {
    /// Text in one delta, at once.
    pub fn text(text: &str) -> Step {
        Step::slow_text(text, 1, Duration::ZERO)
    }

    /// Text in `chunks` deltas, `delay` before each.
    pub fn slow_text(text: &str, chunks: usize, delay: Duration) -> Step {
        Step::Text {
            text: text.to_string(),
            chunks: chunks.max(1),
            delay,
        }
    }

    pub fn tool_use(name: &str, input: Value) -> Step {
        Step::ToolUse {
            name: name.to_string(),
            input,
        }
    }
}

/// What the script answers once it is used up.
const DEFAULT_TEXT: &str = "(the script has no more steps)";

struct State {
    script: Mutex<VecDeque<Step>>,
    requests: Mutex<Vec<Value>>,
    stop: AtomicBool,
    ids: AtomicU64,
}

/// The running stand-in; it stops when dropped.
pub struct StandIn {
    port: u16,
    state: Arc<State>,
}

impl StandIn {
    /// Listen on a free port of 127.0.0.1 and answer with `script`, one step a request.
    pub fn start(script: Vec<Step>) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stand-in on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("the stand-in's address")
            .port();
        let state = Arc::new(State {
            script: Mutex::new(script.into()),
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            ids: AtomicU64::new(0),
        });
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(&shared, stream);
                });
            }
        });
        StandIn { port, state }
    }

    /// `http://127.0.0.1:PORT`, for `ANTHROPIC_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bodies of the `/v1/messages` requests so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.state
            .requests
            .lock()
            .expect("the requests lock")
            .clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the stop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One connection: one request, one answer, then the connection is closed.
fn serve(state: &State, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let mut out = stream;
    if method != "POST" || path.split('?').next() != Some("/v1/messages") {
        return respond(&mut out, "404 Not Found", "application/json", b"{}");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state
        .requests
        .lock()
        .expect("the requests lock")
        .push(body.clone());
    let step = state
        .script
        .lock()
        .expect("the script lock")
        .pop_front()
        .unwrap_or_else(|| Step::text(DEFAULT_TEXT));
    let model = body["model"].as_str().unwrap_or("claude-test").to_string();
    let id = format!("msg_{:020}", state.ids.fetch_add(1, Ordering::SeqCst));
    if body["stream"] == true {
        stream_answer(&mut out, &id, &model, &step)
    } else {
        let message = whole_message(&id, &model, &step);
        respond(
            &mut out,
            "200 OK",
            "application/json",
            message.to_string().as_bytes(),
        )
    }
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn respond(out: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

fn usage() -> Value {
    json!({"input_tokens": 10, "output_tokens": 5,
           "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
}

fn tool_id(message: &str) -> String {
    format!("toolu_{}", &message[4..])
}

/// The answer of `step` as one message (a request without `stream`).
fn whole_message(id: &str, model: &str, step: &Step) -> Value {
    let (content, stop) = match step {
        Step::Text { text, .. } => (json!([{"type": "text", "text": text}]), "end_turn"),
        Step::ToolUse { name, input } => (
            json!([{"type": "tool_use", "id": tool_id(id), "name": name, "input": input}]),
            "tool_use",
        ),
    };
    json!({"id": id, "type": "message", "role": "assistant", "model": model,
           "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage()})
}

/// The answer of `step` as server-sent events; the connection closes after it.
fn stream_answer(out: &mut TcpStream, id: &str, model: &str, step: &Step) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
         connection: close\r\n\r\n"
    )?;
    let mut event = |name: &str, data: Value| -> std::io::Result<()> {
        write!(out, "event: {name}\ndata: {data}\n\n")?;
        out.flush()
    };
    let mut start_usage = usage();
    start_usage["output_tokens"] = json!(1);
    event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
    )?;
    let stop = match step {
        Step::Text {
            text,
            chunks,
            delay,
        } => {
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}}),
            )?;
            for piece in pieces(text, *chunks) {
                std::thread::sleep(*delay);
                event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": piece}}),
                )?;
            }
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            )?;
            "end_turn"
        }
        Step::ToolUse { name, input } => {
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {
                    "type": "tool_use", "id": tool_id(id), "name": name, "input": {}}}),
            )?;
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
            )?;
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            )?;
            "tool_use"
        }
    };
    event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": 5}}),
    )?;
    event("message_stop", json!({"type": "message_stop"}))
}

/// `text` cut into `n` pieces of about the same number of characters.
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}
