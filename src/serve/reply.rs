//! What the server answers: JSON documents (the `api` views, `json_version` first, encoded as
//! `--json` encodes them) and errors (`{"error": {"code", "message"}}` with a fitting status),
//! and the request bodies it takes (JSON objects, read into typed structs).

use crate::error::{Error, ErrorKind, NextStep, Operation, Setting, Vocabulary};
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest request body taken (a record is at most 256 KiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// A JSON document to send.
pub struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

impl Reply {
    /// `view` as a document, `json_version` first.
    pub fn json<T: Serialize + ?Sized>(view: &T) -> crate::error::Result<Reply> {
        Self::json_sized(view, 0)
    }

    /// The same for a document of about `size` bytes (written without growing its buffer).
    pub fn json_sized<T: Serialize + ?Sized>(view: &T, size: usize) -> crate::error::Result<Reply> {
        Ok(Reply {
            status: StatusCode::OK,
            body: encode_sized(&crate::api::document(view), size)?,
        })
    }

    /// The same with another status (`201 Created`).
    pub fn with_status(mut self, status: StatusCode) -> Reply {
        self.status = status;
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        json_response(self.status, self.body)
    }
}

/// `value` as compact JSON, every control character and bidi control escaped as `\uXXXX` (as
/// `--json` writes it), with a final newline.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> crate::error::Result<Vec<u8>> {
    encode_sized(value, 0)
}

fn encode_sized<T: Serialize + ?Sized>(value: &T, size: usize) -> crate::error::Result<Vec<u8>> {
    use std::io::Write;
    let failed = |e: std::io::Error| Error::failed(format!("cannot encode JSON: {e}"));
    // serde_json writes a document in many small pieces; the escaper looks for what to escape
    // in large ones (as `--json` writes through the same buffer size).
    let escaped = crate::render::EscapeControls::new(Vec::with_capacity(size.max(4096)));
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, escaped);
    serde_json::to_writer(&mut out, value).map_err(|e| failed(e.into()))?;
    out.write_all(b"\n").map_err(failed)?;
    out.into_inner()
        .map_err(|e| failed(e.into_error()))?
        .finish()
        .map_err(failed)
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An error as the API sends it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A request that names something unknown (a route, a project).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A request malformed in its URL or body.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "usage", message)
    }

    /// A body that is JSON but not the JSON this route takes.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "usage", message)
    }

    /// The server itself failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "failed", message)
    }
}

/// The HTTP status of each kind of core error; the code is the kind's own.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Usage => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Invalid => StatusCode::CONFLICT,
        ErrorKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError {
            status: status_of(err.kind()),
            code: err.code(),
            message: err.worded(&HttpWords),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
        }
        if self.status.is_server_error() {
            eprintln!(
                "pm serve: {}",
                crate::render::clean_line(&format!("{} {}", self.status.as_u16(), self.message))
            );
        }
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        let bytes = encode(&body).unwrap_or_else(|_| {
            br#"{"error":{"code":"failed","message":"cannot encode the error"}}"#.to_vec()
        });
        json_response(self.status, bytes)
    }
}

/// Settings are the fields of a request body; operations are routes.
pub struct HttpWords;

impl Vocabulary for HttpWords {
    fn setting(&self, setting: Setting) -> String {
        match setting {
            Setting::Force => "\"force\": true",
            Setting::Branch => "\"branch\"",
            Setting::Issue => "\"issue\"",
            Setting::Base => "\"base\"",
            Setting::DeleteFiles => "\"delete_files\": true",
            Setting::Into => "\"into\"",
            Setting::IssueFields => {
                "one of \"title\", \"description\", \"body\", \"status\", \"priority\", \"type\", \
                 \"tags\", \"untags\""
            }
        }
        .to_string()
    }

    fn step(&self, step: &NextStep) -> String {
        let id = &step.session;
        let call = match step.operation {
            Operation::Reactivate => format!("POST /api/v1/sessions/{id}/reactivate"),
            Operation::TakeOver => {
                format!("POST /api/v1/agent/resume with \"session_id\": \"{id}\"")
            }
            Operation::PurgeWithFiles => {
                format!("POST /api/v1/sessions/{id}/purge with \"delete_files\": true")
            }
        };
        format!("{call} {}", step.purpose)
    }
}

/// A request body: a JSON object read into `T` (unknown keys refused).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the request body is larger than {MAX_BODY} bytes (or was cut off)"),
                )
            })?;
        parse_body(&bytes).map(Json)
    }
}

/// `bytes` as the JSON object `T`: 400 when it is no JSON object, 422 when its keys or values
/// are not the ones `T` takes.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::usage(format!("the request body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::usage("the request body must be a JSON object"));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::unprocessable(format!("the request body: {e}")))
}
