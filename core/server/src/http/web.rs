//! The browser UI, built by Vite into `web/dist` and embedded in the binary (release builds;
//! debug builds read the folder at run time). Hashed files under `/assets/` never change, so
//! they are cached forever; `index.html` is revalidated on every load so upgrades show at once.

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, handler};

#[derive(rust_embed::RustEmbed)]
// Relative to this crate's manifest (rust-embed does not expand $CARGO_MANIFEST_DIR without a
// feature, and `allow_missing` would hide the mistake).
#[folder = "../../web/dist"]
#[allow_missing = true]
struct WebDist;

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>ChillFi</title>\
<p>The web UI was not built into this binary. Build it with <code>npm ci && npm run build</code> \
in <code>web/</code> and rebuild the server.</p>";

fn asset(path: &str, cache: &'static str) -> Option<Response> {
    let file = WebDist::get(path)?;
    let mime = file.metadata.mimetype().to_string();
    Some(
        Response::builder()
            .header(http::header::CONTENT_TYPE, mime)
            .header(http::header::CACHE_CONTROL, cache)
            .body(file.data.into_owned()),
    )
}

#[handler]
pub async fn index() -> Response {
    index_page()
}

fn index_page() -> Response {
    asset("index.html", "no-cache").unwrap_or_else(|| {
        Response::builder()
            .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(http::header::CACHE_CONTROL, "no-cache")
            .body(NOT_BUILT)
    })
}

/// `/assets/*` (content-hashed by Vite) and the few unhashed top-level files (icons, manifest).
#[handler]
pub async fn static_file(req: &Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    // poem routes `/` to the catch-all too.
    if path.is_empty() {
        return index_page();
    }
    // rust-embed only knows the files it embedded; `..` or absolute paths simply match nothing.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    asset(path, cache).unwrap_or_else(|| http::StatusCode::NOT_FOUND.into_response())
}

/// Adds the Content-Security-Policy and related headers to every response, errors included
/// (404s and 405s of the router, rejected extractors and handler errors are turned into their
/// responses here, so that none leaves without the headers).
pub struct SecurityHeaders {
    csp: String,
}

impl SecurityHeaders {
    /// `extra_media_origin` is the object store's origin when playback URLs point there
    /// (S3 presigned URLs); empty otherwise.
    pub fn new(extra_media_origin: &str) -> Self {
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
             media-src 'self' blob: {extra_media_origin}; connect-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        Self { csp }
    }
}

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        SecurityHeadersEndpoint {
            inner: ep,
            csp: self.csp.clone(),
        }
    }
}

pub struct SecurityHeadersEndpoint<E> {
    inner: E,
    csp: String,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => err.into_response(),
        };
        let headers = resp.headers_mut();
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                headers.entry(name).or_insert(v);
            }
        };
        set("content-security-policy", &self.csp);
        set("x-content-type-options", "nosniff");
        set("referrer-policy", "same-origin");
        set("x-frame-options", "DENY");
        Ok(resp)
    }
}
