//! Serves socketioxide inside poem on the same port.
//!
//! Long-polling requests are converted and passed to the socketioxide service. WebSocket
//! upgrades cannot go the same way: poem keeps hyper's upgrade handle, so socketioxide would
//! answer 101 and then hear nothing. Instead this endpoint answers 101 itself, takes the
//! upgraded connection from poem and hands it, with the original request head, to socketioxide.

use std::net::IpAddr;

use base64::Engine;
use engineioxide::service::NotFoundService;
use http_body_util::BodyExt;
use hyper::service::Service as _;
use poem::{Endpoint, Request, Response};
use sha1::{Digest, Sha1};
use socketioxide::service::SocketIoService;

/// The peer address, put into the request extensions Socket.IO handlers can read.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub struct SocketIoEndpoint {
    svc: SocketIoService<NotFoundService>,
}

impl SocketIoEndpoint {
    pub fn new(svc: SocketIoService<NotFoundService>) -> Self {
        Self { svc }
    }
}

fn is_websocket_upgrade(req: &Request) -> bool {
    let has = |name: http::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
        })
    };
    has(http::header::CONNECTION, "upgrade") && has(http::header::UPGRADE, "websocket")
}

fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

impl Endpoint for SocketIoEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let client_ip = req.remote_addr().as_socket_addr().map(|a| ClientIp(a.ip()));
        if is_websocket_upgrade(&req) {
            let Some(key) = req.headers().get(http::header::SEC_WEBSOCKET_KEY).cloned() else {
                return Ok(Response::builder()
                    .status(http::StatusCode::BAD_REQUEST)
                    .body("missing Sec-WebSocket-Key"));
            };
            let on_upgrade = req.take_upgrade().map_err(|e| {
                poem::Error::from_string(e.to_string(), http::StatusCode::BAD_REQUEST)
            })?;
            let mut head = http::Request::builder()
                .method(req.method().clone())
                .uri(req.uri().clone())
                .version(req.version())
                .body(())
                .map_err(|e| {
                    poem::Error::from_string(e.to_string(), http::StatusCode::BAD_REQUEST)
                })?;
            *head.headers_mut() = req.headers().clone();
            if let Some(ip) = client_ip {
                head.extensions_mut().insert(ip);
            }
            let svc = self.svc.clone();
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(io) => {
                        if let Err(e) = svc.call((io, head)).await {
                            tracing::debug!("websocket handshake refused: {e}");
                        }
                    }
                    Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
                }
            });
            return Ok(Response::builder()
                .status(http::StatusCode::SWITCHING_PROTOCOLS)
                .header(http::header::CONNECTION, "Upgrade")
                .header(http::header::UPGRADE, "websocket")
                .header(
                    http::header::SEC_WEBSOCKET_ACCEPT,
                    accept_key(key.as_bytes()),
                )
                .finish());
        }

        let mut http_req: http::Request<
            http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>,
        > = req.into();
        if let Some(ip) = client_ip {
            http_req.extensions_mut().insert(ip);
        }
        let resp = match self.svc.call(http_req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        let (parts, body) = resp.into_parts();
        let body = body
            .map_err(|never| -> std::io::Error { match never {} })
            .boxed();
        Ok(Response::from(http::Response::from_parts(parts, body)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_key_matches_rfc6455_example() {
        assert_eq!(
            super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
