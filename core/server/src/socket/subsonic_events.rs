//! `subsonic:*` (the user's app credentials for the Subsonic API) and the per-user marks on
//! songs: `song:star`, `song:unstar`, `song:rate`.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;

use super::auth_events::NoPayload;
use super::{Access, Ctx, on};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::store::app_keys::Kind;
use crate::store::favourites::ItemKind;

pub fn register(app: &App, socket: &SocketRef) {
    on(app, socket, "subsonic:createKey", Access::User, create_key);
    on(app, socket, "subsonic:listKeys", Access::User, list_keys);
    on(app, socket, "subsonic:revokeKey", Access::User, revoke_key);
    on(app, socket, "song:star", Access::User, star);
    on(app, socket, "song:unstar", Access::User, unstar);
    on(app, socket, "song:rate", Access::User, rate);
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

fn marks(ctx: &Ctx, song_id: &str) -> AppResult<Value> {
    let user = ctx.user()?;
    let favs = &ctx.app.favourites;
    Ok(json!({
        "songId": song_id,
        "starred": favs.starred_at(&user.id, ItemKind::Song, song_id)?,
        "rating": favs.rating(&user.id, ItemKind::Song, song_id)?,
    }))
}

fn existing(ctx: &Ctx, song_id: &str) -> AppResult<()> {
    if ctx.app.songs.contains(song_id) {
        Ok(())
    } else {
        Err(AppError::NotFound("song"))
    }
}

async fn star(ctx: Ctx, p: SongRef) -> AppResult<Value> {
    existing(&ctx, &p.song_id)?;
    ctx.app
        .favourites
        .star(&ctx.user()?.id, ItemKind::Song, &p.song_id)?;
    marks(&ctx, &p.song_id)
}

async fn unstar(ctx: Ctx, p: SongRef) -> AppResult<Value> {
    existing(&ctx, &p.song_id)?;
    ctx.app
        .favourites
        .unstar(&ctx.user()?.id, ItemKind::Song, &p.song_id)?;
    marks(&ctx, &p.song_id)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Rate {
    song_id: String,
    rating: u8,
}

async fn rate(ctx: Ctx, p: Rate) -> AppResult<Value> {
    existing(&ctx, &p.song_id)?;
    ctx.app
        .favourites
        .rate(&ctx.user()?.id, ItemKind::Song, &p.song_id, p.rating)?;
    marks(&ctx, &p.song_id)
}
