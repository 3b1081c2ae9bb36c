//! Prometheus metrics (`GET /metrics`, `[metrics]`): the recorder, the series recorded where
//! things happen (HTTP middleware, the Socket.IO `on` helper, an ingest reporter), and the
//! gauges read at scrape time (library size, plugins, build info).

use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::service::ingest::{Job, Outcome, Reporter};
use crate::store::db::now_secs;

/// Installs the process-wide recorder; `None` when metrics are off (the macros then cost
/// nearly nothing) or a recorder exists already.
pub fn install(enabled: bool) -> Option<PrometheusHandle> {
    if !enabled {
        return None;
    }
    // Histograms with buckets (a summary's quantiles cannot be aggregated across scrapes).
    const BUCKETS: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ];
    let builder = match PrometheusBuilder::new().set_buckets(BUCKETS) {
        Ok(builder) => builder,
        Err(e) => {
            tracing::warn!("metrics are off: {e}");
            return None;
        }
    };
    match builder.install_recorder() {
        Ok(handle) => {
            metrics::describe_counter!(
                "chillfi_http_requests_total",
                "HTTP requests by route and status"
            );
            metrics::describe_histogram!(
                "chillfi_http_request_duration_seconds",
                metrics::Unit::Seconds,
                "HTTP request latency by route"
            );
            metrics::describe_counter!(
                "chillfi_socketio_requests_total",
                "Socket.IO requests by event and answer code"
            );
            metrics::describe_gauge!("chillfi_sockets_open", "Socket.IO connections open now");
            metrics::describe_counter!(
                "chillfi_ingest_jobs_total",
                "Finished ingest jobs by outcome"
            );
            metrics::describe_histogram!(
                "chillfi_ingest_job_duration_seconds",
                metrics::Unit::Seconds,
                "Time from queueing to the end of an ingest job"
            );
            Some(handle)
        }
        Err(e) => {
            tracing::warn!("metrics are off: {e}");
            None
        }
    }
}

/// A bounded label for a request path: the route, never the path's tokens or ids.
pub fn route_label(path: &str) -> &'static str {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next().unwrap_or(""), parts.next()) {
        ("", _) => "/",
        ("api", Some("health")) => "/api/health",
        ("api", Some("auth")) => "/api/auth/login",
        ("api", _) => "/api/other",
        ("socket.io", _) => "/socket.io",
        ("stream", _) => "/stream/:song_id",
        ("art", _) => "/art/:name",
        ("rest", _) => "/rest/:method",
        ("s", _) => match parts.next() {
            None => "/s/:token",
            Some("art") => "/s/:token/art",
            Some(_) => "/s/:token/stream/:id",
        },
        ("share", _) => "/share/*",
        ("assets", _) => "/assets/*",
        ("metrics", _) => "/metrics",
        _ => "/*path",
    }
}

pub fn http_request(path: &str, status: u16, took: Duration) {
    let route = route_label(path);
    counter!("chillfi_http_requests_total", "route" => route, "status" => status.to_string())
        .increment(1);
    histogram!("chillfi_http_request_duration_seconds", "route" => route).record(took);
}

pub fn socket_request(event: &'static str, code: &'static str) {
    counter!("chillfi_socketio_requests_total", "event" => event, "code" => code).increment(1);
}

pub fn socket_opened() {
    gauge!("chillfi_sockets_open").increment(1.0);
}

pub fn socket_closed() {
    gauge!("chillfi_sockets_open").decrement(1.0);
}

/// Counts ingest jobs by outcome and how long they took from queueing.
pub struct IngestMetrics;

impl Reporter for IngestMetrics {
    fn stage(&self, _job: &Job, _stage: &str) {}

    fn finished(&self, job: &Job, outcome: &Outcome) {
        let outcome = match outcome {
            Outcome::Added(..) => "added",
            Outcome::Duplicate(_) => "duplicate",
            Outcome::Failed(_) => "failed",
            Outcome::Cancelled => "cancelled",
        };
        counter!("chillfi_ingest_jobs_total", "outcome" => outcome).increment(1);
        let secs = (now_secs() - job.queued_at).max(0) as f64;
        histogram!("chillfi_ingest_job_duration_seconds", "outcome" => outcome).record(secs);
    }
}

/// Gauges read at scrape time, then the whole exposition.
pub fn render(
    handle: &PrometheusHandle,
    songs: usize,
    plugins: Option<&chillfi_plugin_host::PluginHost>,
) -> String {
    gauge!("chillfi_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    gauge!("chillfi_library_songs").set(songs as f64);
    for p in plugins.map(|h| h.list()).unwrap_or_default() {
        let enabled = p.state.as_str() == "enabled";
        gauge!("chillfi_plugin_enabled", "plugin" => p.name.clone()).set(if enabled {
            1.0
        } else {
            0.0
        });
        gauge!("chillfi_plugin_consecutive_faults", "plugin" => p.name.clone())
            .set(f64::from(p.consecutive_faults));
    }
    handle.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_never_carry_tokens_or_ids() {
        assert_eq!(
            route_label("/s/SECRETtoken123/stream/abc"),
            "/s/:token/stream/:id"
        );
        assert_eq!(route_label("/s/SECRETtoken123"), "/s/:token");
        assert_eq!(route_label("/rest/ping.view"), "/rest/:method");
        assert_eq!(route_label("/stream/0123"), "/stream/:song_id");
        assert_eq!(route_label("/"), "/");
        assert_eq!(route_label("/anything/else"), "/*path");
    }
}
