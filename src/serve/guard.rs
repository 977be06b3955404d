//! What a request must show before any handler sees it:
//!
//! * its `Host` is an address this server is served at (a page on another site whose name was
//!   made to resolve to 127.0.0.1, "DNS rebinding", names its own host and is refused);
//! * on a server bound to anything but loopback, every API request carries the token
//!   (`Authorization: Bearer TOKEN`, or `?access_token=TOKEN` where no header can be set, as
//!   for `EventSource`);
//! * a request that changes state (any method but GET and HEAD) has a JSON body
//!   (`Content-Type: application/json`, which no HTML form can send and which a browser sends
//!   to another origin only after a preflight this server never allows) and comes from this
//!   server's own pages (`Origin` equal to the served address), or carries the token.
//!
//! No CORS header is ever sent. Every response says not to sniff, frame or cache it.

use super::Server;
use super::reply::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The environment variable that holds the token.
pub const TOKEN_VAR: &str = "PM_SERVE_TOKEN";

/// The query parameter that carries the token where no header can be set.
pub const TOKEN_PARAM: &str = "access_token";

pub struct Guard {
    /// `host:port` values a request may name (lower case); empty: any (a server bound to
    /// every address, where the token guards every request).
    hosts: Vec<String>,
    token: Option<String>,
    /// Every API request needs the token (the server is reachable from other machines).
    token_required: bool,
}

impl Guard {
    pub fn new(local: SocketAddr, token: Option<String>) -> Self {
        let port = local.port();
        let ip = local.ip();
        let mut names = Vec::new();
        if !ip.is_unspecified() {
            names.push(match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            });
            if super::is_loopback(ip) {
                names.push("localhost".to_string());
            }
        }
        let mut hosts = Vec::new();
        for name in names {
            if port == 80 {
                hosts.push(name.clone());
            }
            hosts.push(format!("{name}:{port}"));
        }
        Guard {
            hosts,
            token,
            token_required: !super::is_loopback(ip),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether the request carries the token (in its header, or in its query).
    fn has_token(&self, request: &Request) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        let from_header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| same(given.trim().as_bytes(), token.as_bytes()));
        from_header
            || request.uri().query().is_some_and(|query| {
                form_pairs(query)
                    .any(|(k, v)| k == TOKEN_PARAM && same(v.as_bytes(), token.as_bytes()))
            })
    }
}

/// The pairs of a query string, decoded.
pub fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
}

/// Compare without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden(message: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response()
}

/// The middleware: refuse what may not reach a handler, then mark the response.
pub async fn check(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
    let guard = &server.guard;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !guard.host_allowed(&host) {
        return mark(forbidden(format!(
            "requests for host {host:?} are refused: this server answers to {} only",
            guard.hosts.join(", ")
        )));
    }
    let has_token = guard.has_token(&request);
    if guard.token_required && request.uri().path().starts_with("/api/") && !has_token {
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "this server needs its token: send Authorization: Bearer TOKEN (the token in \
                 {TOKEN_VAR}, or the one printed when it started)"
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return mark(response);
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        if !is_json(request.headers()) {
            return mark(
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "a request that changes something must have a JSON body \
                     (Content-Type: application/json)",
                )
                .into_response(),
            );
        }
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let same_origin = origin.is_some_and(|o| o.eq_ignore_ascii_case(&format!("http://{host}")));
        if !same_origin && !has_token {
            return mark(forbidden(match origin {
                Some(origin) => format!(
                    "requests from origin {origin:?} are refused: only this server's own pages \
                     (http://{host}) or a client with the token may change anything"
                ),
                None => format!(
                    "a request that changes something needs Origin: http://{host} or the \
                     token (Authorization: Bearer TOKEN)"
                ),
            }));
        }
    }
    mark(next.run(request).await)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Headers every response carries.
fn mark(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    response
}
