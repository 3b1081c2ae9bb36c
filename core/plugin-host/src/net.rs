//! Outgoing HTTP for plugins (`wasi:http/outgoing-handler`, WIT 0.2.0 enrichers): the one
//! policy every request passes, and the connection that carries it.
//!
//! A request goes out only when all of these hold, checked in this order:
//! 1. the plugin holds a grant (plugin.toml asks for `capabilities = ["http"]` and lists
//!    `allowed-hosts`; an administrator enabled it, which grants them);
//! 2. the scheme is http or https and the host matches a granted pattern;
//! 3. the plugin's rate limit has a slot within the call's remaining time;
//! 4. every address the name resolves to is public (no loopback, private, link-local,
//!    shared, multicast, reserved or cloud-metadata address). A pattern that is an IP
//!    literal is the administrator naming that address, so it may be private; the metadata,
//!    multicast and unspecified addresses are refused even then.
//!
//! The connection goes to the address that was checked (no second lookup, so a name cannot
//! be re-pointed between check and connect). Redirects are not followed here: the guest
//! sees the 3xx and its next request is checked like the first. The response body is capped
//! and every wait is bounded by the request timeout and the call's deadline. The
//! `User-Agent` names ChillFi and the plugin.

use bytes::Bytes;
use http::uri::Scheme;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Limits on a plugin's outgoing requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Budget of one request, from connect to the last body byte (default 10 s).
    pub request_timeout: Duration,
    /// Cap on one response body (default 4 MiB).
    pub max_body_bytes: u64,
    /// Time between two requests of one plugin (default 1 s: MusicBrainz's etiquette).
    pub min_interval: Duration,
    /// Budget of one call of an enricher that holds an HTTP grant (default 30 s).
    pub call_deadline: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 4 << 20,
            min_interval: Duration::from_secs(1),
            call_deadline: Duration::from_secs(30),
        }
    }
}

/// One entry of `allowed-hosts`: `musicbrainz.org`, `*.archive.org` (any subdomain),
/// `192.168.1.20` or `[::1]`, each optionally with `:port` (else any port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.example.org` stored as `.example.org`.
    Subdomain(String),
    Ip(IpAddr),
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let bad = |why: &str| Err(format!("allowed host {text:?}: {why}"));
        let t = text.trim().to_ascii_lowercase();
        if t.is_empty() || t.len() > 253 {
            return bad("empty or too long");
        }
        if t.contains("://") || t.contains('/') || t.contains('@') {
            return bad("give a host name (optionally :port), not a URL");
        }
        let (host, port) =
            split_host_port(&t).ok_or_else(|| format!("allowed host {text:?}: bad port"))?;
        let host = if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            HostMatch::Ip(ip)
        } else if let Some(rest) = host.strip_prefix("*.") {
            if !valid_dns_name(rest) || !rest.contains('.') {
                return bad(
                    "a wildcard needs a domain with at least two labels, e.g. *.archive.org",
                );
            }
            HostMatch::Subdomain(format!(".{rest}"))
        } else if valid_dns_name(host) {
            HostMatch::Exact(host.to_string())
        } else {
            return bad("not a host name");
        };
        Ok(HostPattern {
            host,
            port,
            text: t,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.host {
            HostMatch::Exact(h) => h == host,
            HostMatch::Subdomain(suffix) => host.ends_with(suffix.as_str()),
            HostMatch::Ip(ip) => host.trim_matches(['[', ']']).parse::<IpAddr>().ok() == Some(*ip),
        }
    }
}

fn split_host_port(t: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = t.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((h, Some(p.parse().ok()?))),
            None if after.is_empty() => Some((h, None)),
            None => None,
        };
    }
    match t.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((h, _)) if h.contains(':') => Some((t, None)),
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((t, None)),
    }
}

fn valid_dns_name(h: &str) -> bool {
    !h.is_empty()
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// True for addresses on the public internet. Everything a plugin could use to reach the
/// machine itself, the LAN or a cloud's metadata service is not.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = a.segments();
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: an IPv4 address inside
                || (s[0] == 0x2002) // 6to4: an IPv4 address inside
                || (s[0] == 0x2001 && s[1] == 0)) // Teredo
        }
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local() // 169.254/16, the metadata service among them
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_unspecified()
        || a.is_documentation()
        || o0 == 0
        || (o0 == 100 && (o1 & 0xc0) == 64) // shared address space 100.64/10
        || (o0 == 192 && o1 == 0 && o2 == 0) // IETF protocol assignments
        || (o0 == 198 && (o1 & 0xfe) == 18) // benchmarking 198.18/15
        || o0 >= 240) // reserved
}

/// Addresses no grant opens: cloud metadata services, multicast, unspecified.
pub fn never_allowed(ip: IpAddr) -> bool {
    const METADATA_V4: [Ipv4Addr; 2] = [
        Ipv4Addr::new(169, 254, 169, 254),
        Ipv4Addr::new(100, 100, 100, 200),
    ];
    const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    let v4 = match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    if let Some(a) = v4 {
        return METADATA_V4.contains(&a)
            || a.is_multicast()
            || a.is_unspecified()
            || a.is_broadcast();
    }
    ip == IpAddr::V6(METADATA_V6) || ip.is_multicast() || ip.is_unspecified()
}

/// A plugin's network grant and rate limiter; shared by all its calls.
#[derive(Debug)]
pub struct PluginNet {
    plugin: Arc<str>,
    user_agent: String,
    granted: Vec<HostPattern>,
    limits: HttpLimits,
    /// When the plugin's next request may start.
    next_slot: Mutex<Instant>,
    /// When a refusal was last logged at warn level (a plugin in a loop must not flood the log).
    last_warned: Mutex<Option<Instant>>,
}

impl PluginNet {
    pub fn new(
        plugin: Arc<str>,
        version: &str,
        granted: Vec<HostPattern>,
        limits: HttpLimits,
    ) -> Self {
        PluginNet {
            user_agent: format!("ChillFi/{} ({plugin}/{version})", env!("CARGO_PKG_VERSION")),
            plugin,
            granted,
            limits,
            next_slot: Mutex::new(Instant::now()),
            last_warned: Mutex::new(None),
        }
    }

    pub fn granted(&self) -> impl Iterator<Item = &str> {
        self.granted.iter().map(HostPattern::as_str)
    }

    pub fn call_deadline(&self) -> Duration {
        self.limits.call_deadline
    }

    /// Takes the next request slot if it comes before `deadline`; returns the wait.
    fn reserve(&self, deadline: Instant) -> Option<Duration> {
        let mut next = crate::lock(&self.next_slot);
        let now = Instant::now();
        let start = (*next).max(now);
        if start >= deadline {
            return None;
        }
        *next = start + self.limits.min_interval;
        Some(start - now)
    }

    fn deny(&self, host: &str, why: &str, e: Error) -> Error {
        let loud = {
            let mut last = crate::lock(&self.last_warned);
            let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if loud {
            tracing::warn!(target: "chillfi::plugin", plugin = &*self.plugin, host, "HTTP request refused: {why}");
        } else {
            tracing::debug!(target: "chillfi::plugin", plugin = &*self.plugin, host, "HTTP request refused: {why}");
        }
        metrics::counter!("chillfi_plugin_http_requests_total", "plugin" => self.plugin.to_string(), "outcome" => "refused")
            .increment(1);
        e
    }

    async fn send(
        self: Arc<Self>,
        mut req: http::Request<WasiBody>,
        call_deadline: Instant,
    ) -> Result<http::Response<WasiBody>, Error> {
        let uri = req.uri().clone();
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(Error::HttpProtocolError),
        };
        let host = uri
            .host()
            .ok_or(Error::HttpRequestUriInvalid)?
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let Some(pattern) = self.granted.iter().find(|p| p.matches(&host, port)) else {
            return Err(self.deny(&host, "host not granted", Error::HttpRequestDenied));
        };
        let deadline = call_deadline.min(Instant::now() + self.limits.request_timeout);
        let Some(wait) = self.reserve(deadline) else {
            return Err(self.deny(
                &host,
                "rate limit: no request slot before the deadline",
                Error::ConnectionLimitReached,
            ));
        };
        tokio::time::sleep(wait).await;

        let addrs: Vec<SocketAddr> = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => match tokio::time::timeout_at(
                deadline.into(),
                tokio::net::lookup_host((host.as_str(), port)),
            )
            .await
            {
                Err(_) => return Err(Error::DnsTimeout),
                Ok(Err(_)) => return Err(Error::DestinationNotFound),
                Ok(Ok(a)) => a.collect(),
            },
        };
        let named_ip = matches!(pattern.host, HostMatch::Ip(_));
        let refused = addrs
            .iter()
            .find(|a| never_allowed(a.ip()) || (!named_ip && !is_public(a.ip())));
        if let Some(a) = refused {
            let why = format!("{} is not a public address", a.ip());
            return Err(self.deny(&host, &why, Error::DestinationIpProhibited));
        }
        let Some(addr) = addrs.first().copied() else {
            return Err(Error::DestinationNotFound);
        };

        let timeout = |e: Error| move |_| e;
        let tcp = tokio::time::timeout_at(deadline.into(), TcpStream::connect(addr))
            .await
            .map_err(timeout(Error::ConnectionTimeout))?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
                _ => Error::Connect(e),
            })?;
        let stream: Box<dyn Stream> = if tls {
            let name =
                rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                    .map_err(|_| Error::HttpRequestUriInvalid)?;
            let tls = tokio::time::timeout_at(deadline.into(), tls_connector()?.connect(name, tcp))
                .await
                .map_err(timeout(Error::ConnectionTimeout))?
                .map_err(|_| Error::TlsProtocolError)?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (mut sender, conn) = tokio::time::timeout_at(
            deadline.into(),
            hyper::client::conn::http1::handshake(TokioIo::new(stream)),
        )
        .await
        .map_err(timeout(Error::ConnectionTimeout))?
        .map_err(Error::from)?;
        // Lives as long as the response body (which enforces the deadline), and is stopped on
        // every early return. (A timeout of its own would race the request's timeout below
        // and turn a timeout into "connection closed".)
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));

        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        *req.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
        let ua = match req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            Some(own) => format!("{own} {}", self.user_agent),
            None => self.user_agent.clone(),
        };
        let ua = http::HeaderValue::try_from(ua).map_err(|_| Error::HttpRequestDenied)?;
        req.headers_mut().insert(http::header::USER_AGENT, ua);

        let res = tokio::time::timeout_at(deadline.into(), sender.send_request(req))
            .await
            .map_err(timeout(Error::ConnectionReadTimeout))?
            .map_err(Error::from)?;
        let cap = self.limits.max_body_bytes;
        if http_body::Body::size_hint(res.body()).lower() > cap {
            return Err(self.deny(
                &host,
                "response body over the cap",
                Error::HttpResponseBodySize(Some(cap)),
            ));
        }
        metrics::counter!("chillfi_plugin_http_requests_total", "plugin" => self.plugin.to_string(), "outcome" => "sent")
            .increment(1);
        Ok(res.map(|incoming| {
            CappedBody {
                incoming,
                read: 0,
                cap,
                deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
                _driver: driver,
            }
            .boxed_unsync()
        }))
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, Error> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        match rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(b) => Some(Arc::new(
                b.with_root_certificates(roots).with_no_client_auth(),
            )),
            Err(e) => {
                tracing::error!("TLS client configuration: {e}");
                None
            }
        }
    });
    let config = config.clone().ok_or(Error::TlsProtocolError)?;
    Ok(tokio_rustls::TlsConnector::from(config))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A response body that fails past the byte cap or the deadline.
struct CappedBody {
    incoming: hyper::body::Incoming,
    read: u64,
    cap: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _driver: AbortOnDrop,
}

impl http_body::Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read += data.len() as u64;
                    if this.read > this.cap {
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(this.cap)))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// The `wasi:http` hooks of one call: the plugin's grant (none: every request is denied)
/// and the call's deadline.
pub struct NetHooks {
    pub net: Option<Arc<PluginNet>>,
    pub deadline: Instant,
}

impl WasiHttpHooks for NetHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        let net = self.net.clone();
        let deadline = self.deadline;
        Box::new(async move {
            let Some(net) = net else {
                return Err(Error::HttpRequestDenied);
            };
            let res = net.send(request, deadline).await?;
            Ok((
                res,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("bad test address {s}"))
    }

    #[test]
    fn public_addresses() {
        for a in [
            "1.1.1.1",
            "138.201.227.205",
            "2a01:4f8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(a)), "{a} is public");
        }
        for a in [
            "127.0.0.1",
            "127.8.9.1",
            "10.0.0.1",
            "10.255.1.2",
            "172.16.0.1",
            "172.31.255.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.1.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "192.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001:0::1",
        ] {
            assert!(!is_public(ip(a)), "{a} is not public");
        }
    }

    #[test]
    fn metadata_and_multicast_never() {
        for a in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "ff02::1",
        ] {
            assert!(never_allowed(ip(a)), "{a}");
        }
        for a in ["127.0.0.1", "192.168.1.5", "10.1.2.3", "::1"] {
            assert!(!never_allowed(ip(a)), "{a}");
        }
    }

    #[test]
    fn host_patterns() {
        let p = |s| HostPattern::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(p("musicbrainz.org").matches("musicbrainz.org", 443));
        assert!(!p("musicbrainz.org").matches("evil-musicbrainz.org", 443));
        assert!(!p("musicbrainz.org").matches("musicbrainz.org.evil.com", 443));
        assert!(p("*.archive.org").matches("ia800.us.archive.org", 443));
        assert!(!p("*.archive.org").matches("archive.org", 443));
        assert!(!p("*.archive.org").matches("notarchive.org", 443));
        assert!(p("127.0.0.1:8080").matches("127.0.0.1", 8080));
        assert!(!p("127.0.0.1:8080").matches("127.0.0.1", 8081));
        assert!(p("[::1]").matches("[::1]", 80));
        assert!(p("::1").matches("::1", 80));
        assert!(p("MusicBrainz.org").matches("musicbrainz.org", 80));
        for bad in [
            "",
            "*",
            "*.org",
            "https://x.org",
            "x.org/path",
            "a..b",
            "-a.org",
            "x.org:99999",
            "user@x.org",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn rate_limit_slots() {
        let limits = HttpLimits {
            min_interval: Duration::from_millis(500),
            ..HttpLimits::default()
        };
        let net = PluginNet::new("p".into(), "1", vec![], limits);
        let far = Instant::now() + Duration::from_secs(10);
        assert_eq!(net.reserve(far), Some(Duration::ZERO));
        let second = net.reserve(far).unwrap_or_default();
        assert!(second > Duration::from_millis(400), "{second:?}");
        // No slot before a deadline that comes first: refused, and no slot is taken.
        assert_eq!(
            net.reserve(Instant::now() + Duration::from_millis(100)),
            None
        );
        let third = net.reserve(far).unwrap_or_default();
        assert!(third > Duration::from_millis(900), "{third:?}");
    }
}
