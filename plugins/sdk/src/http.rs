//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! Every request (and every redirect [`get`] follows) is checked by the server against the
//! hosts the administrator granted; refusals come back as [`Error::Denied`].

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;

/// Redirects [`get`] follows.
pub const MAX_REDIRECTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The URL is not `http(s)://host[:port]/...`.
    BadUrl(String),
    /// The server refused the request: host not granted, not a public address, rate limit.
    Denied(String),
    /// Anything else: connection, timeout, a body over the cap, too many redirects.
    Failed(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadUrl(m) => write!(f, "bad URL: {m}"),
            Error::Denied(m) => write!(f, "request refused by the server: {m}"),
            Error::Failed(m) => write!(f, "request failed: {m}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The URL that answered (after redirects).
    pub url: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Url<'a> {
    https: bool,
    authority: &'a str,
    path: &'a str,
}

fn parse(url: &str) -> Result<Url<'_>, Error> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(Error::BadUrl(format!("{url}: only http and https")));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(Error::BadUrl(format!("{url}: no host")));
    }
    Ok(Url {
        https,
        authority,
        path,
    })
}

fn code(e: ErrorCode) -> Error {
    match e {
        ErrorCode::HttpRequestDenied => Error::Denied("host not granted".into()),
        ErrorCode::DestinationIpProhibited => Error::Denied("not a public address".into()),
        ErrorCode::ConnectionLimitReached => Error::Denied("rate limit".into()),
        other => Error::Failed(format!("{other:?}")),
    }
}

/// One GET, no redirects followed.
pub fn get_once(url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
    let u = parse(url)?;
    let fields = Fields::new();
    for (k, v) in headers {
        fields
            .append(k, v.as_bytes())
            .map_err(|e| Error::BadUrl(format!("header {k}: {e:?}")))?;
    }
    let req = OutgoingRequest::new(fields);
    let set =
        |ok: Result<(), ()>, what: &str| ok.map_err(|()| Error::BadUrl(format!("{url}: {what}")));
    set(req.set_method(&Method::Get), "method")?;
    set(
        req.set_scheme(Some(if u.https {
            &Scheme::Https
        } else {
            &Scheme::Http
        })),
        "scheme",
    )?;
    set(req.set_authority(Some(u.authority)), "host")?;
    set(req.set_path_with_query(Some(u.path)), "path")?;
    let pending = outgoing_handler::handle(req, None).map_err(code)?;
    let resp = loop {
        match pending.get() {
            Some(r) => break r,
            None => pending.subscribe().block(),
        }
    };
    let resp = resp
        .map_err(|()| Error::Failed("response already taken".into()))?
        .map_err(code)?;
    let status = resp.status();
    let headers = resp
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let body = resp
        .consume()
        .map_err(|()| Error::Failed("no body".into()))?;
    let mut buf = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| Error::Failed("no body stream".into()))?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => buf.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    let detail = crate::bindings::wasi::http::types::http_error_code(&e)
                        .map(|c| format!("{:?}", code(c)))
                        .unwrap_or_else(|| e.to_debug_string());
                    return Err(Error::Failed(format!("reading the body: {detail}")));
                }
            }
        }
    }
    let _trailers = IncomingBody::finish(body);
    Ok(Response {
        status,
        headers,
        body: buf,
        url: url.to_string(),
    })
}

/// GET following up to [`MAX_REDIRECTS`] redirects (each one checked by the server again).
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let r = get_once(&url, headers)?;
        if !matches!(r.status, 301 | 302 | 303 | 307 | 308) {
            return Ok(r);
        }
        let Some(location) = r.header("location") else {
            return Ok(r);
        };
        url = resolve(&url, location)?;
    }
    Err(Error::Failed(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// `location` against `base` (absolute URL, absolute path or relative path).
fn resolve(base: &str, location: &str) -> Result<String, Error> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_string());
    }
    let u = parse(base)?;
    let origin = format!(
        "{}://{}",
        if u.https { "https" } else { "http" },
        u.authority
    );
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!(
            "{}://{rest}",
            if u.https { "https" } else { "http" }
        ));
    }
    if location.starts_with('/') {
        return Ok(format!("{origin}{location}"));
    }
    let dir = u.path.split('?').next().unwrap_or("/");
    let dir = &dir[..dir.rfind('/').map_or(0, |i| i + 1)];
    Ok(format!("{origin}{dir}{location}"))
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
