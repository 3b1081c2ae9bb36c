//! `subsonic:*` (the user's app credentials for the Subsonic API) and the per-user marks on
//! songs and albums: `song:star`, `song:unstar`, `song:rate`, `album:star`, `album:unstar`.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;

use super::auth_events::NoPayload;
use super::{Access, Ctx, on};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::service::marks::Mark;
use crate::store::app_keys::Kind;
use crate::store::favourites::ItemKind;

pub fn register(app: &App, socket: &SocketRef) {
    on(app, socket, "subsonic:createKey", Access::User, create_key);
    on(app, socket, "subsonic:listKeys", Access::User, list_keys);
    on(app, socket, "subsonic:revokeKey", Access::User, revoke_key);
    on(app, socket, "song:star", Access::User, star);
    on(app, socket, "song:unstar", Access::User, unstar);
    on(app, socket, "song:rate", Access::User, rate);
    on(
        app,
        socket,
        "album:star",
        Access::User,
        |ctx, p: AlbumRef| async move { mark_album(&ctx, &p.album_id, Mark::Star) },
    );
    on(
        app,
        socket,
        "album:unstar",
        Access::User,
        |ctx, p: AlbumRef| async move { mark_album(&ctx, &p.album_id, Mark::Unstar) },
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    label: String,
    kind: Kind,
}

async fn create_key(ctx: Ctx, p: CreateKey) -> AppResult<Value> {
    let user = ctx.user()?;
    let created = ctx.app.app_keys.create(user, &p.label, p.kind)?;
    tracing::info!(user = %user.username, id = %created.id, kind = ?created.kind, "app credential created");
    serde_json::to_value(created).map_err(AppError::internal)
}

async fn list_keys(ctx: Ctx, _: NoPayload) -> AppResult<Value> {
    Ok(json!({ "items": ctx.app.app_keys.list(&ctx.user()?.id)? }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRef {
    id: String,
}

async fn revoke_key(ctx: Ctx, p: KeyRef) -> AppResult<Value> {
    let user = ctx.user()?;
    let revoked = ctx.app.app_keys.revoke(user, &p.id)?;
    tracing::info!(user = %user.username, id = %revoked.id, "app credential revoked");
    Ok(json!({ "id": revoked.id }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SongRef {
    song_id: String,
}

fn existing(ctx: &Ctx, song_id: &str) -> AppResult<()> {
    if ctx.app.songs.contains(song_id) {
        Ok(())
    } else {
        Err(AppError::NotFound("song"))
    }
}

fn mark(ctx: &Ctx, song_id: &str, mark: Mark) -> AppResult<Value> {
    existing(ctx, song_id)?;
    let marks = ctx
        .app
        .marks
        .set(&ctx.user()?.id, ItemKind::Song, song_id, mark)?;
    Ok(json!({ "songId": song_id, "starred": marks.starred, "rating": marks.rating }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AlbumRef {
    album_id: String,
}

fn mark_album(ctx: &Ctx, album_id: &str, mark: Mark) -> AppResult<Value> {
    ctx.app
        .songs
        .album(album_id)
        .ok_or(AppError::NotFound("album"))?;
    let marks = ctx
        .app
        .marks
        .set(&ctx.user()?.id, ItemKind::Album, album_id, mark)?;
    Ok(json!({ "albumId": album_id, "starred": marks.starred, "rating": marks.rating }))
}

async fn star(ctx: Ctx, p: SongRef) -> AppResult<Value> {
    mark(&ctx, &p.song_id, Mark::Star)
}

async fn unstar(ctx: Ctx, p: SongRef) -> AppResult<Value> {
    mark(&ctx, &p.song_id, Mark::Unstar)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Rate {
    song_id: String,
    rating: u8,
}

async fn rate(ctx: Ctx, p: Rate) -> AppResult<Value> {
    mark(&ctx, &p.song_id, Mark::Rate(p.rating))
}
