//! The HTTP transport (poem): every route, the blob streams, the public share page, the embedded
//! UI and the bridge that hands `/socket.io/` to socketioxide on the same port.

pub mod bridge;
pub mod log;
pub mod share_page;
pub mod streams;
pub mod web;

use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{App, AppState};
use crate::error::{AppError, ok_envelope};
use bridge::SocketIoEndpoint;

/// An [`AppError`] as an HTTP response: the same envelope as Socket.IO acks.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HttpError(pub AppError);

impl poem::error::ResponseError for HttpError {
    fn status(&self) -> http::StatusCode {
        self.0.http_status()
    }

    fn as_response(&self) -> Response {
        let mut resp = Json(self.0.envelope())
            .with_status(self.0.http_status())
            .into_response();
        if let AppError::RateLimited { retry_after_secs } = self.0
            && let Ok(v) = http::HeaderValue::from_str(&retry_after_secs.to_string())
        {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<AppError> for HttpError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

type HttpResult = Result<Response, HttpError>;

fn ok(data: impl serde::Serialize) -> HttpResult {
    Ok(Json(ok_envelope(data)).into_response())
}

/// The object store's origin when playback URLs point there (S3 presigned), for the CSP.
fn media_origin(cfg: &crate::config::Config) -> String {
    if cfg.storage.backend != crate::config::StorageBackend::S3 {
        return String::new();
    }
    let endpoint = cfg.storage.s3.endpoint.trim_end_matches('/');
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    };
    match with_scheme.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => String::new(),
    }
}

pub fn routes(app: App, socket_io: SocketIoEndpoint) -> impl poem::Endpoint {
    let media_origin = media_origin(&app.cfg);
    Route::new()
        .at("/api/health", get(health))
        .at("/metrics", get(metrics))
        .at("/api/auth/login", post(login))
        .nest("/api", api_not_found)
        .nest_no_strip("/socket.io", socket_io)
        .at(
            "/stream/:song_id",
            get(streams::stream_song).head(streams::stream_song),
        )
        .at("/art/:name", get(streams::art).head(streams::art))
        .at(
            "/rest/:method",
            get(crate::subsonic::endpoint).post(crate::subsonic::endpoint),
        )
        .at("/s/:token", get(share_page::page))
        .at("/s/:token/art", get(share_page::art))
        .at(
            "/s/:token/stream/:id",
            get(share_page::stream).head(share_page::stream),
        )
        .at("/", get(web::index))
        .at("/*path", get(web::static_file))
        .data(app)
        .with(web::SecurityHeaders::new(&media_origin))
        .with(log::RedactedTracing)
}

/// Prometheus scrape: 404 when `[metrics]` is off, 401 without the configured bearer token.
#[handler]
async fn metrics(Data(app): Data<&App>, req: &poem::Request) -> poem::Response {
    use poem::http::StatusCode;
    let Some(handle) = &app.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let token = &app.cfg.metrics.token;
    if !token.is_empty() {
        let sent = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let matches = sent.is_some_and(|s| {
            use sha2::Digest;
            // Compared as digests: the time taken says nothing about the token.
            sha2::Sha256::digest(s.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
        });
        if !matches {
            return poem::Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("WWW-Authenticate", "Bearer")
                .finish();
        }
    }
    let body = crate::metrics::render(handle, app.songs.count(), app.plugins.as_ref());
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

#[handler]
async fn api_not_found() -> HttpResult {
    Err(HttpError(AppError::NotFound("route")))
}

/// How long health waits for the storage check: it answers within a second whatever the storage
/// does (a hanging S3 makes it `degraded`, it does not hang it).
const HEALTH_STORAGE_WAIT: std::time::Duration = std::time::Duration::from_millis(800);

#[handler]
async fn health(Data(app): Data<&App>) -> Json<Value> {
    let storage = match tokio::time::timeout(HEALTH_STORAGE_WAIT, app.blobs.health()).await {
        Ok(health) => health,
        Err(_) => chillfi_storage::Health {
            backend: app.blobs.backend(),
            ok: false,
            detail: format!(
                "no answer from the storage within {} ms",
                HEALTH_STORAGE_WAIT.as_millis()
            ),
        },
    };
    let degraded: Vec<&str> = if storage.ok { vec![] } else { vec!["storage"] };
    Json(json!({
        "status": if degraded.is_empty() { "ok" } else { "degraded" },
        "degraded": degraded,
        "version": AppState::version(),
        "uptimeSecs": app.started.elapsed().as_secs(),
        "storage": storage,
        "songs": app.songs.count(),
    }))
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

#[handler]
async fn login(req: &Request, Data(app): Data<&App>, body: poem::Body) -> HttpResult {
    let bytes = body
        .into_bytes_limit(64 * 1024)
        .await
        .map_err(|_| AppError::TooLarge("a login request is at most 64 KiB".into()))?;
    let body: LoginBody = serde_json::from_slice(&bytes)
        .map_err(|e| crate::error::payload_error_text(&e.to_string()))?;
    let ip = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let (user, token) = app
        .auth
        .login(&app.users, &body.username, body.password, ip)
        .await?;
    ok(json!({ "token": token.token, "expiresAt": token.expires_at, "user": user.view() }))
}
