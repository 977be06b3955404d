//! A scripted stand-in for the OpenAI Responses API, for the Codex CLI to talk to: a small
//! HTTP/1.1 server on 127.0.0.1 that answers each `POST /v1/responses` with the next [`Step`]
//! of its script, streamed as server-sent events (each with its `event:` line, as the Codex
//! SDK's own test server sends them). Every request is kept, headers and body, for the test to
//! read; anything else is answered 404.

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
    /// A message, its text streamed in `chunks` deltas with `delay` before each.
    Text {
        text: String,
        chunks: usize,
        delay: Duration,
    },
    /// A call of function `name` (in `namespace`, which is how Codex offers MCP tools), with
    /// `arguments`.
    Call {
        namespace: Option<String>,
        name: String,
        arguments: Value,
    },
}

impl Step {
    /// A message in one delta, at once.
    pub fn text(text: &str) -> Step {
        Step::slow_text(text, 1, Duration::ZERO)
    }

    /// A message in `chunks` deltas, `delay` before each.
    pub fn slow_text(text: &str, chunks: usize, delay: Duration) -> Step {
        Step::Text {
            text: text.to_string(),
            chunks: chunks.max(1),
            delay,
        }
    }

    /// A call of Codex's own tool `name` (`exec_command` runs a shell command).
    pub fn call(name: &str, arguments: Value) -> Step {
        Step::Call {
            namespace: None,
            name: name.to_string(),
            arguments,
        }
    }

    /// A call of tool `tool` of the MCP server `server`.
    pub fn mcp_call(server: &str, tool: &str, arguments: Value) -> Step {
        Step::Call {
            namespace: Some(format!("mcp__{server}")),
            name: tool.to_string(),
            arguments,
        }
    }
}

/// What the script answers once it is used up.
const DEFAULT_TEXT: &str = "(the script has no more steps)";

/// A request the stand-in answered: its headers (names in lower case) and its JSON body.
#[derive(Debug, Clone)]
pub struct Request {
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    script: Mutex<VecDeque<Step>>,
    requests: Mutex<Vec<Request>>,
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

    /// `http://127.0.0.1:PORT/v1`, the `base_url` of a Codex model provider.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The `/v1/responses` requests so far, in order.
    pub fn requests(&self) -> Vec<Request> {
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
    let mut headers = Vec::new();
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
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
            match name.as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                _ => {}
            }
            headers.push((name, value));
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
    if method != "POST" || path.split('?').next() != Some("/v1/responses") {
        return respond(&mut out, "404 Not Found", b"{}");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state
        .requests
        .lock()
        .expect("the requests lock")
        .push(Request { headers, body });
    let step = state
        .script
        .lock()
        .expect("the script lock")
        .pop_front()
        .unwrap_or_else(|| Step::text(DEFAULT_TEXT));
    let n = state.ids.fetch_add(1, Ordering::SeqCst);
    stream_answer(&mut out, n, &step)
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

fn respond(out: &mut TcpStream, status: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

/// The answer of `step` (the `n`th answer) as server-sent events; the connection closes after.
fn stream_answer(out: &mut TcpStream, n: u64, step: &Step) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
         connection: close\r\n\r\n"
    )?;
    let mut event = |data: Value| -> std::io::Result<()> {
        let name = data["type"].as_str().unwrap_or_default().to_string();
        write!(out, "event: {name}\ndata: {data}\n\n")?;
        out.flush()
    };
    let response = format!("resp_{n}");
    event(json!({"type": "response.created", "response": {"id": response}}))?;
    match step {
        Step::Text {
            text,
            chunks,
            delay,
        } => {
            let item = format!("msg_{n}");
            event(
                json!({"type": "response.output_item.added", "output_index": 0,
                         "item": {"type": "message", "role": "assistant", "id": item,
                                  "content": []}}),
            )?;
            for piece in pieces(text, *chunks) {
                std::thread::sleep(*delay);
                event(
                    json!({"type": "response.output_text.delta", "item_id": item,
                             "output_index": 0, "content_index": 0, "delta": piece}),
                )?;
            }
            event(
                json!({"type": "response.output_item.done", "output_index": 0,
                         "item": {"type": "message", "role": "assistant", "id": item,
                                  "content": [{"type": "output_text", "text": text}]}}),
            )?;
        }
        Step::Call {
            namespace,
            name,
            arguments,
        } => {
            let mut item = json!({"type": "function_call", "id": format!("fc_{n}"),
                                  "call_id": format!("call_{n}"), "name": name,
                                  "arguments": arguments.to_string()});
            if let Some(namespace) = namespace {
                item["namespace"] = json!(namespace);
            }
            event(
                json!({"type": "response.output_item.done", "output_index": 0,
                         "item": item}),
            )?;
        }
    }
    event(
        json!({"type": "response.completed", "response": {"id": response, "usage": {
        "input_tokens": 10, "input_tokens_details": null, "output_tokens": 5,
        "output_tokens_details": null, "total_tokens": 15}}}),
    )
}

/// `text` cut into `n` pieces of about the same number of characters.
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}
