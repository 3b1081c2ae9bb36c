//! Plugins on the network (WIT 0.2.0, wasi:http): the real built plugins (hostile-http and
//! musicbrainz-enricher) against a local fixture HTTP server that answers like MusicBrainz
//! and the Cover Art Archive, and like hostile servers (redirects to private addresses, a
//! 1 GB body, silence). No test reaches the internet.

mod common;

use chillfi_plugin_host::*;
use common::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RECORDING: &str = "0d1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const RELEASE: &str = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
const ARTIST: &str = "2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e";

/// What the fixture saw.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, String)>, // (path, user-agent)
}

struct Fixture {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    /// Bytes written for /huge.
    huge_sent: Arc<AtomicU64>,
    /// A small JPEG made by ffmpeg (the cover the fake archive serves).
    cover: Arc<Vec<u8>>,
}

fn jpeg() -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=32x32",
            "-frames:v",
            "1",
            "-f",
            "mjpeg",
            "-",
        ])
        .output()
        .expect("ffmpeg runs (the tests make their media with it)");
    assert!(out.status.success() && out.stdout.starts_with(&[0xff, 0xd8, 0xff]));
    out.stdout
}

fn recording_json(score: u32, length: u64) -> String {
    format!(
        r#"{{"created":"2026-01-01T00:00:00.000Z","count":1,"offset":0,"recordings":[
        {{"id":"{RECORDING}","score":{score},"title":"Hit Song","length":{length},
          "artist-credit":[{{"name":"The Band","artist":{{"id":"{ARTIST}","name":"The Band"}}}}],
          "releases":[{{"id":"{RELEASE}","title":"Greatest Album","date":"1999-05-01","track-count":12,
            "release-group":{{"id":"3d4e5f60-7182-4c9d-aeb0-2a3b4c5d6e7f","primary-type":"Album"}},
            "artist-credit":[{{"name":"The Band","artist":{{"id":"{ARTIST}","name":"The Band"}}}}],
            "media":[{{"position":2,"format":"CD","track":[{{"id":"x","number":"7","title":"Hit Song","length":{length}}}],"track-count":12,"track-offset":6}}]}}]}}]}}"#
    )
}

impl Fixture {
    fn start() -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let f = Fixture {
            port,
            seen: Arc::default(),
            huge_sent: Arc::default(),
            cover: Arc::new(jpeg()),
        };
        let (seen, huge, cover) = (f.seen.clone(), f.huge_sent.clone(), f.cover.clone());
        let busy_once = Arc::new(Mutex::new(true));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (seen, huge, cover, busy) =
                    (seen.clone(), huge.clone(), cover.clone(), busy_once.clone());
                std::thread::spawn(move || serve(conn, port, &seen, &huge, &cover, &busy));
            }
        });
        f
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, prefix: &str) -> usize {
        self.seen
            .lock()
            .expect("seen")
            .requests
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .count()
    }
}

fn respond(mut c: &TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = c.write_all(head.as_bytes());
    let _ = c.write_all(body);
}

fn serve(
    conn: TcpStream,
    port: u16,
    seen: &Mutex<Seen>,
    huge: &AtomicU64,
    cover: &[u8],
    busy_once: &Mutex<bool>,
) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    let mut ua = String::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("user-agent:") {
            ua = v.trim().to_string();
        }
    }
    seen.lock().expect("seen").requests.push((path.clone(), ua));
    let json = [("content-type", "application/json".to_string())];
    let query = path.split("query=").nth(1).unwrap_or("").to_string();
    match path.split('?').next().unwrap_or("") {
        "/ok" => respond(&conn, "200 OK", &[], b"hello"),
        "/redirect-private" => respond(
            &conn,
            "302 Found",
            &[("location", "http://10.1.2.3/x".into())],
            b"",
        ),
        "/redirect-localhost" => respond(
            &conn,
            "302 Found",
            &[("location", format!("http://localhost:{port}/ok"))],
            b"",
        ),
        "/redirect-ok" => respond(&conn, "302 Found", &[("location", "/ok".into())], b""),
        "/never" => std::thread::sleep(Duration::from_secs(30)),
        "/huge" => {
            let _ = (&conn).write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            let chunk = vec![b'x'; 64 << 10];
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            while huge.load(Ordering::Relaxed) < 1 << 30 {
                if (&conn).write_all(&framed).is_err() {
                    return;
                }
                huge.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        "/ws/2/recording" if query.contains("Ambiguous") => respond(
            &conn,
            "200 OK",
            &json,
            recording_json(72, 200_000).as_bytes(),
        ),
        "/ws/2/recording" if query.contains("Malformed") => {
            respond(&conn, "200 OK", &json, b"{\"recordings\": [ {\"id\": ")
        }
        "/ws/2/recording" if query.contains("Slow") => std::thread::sleep(Duration::from_secs(30)),
        "/ws/2/recording" if query.contains("Overloaded") => respond(
            &conn,
            "503 Service Unavailable",
            &[("retry-after", "120".into())],
            b"",
        ),
        "/ws/2/recording"
            if query.contains("Busy") && std::mem::take(&mut *busy_once.lock().expect("busy")) =>
        {
            respond(
                &conn,
                "503 Service Unavailable",
                &[("retry-after", "1".into())],
                b"",
            )
        }
        "/ws/2/recording" => respond(
            &conn,
            "200 OK",
            &json,
            recording_json(100, 200_000).as_bytes(),
        ),
        p if p == format!("/release/{RELEASE}/front-500") => respond(
            &conn,
            "307 Temporary Redirect",
            &[("location", format!("http://127.0.0.1:{port}/ia/front.jpg"))],
            b"",
        ),
        "/ia/front.jpg" => respond(
            &conn,
            "200 OK",
            &[("content-type", "image/jpeg".into())],
            cover,
        ),
        _ => respond(&conn, "404 Not Found", &[], b"not here"),
    }
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
}

fn net_limits(min_interval: Duration, call_deadline: Duration) -> Limits {
    Limits {
        http: HttpLimits {
            request_timeout: Duration::from_millis(1500),
            max_body_bytes: 4 << 20,
            min_interval,
            call_deadline,
        },
        ..Limits::default()
    }
}

fn hostile_host(limits: Limits) -> (TestHost, PluginHost) {
    let t = TestHost::with_limits(limits);
    t.install("hostile-http");
    let host = t.start();
    (t, host)
}

fn run(host: &PluginHost, command: &str) -> EnrichOutcome {
    host.enrich_blocking(&input(command))
}

fn title(o: &EnrichOutcome) -> Option<&str> {
    o.patch.title.as_deref()
}

fn error(o: &EnrichOutcome) -> &PluginCallError {
    o.errors
        .first()
        .unwrap_or_else(|| panic!("expected an error, got {o:?}"))
}

#[test]
fn a_plugin_that_asks_for_the_network_waits_for_a_grant() {
    let (_t, host) = hostile_host(net_limits(Duration::ZERO, Duration::from_secs(5)));
    let p = info(&host, "hostile-http");
    assert_eq!(
        p.state,
        PluginState::Disabled,
        "needs an administrator first"
    );
    assert_eq!(p.wit_version, "0.2.0");
    assert_eq!(
        p.requested_hosts,
        [
            "127.0.0.1",
            "localhost",
            "169.254.169.254",
            "*.chillfi-test.invalid"
        ]
    );
    assert!(p.granted_hosts.is_empty());
    assert!(
        run(&host, "get http://127.0.0.1:1/ok").errors.is_empty(),
        "a disabled plugin is not called"
    );

    let e = host
        .enable_granting("hostile-http", Some(&["example.org".into()]))
        .expect_err("not requested");
    assert!(e.to_string().contains("not among the hosts"), "{e}");
    let e = host
        .enable_granting("hostile-http", Some(&[]))
        .expect_err("nothing granted");
    assert!(e.to_string().contains("at least one host"), "{e}");
    assert_eq!(info(&host, "hostile-http").state, PluginState::Disabled);

    // Only what was granted is reachable.
    let fx = Fixture::start();
    host.enable_granting("hostile-http", Some(&["localhost".into()]))
        .expect("grant");
    assert_eq!(info(&host, "hostile-http").granted_hosts, ["localhost"]);
    let o = run(&host, &format!("get {}", fx.url("/ok")));
    assert!(error(&o).message.contains("host not granted"), "{o:?}");
    assert_eq!(fx.hits("/ok"), 0);

    // The grant survives a restart.
    drop(host);
    let host = _t.start();
    assert_eq!(info(&host, "hostile-http").state, PluginState::Enabled);
    assert_eq!(info(&host, "hostile-http").granted_hosts, ["localhost"]);
}

#[test]
fn requests_reach_granted_hosts_and_nothing_else() {
    let fx = Fixture::start();
    let (_t, host) = hostile_host(net_limits(Duration::ZERO, Duration::from_secs(5)));
    host.enable("hostile-http").expect("grant all");

    // A granted IP literal may be loopback: the administrator named that address.
    let o = run(&host, &format!("get {}", fx.url("/ok")));
    assert_eq!(title(&o), Some("200 5"), "{o:?}");
    let ua = fx.seen.lock().expect("seen").requests[0].1.clone();
    assert!(
        ua.contains("chillfi/") && ua.contains("hostile-http/0.1.0"),
        "user agent: {ua}"
    );
    // A redirect on the same granted host is followed (and checked again).
    assert_eq!(
        title(&run(&host, &format!("get {}", fx.url("/redirect-ok")))),
        Some("200 5")
    );

    for (command, why) in [
        ("get http://10.0.0.1/".to_string(), "host not granted"),
        ("get http://192.168.1.1/".to_string(), "host not granted"),
        (
            "get http://169.254.169.254/latest/meta-data/".to_string(),
            "not a public address",
        ),
        (
            format!("get http://localhost:{}/ok", fx.port),
            "not a public address",
        ),
        (
            format!("get {}", fx.url("/redirect-private")),
            "host not granted",
        ),
        (
            format!("get {}", fx.url("/redirect-localhost")),
            "not a public address",
        ),
        ("get ftp://127.0.0.1/".to_string(), "only http and https"),
    ] {
        let o = run(&host, &command);
        let e = error(&o);
        assert!(e.message.contains(why), "{command}: {e:?}");
        assert!(
            !e.fault,
            "a refused request is the plugin's error, not a fault: {command}"
        );
    }
    // The redirects to private addresses were not followed.
    assert_eq!(
        fx.hits("/ok"),
        2,
        "only the two allowed requests reached /ok"
    );
    assert_eq!(info(&host, "hostile-http").state, PluginState::Enabled);
}

#[test]
fn a_huge_body_is_cut_at_the_cap_and_a_silent_server_times_out() {
    let fx = Fixture::start();
    let (_t, host) = hostile_host(net_limits(Duration::ZERO, Duration::from_secs(10)));
    host.enable("hostile-http").expect("grant");

    let started = Instant::now();
    let o = run(&host, &format!("get {}", fx.url("/huge")));
    assert!(
        error(&o).message.contains("body size exceeds limit"),
        "{o:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let sent = fx.huge_sent.load(Ordering::Relaxed);
    assert!(
        sent < 64 << 20,
        "the server stopped reading soon after the 4 MiB cap: {sent} bytes sent"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let o = run(&host, &format!("get {}", fx.url("/never")));
    let elapsed = started.elapsed();
    assert!(error(&o).message.contains("Timeout"), "{o:?}");
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );

    // The host is unaffected.
    assert_eq!(
        title(&run(&host, &format!("get {}", fx.url("/ok")))),
        Some("200 5")
    );
}

#[test]
fn a_request_loop_is_throttled_to_the_rate_limit() {
    let fx = Fixture::start();
    let (_t, host) = hostile_host(net_limits(
        Duration::from_millis(500),
        Duration::from_millis(1800),
    ));
    host.enable("hostile-http").expect("grant");
    let started = Instant::now();
    let o = run(&host, &format!("loop 1000 {}", fx.url("/ok")));
    let e = error(&o);
    assert!(e.message.contains("rate limit"), "{e:?}");
    let hits = fx.hits("/ok");
    assert!(
        (1..=4).contains(&hits),
        "500 ms apart within 1.8 s: {hits} requests"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

// ----- the MusicBrainz enricher against the fixture -----

fn musicbrainz(fx: &Fixture, timeout: Duration) -> (TestHost, PluginHost) {
    let mut limits = net_limits(Duration::ZERO, Duration::from_secs(10));
    limits.http.request_timeout = timeout;
    let t = TestHost::with_limits(limits);
    let src = built("musicbrainz-enricher");
    let dst = t.plugins_dir().join("musicbrainz-enricher");
    std::fs::create_dir_all(&dst).expect("mkdir");
    std::fs::copy(
        src.join("musicbrainz-enricher.wasm"),
        dst.join("musicbrainz-enricher.wasm"),
    )
    .expect("copy");
    let manifest = std::fs::read_to_string(src.join("plugin.toml")).expect("manifest");
    let granted = "allowed-hosts = [\"127.0.0.1\"]";
    let manifest: String = manifest
        .lines()
        .map(|l| {
            if l.starts_with("allowed-hosts") {
                granted
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dst.join("plugin.toml"), manifest).expect("write");
    let host = t.start();
    let base = format!("http://127.0.0.1:{}", fx.port);
    host.set_config(
        "musicbrainz-enricher",
        BTreeMap::from([
            ("musicbrainz-url".to_string(), base.clone()),
            ("coverart-url".to_string(), base),
        ]),
    )
    .expect("config");
    host.enable("musicbrainz-enricher").expect("grant");
    (t, host)
}

fn track(artist: &str, title: &str) -> EnrichInput {
    let mut i = input(&format!("{artist}/{title}.flac"));
    i.metadata.artist = Some(artist.into());
    i.metadata.title = Some(title.into());
    i.metadata.duration_ms = Some(201_000);
    i
}

#[test]
fn musicbrainz_hit_fills_tags_ids_and_cover() {
    let fx = Fixture::start();
    let (_t, host) = musicbrainz(&fx, Duration::from_secs(3));
    let mut i = track("The Band", "Hit Song");
    i.metadata.year = Some(2005); // kept: prefer-existing-tags
    let o = host.enrich_blocking(&i);
    assert!(o.errors.is_empty(), "{o:?}");
    let p = &o.patch;
    assert_eq!(p.album.as_deref(), Some("Greatest Album"));
    assert_eq!(p.album_artist.as_deref(), Some("The Band"));
    assert_eq!(p.year, None, "the file's own year is kept");
    assert_eq!(
        (p.track, p.track_total, p.disc),
        (Some(7), Some(12), Some(2))
    );
    assert_eq!(p.musicbrainz.recording.as_deref(), Some(RECORDING));
    assert_eq!(p.musicbrainz.release.as_deref(), Some(RELEASE));
    assert_eq!(p.musicbrainz.artist.as_deref(), Some(ARTIST));
    let cover = p.cover.as_ref().expect("a cover from the archive");
    assert_eq!(cover.mime, "image/jpeg");
    assert_eq!(
        cover.data, *fx.cover,
        "the picture the archive served, through its redirect"
    );
    let seen = fx.seen.lock().expect("seen");
    let (search, ua) = &seen.requests[0];
    assert!(
        search.starts_with("/ws/2/recording?query=") && search.contains("fmt=json"),
        "{search}"
    );
    assert!(
        ua.starts_with("chillfi-musicbrainz-enricher/0.2.0") && ua.contains("chillfi/"),
        "{ua}"
    );
    drop(seen);

    // A file with its own picture: no cover request.
    let before = fx.hits("/release/");
    i.metadata.has_cover = true;
    assert!(host.enrich_blocking(&i).patch.cover.is_none());
    assert_eq!(fx.hits("/release/"), before);
}

#[test]
fn musicbrainz_below_threshold_changes_nothing() {
    let fx = Fixture::start();
    let (_t, host) = musicbrainz(&fx, Duration::from_secs(3));
    let o = host.enrich_blocking(&track("Somebody", "Ambiguous"));
    assert!(
        o.errors.is_empty() && o.patch.is_empty() && o.applied.is_empty(),
        "{o:?}"
    );
    assert_eq!(fx.hits("/release/"), 0);
}

#[test]
fn musicbrainz_busy_is_retried_once_after_retry_after() {
    let fx = Fixture::start();
    let (_t, host) = musicbrainz(&fx, Duration::from_secs(3));
    let started = Instant::now();
    let o = host.enrich_blocking(&track("The Band", "Busy"));
    assert!(o.errors.is_empty(), "{o:?}");
    assert_eq!(o.patch.musicbrainz.recording.as_deref(), Some(RECORDING));
    assert_eq!(fx.hits("/ws/2/recording"), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited Retry-After: {:?}",
        started.elapsed()
    );

    // A long Retry-After: the plugin gives up at once, with a clear error; the track is untouched.
    let o = host.enrich_blocking(&track("The Band", "Overloaded"));
    let e = error(&o);
    assert!(
        e.message.contains("busy (503, retry after 120 s)") && !e.fault,
        "{e:?}"
    );
    assert!(o.patch.is_empty());
}

#[test]
fn musicbrainz_timeout_and_malformed_answers_are_plugin_errors() {
    let fx = Fixture::start();
    let (_t, host) = musicbrainz(&fx, Duration::from_millis(800));
    let o = host.enrich_blocking(&track("The Band", "Slow"));
    let e = error(&o);
    assert!(e.message.contains("Timeout") && !e.fault, "{e:?}");
    let o = host.enrich_blocking(&track("The Band", "Malformed"));
    let e = error(&o);
    assert!(e.message.contains("malformed JSON") && !e.fault, "{e:?}");
    assert_eq!(
        info(&host, "musicbrainz-enricher").state,
        PluginState::Enabled
    );
}
