//! Request logging like poem's `Tracing`, with secrets taken out of the logged URI: the
//! Subsonic credentials in the query (`p`, `t`, `s`, `apiKey`) and share tokens in paths
//! (`/s/<token>`), so no log line can be replayed.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

#[derive(Default)]
pub struct RedactedTracing;

impl<E: Endpoint> Middleware<E> for RedactedTracing {
    type Output = RedactedTracingEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RedactedTracingEndpoint { inner: ep }
    }
}

pub struct RedactedTracingEndpoint<E> {
    inner: E,
}

/// The path and query as they may be logged.
pub fn redacted_uri(uri: &http::Uri) -> String {
    let path = uri.path();
    let path = match path.strip_prefix("/s/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, tail)) => format!("/s/***/{tail}"),
            None => "/s/***".to_string(),
        },
        None => path.to_string(),
    };
    match uri.query() {
        Some(q) => format!("{path}?{}", crate::subsonic::params::redact_query(q)),
        None => path,
    }
}

impl<E: Endpoint> Endpoint for RedactedTracingEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let path = req.original_uri().path().to_string();
        let span = tracing::info_span!(
            "request",
            remote_addr = %req.remote_addr(),
            version = ?req.version(),
            method = %req.method(),
            uri = %redacted_uri(req.original_uri()),
        );
        async move {
            let now = Instant::now();
            let res = self.inner.call(req).await;
            let duration = now.elapsed();
            match res {
                Ok(resp) => {
                    let resp = resp.into_response();
                    crate::metrics::http_request(&path, resp.status().as_u16(), duration);
                    tracing::info!(status = %resp.status(), duration = ?duration, "response");
                    Ok(resp)
                }
                Err(err) => {
                    crate::metrics::http_request(&path, err.status().as_u16(), duration);
                    tracing::info!(status = %err.status(), error = %err, duration = ?duration, "error");
                    Err(err)
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_leave_logged_uris() {
        let uri: http::Uri = "/rest/ping.view?u=ann&t=abc&s=xyz&v=1.16.1&c=app"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_uri(&uri),
            "/rest/ping.view?u=ann&t=***&s=***&v=1.16.1&c=app"
        );
        let uri: http::Uri = "/rest/stream?apiKey=k123&id=s1".parse().unwrap();
        assert_eq!(redacted_uri(&uri), "/rest/stream?apiKey=***&id=s1");
        let uri: http::Uri = "/s/tok3n/stream/abc".parse().unwrap();
        assert_eq!(redacted_uri(&uri), "/s/***/stream/abc");
        let uri: http::Uri = "/s/tok3n".parse().unwrap();
        assert_eq!(redacted_uri(&uri), "/s/***");
    }
}
