//! Socket.IO: connection auth, the request/ack envelope, and session upkeep.
//!
//! Every request event goes through [`on`]: it checks access against the user as stored *now*
//! (so revocation and demotion take effect on the next call), parses the payload, runs the
//! handler and acks one envelope. Anything else a client emits gets `invalid`.

mod auth_events;
mod library_events;
mod playlist_events;
mod plugin_events;
pub mod pushes;
mod subsonic_events;
mod upload_events;

use pushes::{LIBRARY_ROOM, user_room};

use std::future::Future;
use std::time::Duration;

use engineioxide::service::NotFoundService;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::service::SocketIoService;
use socketioxide::{ParserConfig, SocketIo};

use crate::app::App;
use crate::error::{AppError, AppResult, Code, ok_envelope, payload_error_text};
use crate::http::bridge::ClientIp;
use crate::service::auth::Claims;
use crate::store::db::now_secs;
use crate::store::songs::SongView;
use crate::store::users::User;

/// Who may call an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anyone,
    User,
    Admin,
}

/// The signed-in identity of a socket, kept in its extensions.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub generation: u64,
    pub jti: String,
    pub expires_at: i64,
}

impl From<&Claims> for Session {
    fn from(c: &Claims) -> Self {
        Self {
            user_id: c.sub.clone(),
            generation: c.generation,
            jti: c.jti.clone(),
            expires_at: c.exp,
        }
    }
}

/// What a handler gets: the app, its socket, and the caller (when the event needs one).
pub struct Ctx {
    pub app: App,
    pub socket: SocketRef,
    pub user: Option<User>,
}

impl Ctx {
    pub fn user(&self) -> AppResult<&User> {
        self.user.as_ref().ok_or(AppError::Unauthenticated)
    }

    /// Song views with the caller's stars and ratings (a push carries none: they are per user).
    pub fn marked(&self, mut views: Vec<SongView>) -> AppResult<Vec<SongView>> {
        self.app.marks.fill(&self.user()?.id, &mut views)?;
        Ok(views)
    }

    pub fn client_ip(&self) -> Option<std::net::IpAddr> {
        self.socket
            .req_parts()
            .extensions
            .get::<ClientIp>()
            .map(|c| c.0)
    }
}

/// The largest message the protocol needs: one upload chunk, plus room for its JSON envelope.
pub const MAX_MESSAGE: usize = crate::service::ingest::upload::MAX_CHUNK as usize + 64 * 1024;

/// The Socket.IO layer. Every incoming message is bounded by what the protocol needs (see
/// [`MAX_MESSAGE`]), so that a socket, anonymous ones included, can make the server hold at most
/// about that much: a bigger WebSocket message or frame closes the socket (code 1009) before its
/// payload is read; a polling body may hold one chunk in base64.
pub fn build() -> (SocketIoService<NotFoundService>, SocketIo) {
    SocketIo::builder()
        .max_payload((MAX_MESSAGE / 3 * 4 + 64 * 1024) as u64)
        .ws_max_message_size(MAX_MESSAGE)
        .ws_max_frame_size(MAX_MESSAGE)
        .with_parser(ParserConfig::common().max_incoming_binary_buf_size(MAX_MESSAGE))
        .build_svc()
}

/// Registers the namespace handler and starts session upkeep. The returned task uses the
/// Socket.IO layer: stop it (abort) before closing the layer at shutdown.
pub fn register(app: &App) -> tokio::task::JoinHandle<()> {
    let prepare_app = app.clone();
    let greet_app = app.clone();
    let greet = move |socket: SocketRef| {
        let app = greet_app.clone();
        async move { greet(&app, &socket) }
    };
    // socketioxide tells the client it is connected after the middleware and before it runs the
    // handler, on a task of its own: the request handlers are registered in the middleware so
    // that a request sent the moment the client hears `connect` always finds them.
    app.io.ns(
        "/",
        greet.with(
            move |socket: SocketRef, TryData(auth): TryData<HandshakeAuth>| {
                let app = prepare_app.clone();
                async move {
                    prepare(&app, &socket, auth.ok());
                    Ok::<(), std::convert::Infallible>(())
                }
            },
        ),
    );
    let sweep_app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            sweep_sessions(&sweep_app);
        }
    })
}

#[derive(Debug, Deserialize)]
struct HandshakeAuth {
    token: Option<String>,
}

/// The handshake's token was refused: said in the greeting.
#[derive(Clone, Copy)]
struct InvalidHandshakeToken;

/// Before the client hears `connect`: the handshake's session and every request handler.
fn prepare(app: &App, socket: &SocketRef, auth: Option<HandshakeAuth>) {
    // Every socket is in a room named by its id (as in socket.io), so a push can leave out the
    // socket whose request caused it (see `pushes::emit`).
    socket.join(socket.id.to_string());
    let token = auth.and_then(|a| a.token).filter(|t| !t.is_empty());
    if let Some(token) = token {
        match app.auth.verify(&app.users, &token) {
            Ok((user, claims)) => attach_session(socket, &user, &claims),
            Err(_) => {
                socket.extensions.insert(InvalidHandshakeToken);
            }
        }
    }
    auth_events::register(app, socket);
    upload_events::register(app, socket);
    library_events::register(app, socket);
    playlist_events::register(app, socket);
    plugin_events::register(app, socket);
    subsonic_events::register(app, socket);
    socket.on_fallback(|Event(event): Event, ack: AckSender| async move {
        let err = AppError::invalid(format!("unknown event '{event}'"));
        let _ = ack.send(&err.envelope());
    });
}

/// Once connected: the greeting clients wait for (the session the handshake gave, if any).
fn greet(app: &App, socket: &SocketRef) {
    crate::metrics::socket_opened();
    socket.on_disconnect(|| async { crate::metrics::socket_closed() });
    let reason = socket
        .extensions
        .remove::<InvalidHandshakeToken>()
        .map(|_| "invalid_token");
    let user = current_user(app, socket).ok().flatten();
    let _ = socket.emit(
        "auth:session",
        &json!({ "user": user.map(|u| u.view()), "reason": reason }),
    );
}

pub fn attach_session(socket: &SocketRef, user: &User, claims: &Claims) {
    socket.extensions.insert(Session::from(claims));
    socket.join(user_room(&user.id));
    socket.join(LIBRARY_ROOM);
}

pub fn detach_session(socket: &SocketRef) {
    if let Some(session) = socket.extensions.remove::<Session>() {
        socket.leave(user_room(&session.user_id));
        socket.leave(LIBRARY_ROOM);
    }
}

/// The socket's user if its session is still valid; `Ok(None)` for anonymous sockets.
fn current_user(app: &App, socket: &SocketRef) -> AppResult<Option<User>> {
    let Some(session) = socket.extensions.get::<Session>() else {
        return Ok(None);
    };
    let valid = |user: &User| -> AppResult<bool> {
        Ok(user.token_generation == session.generation
            && session.expires_at > now_secs()
            && !app.users.is_token_revoked(&session.jti)?)
    };
    match app.users.get(&session.user_id)? {
        Some(user) if valid(&user)? => Ok(Some(user)),
        _ => {
            detach_session(socket);
            Err(AppError::Unauthenticated)
        }
    }
}

fn authorize(app: &App, socket: &SocketRef, access: Access) -> AppResult<Option<User>> {
    let user = match current_user(app, socket) {
        Ok(user) => user,
        Err(e) if access == Access::Anyone => {
            let _ = e;
            None
        }
        Err(e) => return Err(e),
    };
    match (access, &user) {
        (Access::Anyone, _) => Ok(user),
        (_, None) => Err(AppError::Unauthenticated),
        (Access::Admin, Some(u)) if !u.is_admin => Err(AppError::Forbidden(
            "only an administrator can do that".into(),
        )),
        _ => Ok(user),
    }
}

/// Registers a request event: access check, payload parsing, one ack envelope.
pub fn on<P, F, Fut, R>(
    app: &App,
    socket: &SocketRef,
    event: &'static str,
    access: Access,
    handler: F,
) where
    P: DeserializeOwned + Send + Sync + 'static,
    F: Fn(Ctx, P) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = AppResult<R>> + Send + 'static,
    R: Serialize,
{
    let app = app.clone();
    socket.on(
        event,
        move |socket: SocketRef, TryData(data): TryData<P>, ack: AckSender| {
            let app = app.clone();
            let handler = handler.clone();
            async move {
                let result = async {
                    let user = authorize(&app, &socket, access)?;
                    let payload = match data {
                        Ok(payload) => payload,
                        // An emit without arguments is treated as an empty object.
                        Err(e) if e.to_string().contains("first element not found") => {
                            serde_json::from_value(json!({}))
                                .map_err(|e| payload_error_text(&e.to_string()))?
                        }
                        Err(e) => return Err(payload_error_text(&e.to_string())),
                    };
                    handler(Ctx { app, socket, user }, payload).await
                }
                .await;
                let envelope = match result {
                    Ok(data) => {
                        crate::metrics::socket_request(event, "ok");
                        ok_envelope(data)
                    }
                    Err(e) => {
                        crate::metrics::socket_request(event, e.code().as_str());
                        log_refusal(event, &e);
                        e.envelope()
                    }
                };
                // A client that emitted without a callback simply gets no answer.
                let _ = ack.send(&envelope);
            }
        },
    );
}

/// Requests refused for who sent them are worth a line: they show probing and broken clients.
fn log_refusal(event: &str, e: &AppError) {
    let code = e.code();
    if matches!(
        code,
        Code::Unauthenticated | Code::Forbidden | Code::RateLimited
    ) {
        tracing::info!(event, code = code.as_str(), "socket request refused");
    }
}

/// Drops sockets of a user (all of them, or those holding one token).
pub fn disconnect_user(
    app: &App,
    user_id: &str,
    only_jti: Option<&str>,
    except: Option<&SocketRef>,
) {
    // The namespace is gone once the layer is closed (shutdown): nobody left to disconnect.
    let Some(ns) = app.io.of("/") else { return };
    for socket in ns.to(user_room(user_id)).sockets() {
        if except.is_some_and(|e| e.id == socket.id) {
            continue;
        }
        let holds = socket
            .extensions
            .get::<Session>()
            .is_some_and(|s| s.user_id == user_id && only_jti.is_none_or(|jti| s.jti == jti));
        if holds {
            let _ = socket.emit("auth:revoked", &json!({}));
            let _ = socket.disconnect();
        }
    }
}

/// Disconnects sockets whose session became invalid (user deleted, token revoked or expired)
/// and pushes a fresh token to sockets whose token is about to expire.
fn sweep_sessions(app: &App) {
    let window = (app.auth.config().refresh_window_hours as i64) * 3600;
    // `SocketIo::sockets` panics once the layer is closed; the namespace lookup does not.
    let Some(ns) = app.io.of("/") else { return };
    for socket in ns.sockets() {
        let Some(session) = socket.extensions.get::<Session>() else {
            continue;
        };
        match current_user(app, &socket) {
            Ok(Some(user)) if session.expires_at - now_secs() < window => {
                if let Ok(issued) = app.auth.issue(&user)
                    && let Ok((_, claims)) = app.auth.verify(&app.users, &issued.token)
                {
                    socket.extensions.insert(Session::from(&claims));
                    let _ = socket.emit("auth:tokenRefresh", &issued);
                }
            }
            Ok(_) => {}
            Err(_) => {
                let _ = socket.emit("auth:revoked", &json!({}));
                let _ = socket.disconnect();
            }
        }
    }
}
