//! System and user methods: license, extensions, tokenInfo, users, scan status.

use super::error::SubError;
use super::response::{Elem, Response, Val};
use super::{Call, MethodResult};
use crate::store::users::User;

/// The OpenSubsonic extensions this server implements (answered without credentials).
pub fn extensions() -> Response {
    let ext = |name: &str| {
        Elem::new()
            .a("name", name)
            .values("versions", vec![Val::Int(1)])
    };
    // A list under the root: the spec wants an array there.
    Response::ok(None).with_list(
        "openSubsonicExtensions",
        vec![
            ext("apiKeyAuthentication"),
            ext("formPost"),
            ext("songLyrics"),
            ext("transcodeOffset"),
        ],
    )
}

pub fn license() -> MethodResult {
    Ok(Response::ok_with("license", Elem::new().a("valid", true)).into())
}

pub fn token_info(c: &Call<'_>) -> MethodResult {
    if !c.params.has("apiKey") {
        return Err(SubError::new(
            super::error::AUTH_NOT_SUPPORTED,
            "tokenInfo needs an apiKey",
        ));
    }
    Ok(Response::ok_with("tokenInfo", Elem::new().a("username", &c.user.username)).into())
}

fn user_elem(u: &User) -> Elem {
    Elem::new()
        .a("username", &u.username)
        .a("scrobblingEnabled", true)
        .a("adminRole", u.is_admin)
        .a("settingsRole", true)
        .a("downloadRole", true)
        .a("uploadRole", true)
        .a("playlistRole", true)
        .a("coverArtRole", u.is_admin)
        .a("commentRole", false)
        .a("podcastRole", false)
        .a("streamRole", true)
        .a("jukeboxRole", false)
        .a("shareRole", true)
        .a("videoConversionRole", false)
        .values("folder", vec![Val::Int(1)])
}

/// `getUser`: yourself; another user only for administrators.
pub fn get_user(c: &Call<'_>) -> MethodResult {
    let name = c.params.get("username").unwrap_or(&c.user.username);
    if !name.eq_ignore_ascii_case(&c.user.username) && !c.user.is_admin {
        return Err(SubError::not_authorized(
            "only administrators see other users",
        ));
    }
    let user = c
        .app
        .users
        .by_name(name)?
        .ok_or_else(|| SubError::not_found("user"))?;
    Ok(Response::ok_with("user", user_elem(&user)).into())
}

pub fn get_users(c: &Call<'_>) -> MethodResult {
    if !c.user.is_admin {
        return Err(SubError::not_authorized("only administrators list users"));
    }
    let users = c.app.users.list()?;
    Ok(Response::ok_with(
        "users",
        Elem::new().list("user", users.iter().map(user_elem).collect()),
    )
    .into())
}

fn scan_elem(c: &Call<'_>) -> Elem {
    Elem::new()
        .a("scanning", false)
        .a("count", c.app.songs.count())
}

pub fn scan_status(c: &Call<'_>) -> MethodResult {
    Ok(Response::ok_with("scanStatus", scan_elem(c)).into())
}

/// The inbox is watched continuously (and rescanned periodically); there is no separate scan
/// to start, so this reports the status (administrators only, as on other servers).
pub async fn start_scan(c: &Call<'_>) -> MethodResult {
    if !c.user.is_admin {
        return Err(SubError::not_authorized("only administrators start scans"));
    }
    Ok(Response::ok_with("scanStatus", scan_elem(c)).into())
}
