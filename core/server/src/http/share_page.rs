//! The public side of share links: `GET /s/<token>` (an HTML page anyone can open),
//! `GET|HEAD /s/<token>/stream/<songId>` (the songs, with byte ranges) and `GET /s/<token>/art`.
//! Invariants: every failure (unknown, revoked, expired, used up, item gone, song not part of the
//! link) is the same 404 page; a client address that failed too often is refused before any
//! look-up; the page carries no inline script or style (its script and stylesheet are files of
//! the web UI under `/share/`) and every text on it is HTML-escaped.

use std::fmt::Write as _;

use poem::web::{Data, Path};
use poem::{Request, Response, handler};

use crate::app::App;
use crate::config::Config;
use crate::service::sharing::SharedItem;
use crate::store::db::now_secs;
use crate::store::shares::ShareKind;

const NOT_FOUND_PAGE: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
<meta name=\"robots\" content=\"noindex\"><title>Link not available · ChillFi</title>\
<h1>This link is not available</h1><p>It may have expired or been removed.</p></html>";

fn client_ip(req: &Request) -> Option<std::net::IpAddr> {
    req.remote_addr().as_socket_addr().map(|a| a.ip())
}

fn not_found() -> Response {
    Response::builder()
        .status(http::StatusCode::NOT_FOUND)
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(NOT_FOUND_PAGE)
}

/// A 404 that counts against the client's allowance of failed look-ups.
fn failed(app: &App, req: &Request) -> Response {
    app.shares.failed_guess(client_ip(req));
    not_found()
}

fn internal(e: crate::error::AppError) -> Response {
    let _ = e.envelope(); // logs the details once
    Response::builder()
        .status(e.http_status())
        .header(http::header::CACHE_CONTROL, "no-store")
        .finish()
}

/// The 429 answer when the client address has failed too often.
fn throttle(app: &App, req: &Request) -> Option<Response> {
    app.shares.check_guesses(client_ip(req)).err().map(|wait| {
        Response::builder()
            .status(http::StatusCode::TOO_MANY_REQUESTS)
            .header(http::header::RETRY_AFTER, wait)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(http::header::CACHE_CONTROL, "no-store")
            .body(format!("too many attempts; try again in {wait} s"))
    })
}

/// `GET /s/<token>`: the page.
#[handler]
pub async fn page(Data(app): Data<&App>, Path(token): Path<String>, req: &Request) -> Response {
    if let Some(resp) = throttle(app, req) {
        return resp;
    }
    let (share, item) = match app.sharing.open(&token) {
        Ok(Some(found)) => found,
        Ok(None) => return failed(app, req),
        Err(e) => return internal(e),
    };
    if !app.sharing.plugin_allows(&share).await {
        return failed(app, req);
    }
    let base = base_url(&app.cfg, req.headers(), req.uri());
    // Who shared it: the creator's display name (nothing else of the account shows).
    let owner = match app.users.get(&share.creator_id) {
        Ok(Some(u)) if !u.display_name.is_empty() => u.display_name,
        Ok(Some(u)) => u.username,
        _ => String::new(),
    };
    let html = render_page(&token, share.kind, &item, &owner, &base);
    Response::builder()
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(http::header::CACHE_CONTROL, "no-store")
        .header("referrer-policy", "no-referrer")
        .header("x-robots-tag", "noindex, nofollow")
        .body(html)
}

/// `GET|HEAD /s/<token>/stream/<songId>`: a song of the link. Every GET that delivers audio is a
/// new play, counted against `maxPlays`, unless it carries the ticket cookie the counted answer
/// set (then it continues that play: any range, not counted). No offset, header or method gets
/// audio past the limit without a ticket.
#[handler]
pub async fn stream(
    Data(app): Data<&App>,
    Path((token, song_id)): Path<(String, String)>,
    req: &Request,
) -> Response {
    if let Some(resp) = throttle(app, req) {
        return resp;
    }
    let share = match app.shares.by_token(&token) {
        Ok(Some(share)) if !share.is_expired(now_secs()) => share,
        Ok(_) => return failed(app, req),
        Err(e) => return internal(e),
    };
    let song = match app.sharing.shared_song(&share, &song_id) {
        Ok(Some(song)) => song,
        Ok(None) => return failed(app, req),
        Err(e) => return internal(e),
    };
    let now = now_secs();
    let key = song.blob_key();
    let blob =
        || super::streams::blob_response(&app.blobs, &key, "audio/mpeg", "private, no-store", req);
    // A request that carries the ticket of a counted play continues it: any range, not counted.
    if has_play_ticket(app, req, &share.share_id, &song.id, now) {
        return blob().await;
    }
    // Every other request is a new play, whatever its range, headers or method.
    if share.is_exhausted() {
        return failed(app, req);
    }
    let resp = blob().await;
    // HEAD and errors (416, a missing file) deliver no audio: nothing to count.
    if req.method() != http::Method::GET || !resp.status().is_success() {
        return resp;
    }
    // A share-handler plugin may deny a new play (like an expired link).
    if !app.sharing.plugin_allows(&share).await {
        return failed(app, req);
    }
    // Counted only once the file is known to be there, atomically against the limit.
    match app.shares.start_play(&share.share_id) {
        Ok(true) => with_play_ticket(app, resp, &token, &share.share_id, &song, now),
        Ok(false) => failed(app, req),
        Err(e) => internal(e),
    }
}

const PLAY_COOKIE: &str = "chillfi_play";

/// Does one of the request's play cookies continue a counted play of this share's song?
fn has_play_ticket(app: &App, req: &Request, share_id: &str, song_id: &str, now: i64) -> bool {
    req.headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == PLAY_COOKIE)
        .any(|(_, ticket)| {
            app.stream_signer
                .check_play_ticket(ticket, share_id, song_id, now)
        })
}

/// Hands the counted play its ticket: a cookie sent back only to this song's stream of this link.
fn with_play_ticket(
    app: &App,
    mut resp: Response,
    token: &str,
    share_id: &str,
    song: &crate::store::songs::Song,
    now: i64,
) -> Response {
    let lifetime = crate::store::shares::PLAY_TICKET_GRACE_SECS + (song.duration_ms / 1000) as i64;
    let ticket = app
        .stream_signer
        .play_ticket(share_id, &song.id, now + lifetime);
    let cookie = format!(
        "{PLAY_COOKIE}={ticket}; Path=/s/{token}/stream/{}; Max-Age={lifetime}; HttpOnly; \
         SameSite=Lax",
        song.id
    );
    if let Ok(value) = http::HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(http::header::SET_COOKIE, value);
    }
    resp
}

/// `GET /s/<token>/art`: the cover of the shared item (for the page and link previews).
#[handler]
pub async fn art(Data(app): Data<&App>, Path(token): Path<String>, req: &Request) -> Response {
    if let Some(resp) = throttle(app, req) {
        return resp;
    }
    let item = match app.sharing.open(&token) {
        Ok(Some((share, item))) if app.sharing.plugin_allows(&share).await => item,
        Ok(_) => return failed(app, req),
        Err(e) => return internal(e),
    };
    let Some(key) = item.cover_key else {
        return not_found();
    };
    let mime = if key.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    };
    super::streams::blob_response(&app.blobs, &key, mime, "private, max-age=300", req).await
}

/// How browsers reach this server: `server.public_url` when set, else the origin the client
/// used (the `Origin` header of a Socket.IO handshake, or `Host` with `X-Forwarded-Proto`).
/// Empty when nothing trustworthy-looking is there (the caller then uses relative URLs).
pub fn base_url(cfg: &Config, headers: &http::HeaderMap, uri: &http::Uri) -> String {
    let configured = cfg.server.public_url.trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_string();
    }
    let header = |name: http::header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(origin) = header(http::header::ORIGIN)
        && let Some((scheme, host)) = origin.split_once("://")
        && matches!(scheme, "http" | "https")
        && is_host(host)
    {
        return format!("{scheme}://{host}");
    }
    let host = header(http::header::HOST).or_else(|| uri.authority().map(|a| a.as_str()));
    match host {
        Some(host) if is_host(host) => {
            let https = header(http::header::HeaderName::from_static("x-forwarded-proto"))
                .is_some_and(|p| p.eq_ignore_ascii_case("https"));
            format!("{}://{host}", if https { "https" } else { "http" })
        }
        _ => String::new(),
    }
}

/// A host name or address with an optional port; nothing that could break out of a URL.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 261
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// Inline SVG icons of the page's player (markup, not script: the CSP allows them).
const ICON_PLAY: &str = "<svg class=\"i-play\" viewBox=\"0 0 24 24\" aria-hidden=\"true\"><path d=\"M8 5.5v13a1 1 0 0 0 1.5.86l10.5-6.5a1 1 0 0 0 0-1.72L9.5 4.64A1 1 0 0 0 8 5.5z\"/></svg>";
const ICON_PAUSE: &str = "<svg class=\"i-pause\" viewBox=\"0 0 24 24\" aria-hidden=\"true\"><rect x=\"6\" y=\"5\" width=\"4\" height=\"14\" rx=\"1.2\"/><rect x=\"14\" y=\"5\" width=\"4\" height=\"14\" rx=\"1.2\"/></svg>";
const ICON_PREV: &str = "<svg viewBox=\"0 0 24 24\" aria-hidden=\"true\"><path d=\"M19 6.2v11.6a1 1 0 0 1-1.55.83L9 13v4.5a1 1 0 0 1-2 0v-11a1 1 0 0 1 2 0V11l8.45-5.63A1 1 0 0 1 19 6.2z\"/></svg>";
const ICON_NEXT: &str = "<svg viewBox=\"0 0 24 24\" aria-hidden=\"true\"><path d=\"M5 6.2v11.6a1 1 0 0 0 1.55.83L15 13v4.5a1 1 0 0 0 2 0v-11a1 1 0 0 0-2 0V11L6.55 5.37A1 1 0 0 0 5 6.2z\"/></svg>";
const ICON_NOTE: &str = "<svg viewBox=\"0 0 64 64\" width=\"72\" height=\"72\" aria-hidden=\"true\"><path fill=\"currentColor\" d=\"M24 44a6 6 0 1 1-4-5.66V18l24-5v24a6 6 0 1 1-4-5.66V20.2L24 23.6z\"/></svg>";

/// The page, styled like the app by `/share/page.css` and played by `/share/page.js` (both
/// plain files from the web UI's build, so the CSP stays `script-src 'self'; style-src 'self'`).
/// Without the script each track keeps its own native player. Every text is escaped.
fn render_page(token: &str, kind: ShareKind, item: &SharedItem, owner: &str, base: &str) -> String {
    let e = escape;
    let token = e(token);
    let (og_type, kind_label) = match kind {
        ShareKind::Song => ("music.song", "Song"),
        ShareKind::Album => ("music.album", "Album"),
        ShareKind::Playlist => ("music.playlist", "Playlist"),
    };
    let title = e(&item.title);
    let description = e(&item.description);
    let mut html = String::with_capacity(4096 + item.songs.len() * 700);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <title>{title} · ChillFi</title>\n\
         <meta name=\"description\" content=\"{description}\">\n\
         <meta property=\"og:site_name\" content=\"ChillFi\">\n\
         <meta property=\"og:type\" content=\"{og_type}\">\n\
         <meta property=\"og:title\" content=\"{title}\">\n\
         <meta property=\"og:description\" content=\"{description}\">\n"
    );
    if !base.is_empty() {
        let _ = writeln!(
            html,
            "<meta property=\"og:url\" content=\"{}/s/{token}\">",
            e(base)
        );
    }
    if item.cover_key.is_some() {
        let image = format!("{base}/s/{token}/art");
        let _ = writeln!(
            html,
            "<meta property=\"og:image\" content=\"{}\">",
            e(&image)
        );
    }
    html.push_str(
        "<link rel=\"icon\" href=\"/share/favicon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"/share/page.css\">\n\
         <script src=\"/share/page.js\" defer></script>\n\
         </head>\n<body>\n<main class=\"share\">\n\
         <p class=\"brand\"><img src=\"/share/favicon.svg\" alt=\"\" width=\"24\" height=\"24\">ChillFi</p>\n\
         <header class=\"share-head\">\n",
    );
    if item.cover_key.is_some() {
        let _ = writeln!(
            html,
            "<img class=\"share-cover\" src=\"/s/{token}/art\" alt=\"Cover of {title}\" width=\"220\" height=\"220\">"
        );
    } else {
        let _ = writeln!(html, "<div class=\"share-cover blank\">{ICON_NOTE}</div>");
    }
    let total_ms: u64 = item.songs.iter().map(|s| s.duration_ms).sum();
    let count = match item.songs.len() {
        1 => "1 song".to_string(),
        n => format!("{n} songs"),
    };
    let _ = write!(
        html,
        "<div class=\"share-meta\">\n<p class=\"share-kind\">{kind_label}",
    );
    if !owner.is_empty() {
        let _ = write!(
            html,
            " · shared by <span class=\"share-owner\">{}</span>",
            e(owner)
        );
    }
    let _ = write!(
        html,
        "</p>\n<h1>{title}</h1>\n<p class=\"share-desc\">{description}</p>\n\
         <p class=\"share-stats\">{count} · {}</p>\n\
         <p class=\"share-actions\"><button type=\"button\" class=\"btn\" data-act=\"play-all\" hidden>{ICON_PLAY}Play all</button></p>\n\
         </div>\n</header>\n<ol class=\"tracks\" aria-label=\"Songs\">\n",
        duration(total_ms)
    );
    for (i, song) in item.songs.iter().enumerate() {
        let song_title = e(&song.title);
        let _ = write!(
            html,
            "<li class=\"track\" data-src=\"/s/{token}/stream/{id}\" data-duration=\"{secs}\">\n\
             <span class=\"track-no\">{n}</span>\n\
             <button type=\"button\" class=\"track-play\" aria-label=\"Play {song_title}\" hidden>{ICON_PLAY}{ICON_PAUSE}</button>\n\
             <span class=\"track-main\"><span class=\"track-title\">{song_title}</span>\
             <span class=\"track-artist\">{artist}</span></span>\n\
             <span class=\"track-dur\">{dur}</span>\n\
             <audio controls preload=\"none\" src=\"/s/{token}/stream/{id}\"></audio>\n</li>\n",
            id = e(&song.id),
            secs = song.duration_ms / 1000,
            n = i + 1,
            artist = e(&song.artist),
            dur = duration(song.duration_ms),
        );
    }
    let _ = write!(
        html,
        "</ol>\n<footer><p>Shared from ChillFi.</p></footer>\n</main>\n\
         <section class=\"player\" aria-label=\"Player\" hidden>\n\
         <div class=\"now\"><span class=\"now-title\">Nothing playing</span><span class=\"now-artist\">Press play</span></div>\n\
         <div class=\"controls\">\
         <button type=\"button\" class=\"icon-btn\" data-act=\"prev\" aria-label=\"Previous\">{ICON_PREV}</button>\
         <button type=\"button\" class=\"icon-btn main\" data-act=\"play\" aria-label=\"Play\">{ICON_PLAY}{ICON_PAUSE}</button>\
         <button type=\"button\" class=\"icon-btn\" data-act=\"next\" aria-label=\"Next\">{ICON_NEXT}</button>\
         </div>\n\
         <div class=\"seek\"><span class=\"time pos\">0:00</span>\
         <input type=\"range\" min=\"0\" max=\"1\" step=\"1\" value=\"0\" aria-label=\"Seek\" disabled>\
         <span class=\"time dur\">0:00</span></div>\n\
         </section>\n</body>\n</html>\n"
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn base_url_prefers_configuration_then_origin_then_host() {
        let mut cfg = Config::default();
        let uri: http::Uri = "/socket.io/".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        assert_eq!(base_url(&cfg, &headers, &uri), "");
        headers.insert("host", "nas.local:8080".parse().unwrap());
        assert_eq!(base_url(&cfg, &headers, &uri), "http://nas.local:8080");
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(base_url(&cfg, &headers, &uri), "https://nas.local:8080");
        headers.insert("origin", "https://music.example.org".parse().unwrap());
        assert_eq!(base_url(&cfg, &headers, &uri), "https://music.example.org");
        headers.insert("origin", "null".parse().unwrap());
        assert_eq!(base_url(&cfg, &headers, &uri), "https://nas.local:8080");
        headers.insert("host", "evil\"><script>".parse().unwrap());
        assert_eq!(base_url(&cfg, &headers, &uri), "");
        cfg.server.public_url = "https://tunes.example.net/".into();
        assert_eq!(base_url(&cfg, &headers, &uri), "https://tunes.example.net");
    }

    #[test]
    fn durations_read_like_a_player() {
        assert_eq!(duration(61_500), "1:01");
        assert_eq!(duration(3_601_000), "1:00:01");
        assert_eq!(duration(0), "0:00");
    }
}
