//! `playlist:*` and `share:*` events: playlists (own, public, shared with users) and share links.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;

use super::auth_events::NoPayload;
use super::{Access, Ctx, on};
use crate::app::App;
use crate::bus::Event;
use crate::error::{AppError, AppResult};
use crate::service::playlists;
use crate::store::playlists::{Actor, Changes, Member, NewPlaylist, Playlist, PlaylistView};
use crate::store::shares::ShareKind;

/// Most usernames one `playlist:shareWith` names.
const MAX_USERNAMES: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlaylistRef {
    playlist_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Create {
    name: String,
    description: Option<String>,
    is_public: Option<bool>,
    song_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Update {
    playlist_id: String,
    name: Option<String>,
    description: Option<String>,
    is_public: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddSongs {
    playlist_id: String,
    song_ids: Vec<String>,
    position: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoveSongs {
    playlist_id: String,
    indexes: Vec<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reorder {
    playlist_id: String,
    song_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShareWith {
    playlist_id: String,
    usernames: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateShare {
    kind: String,
    id: String,
    /// Numbers are checked by hand so a bad one is `invalid` naming its field.
    expires_at: Option<Value>,
    max_plays: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ListShares {
    kind: Option<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RevokeShare {
    share_id: String,
}

pub fn register(app: &App, socket: &SocketRef) {
    on(app, socket, "playlist:list", Access::User, list);
    on(app, socket, "playlist:get", Access::User, get);
    on(app, socket, "playlist:create", Access::User, create);
    on(app, socket, "playlist:update", Access::User, update);
    on(app, socket, "playlist:delete", Access::User, delete);
    on(app, socket, "playlist:addSongs", Access::User, add_songs);
    on(
        app,
        socket,
        "playlist:removeSongs",
        Access::User,
        remove_songs,
    );
    on(app, socket, "playlist:reorder", Access::User, reorder);
    on(app, socket, "playlist:shareWith", Access::User, share_with);
    on(app, socket, "share:create", Access::User, create_share);
    on(app, socket, "share:list", Access::User, list_shares);
    on(app, socket, "share:revoke", Access::User, revoke_share);
}

fn actor(ctx: &Ctx) -> AppResult<Actor> {
    Ok(Actor::from(ctx.user()?))
}

fn song_exists(app: &App) -> impl Fn(&str) -> bool + '_ {
    move |id: &str| app.songs.get(id).ok().flatten().is_some()
}

fn view(app: &App, playlist: &Playlist) -> AppResult<PlaylistView> {
    playlists::view(&app.songs, &app.users, playlist)
}

/// Answers `{playlist}` after a change and announces it.
fn changed(app: &App, before: &Playlist, after: &Playlist) -> AppResult<Value> {
    let view = playlists::changed(&app.bus, &app.songs, &app.users, before, after)?;
    Ok(json!({ "playlist": view }))
}

async fn list(ctx: Ctx, _: NoPayload) -> AppResult<Value> {
    let me = ctx.user()?;
    let items = ctx
        .app
        .playlists
        .list_for(&me.id)?
        .iter()
        .map(|p| view(&ctx.app, p))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(json!({ "items": items }))
}

async fn get(ctx: Ctx, p: PlaylistRef) -> AppResult<Value> {
    let playlist = ctx.app.playlists.readable(&p.playlist_id, &actor(&ctx)?)?;
    let songs = ctx.app.songs.get_many(&playlist.song_ids);
    let view = playlist.view(&songs, &ctx.app.users)?;
    let songs = ctx.marked(songs.iter().map(|s| ctx.app.songs.view(s)).collect())?;
    Ok(json!({ "playlist": view, "songs": songs }))
}

async fn create(ctx: Ctx, p: Create) -> AppResult<Value> {
    let playlist = ctx.app.playlists.create(
        &actor(&ctx)?,
        NewPlaylist {
            name: p.name,
            description: p.description,
            is_public: p.is_public.unwrap_or(false),
            song_ids: p.song_ids.unwrap_or_default(),
        },
        &song_exists(&ctx.app),
    )?;
    // Everyone who can see it hears of it as an update.
    changed(&ctx.app, &playlist, &playlist)
}

async fn update(ctx: Ctx, p: Update) -> AppResult<Value> {
    let (before, after) = ctx.app.playlists.update(
        &p.playlist_id,
        &actor(&ctx)?,
        Changes {
            name: p.name,
            description: p.description,
            is_public: p.is_public,
        },
        &song_exists(&ctx.app),
    )?;
    changed(&ctx.app, &before, &after)
}

async fn delete(ctx: Ctx, p: PlaylistRef) -> AppResult<Value> {
    let playlist = ctx.app.playlists.delete(&p.playlist_id, &actor(&ctx)?)?;
    playlists::deleted(&ctx.app.bus, &ctx.app.shares, &playlist)?;
    Ok(json!({ "playlistId": playlist.id }))
}

async fn add_songs(ctx: Ctx, p: AddSongs) -> AppResult<Value> {
    let after = ctx.app.playlists.add_songs(
        &p.playlist_id,
        &actor(&ctx)?,
        &p.song_ids,
        p.position,
        &song_exists(&ctx.app),
    )?;
    changed(&ctx.app, &after, &after)
}

async fn remove_songs(ctx: Ctx, p: RemoveSongs) -> AppResult<Value> {
    let after = ctx.app.playlists.remove_songs(
        &p.playlist_id,
        &actor(&ctx)?,
        &p.indexes,
        &song_exists(&ctx.app),
    )?;
    changed(&ctx.app, &after, &after)
}

async fn reorder(ctx: Ctx, p: Reorder) -> AppResult<Value> {
    let after = ctx.app.playlists.reorder(
        &p.playlist_id,
        &actor(&ctx)?,
        &p.song_ids,
        &song_exists(&ctx.app),
    )?;
    changed(&ctx.app, &after, &after)
}

async fn share_with(ctx: Ctx, p: ShareWith) -> AppResult<Value> {
    let me = ctx.user()?.clone();
    let me_actor = Actor::from(&me);
    // Before resolving names: someone who cannot see the playlist learns nothing about users.
    ctx.app
        .playlists
        .get(&p.playlist_id)?
        .ok_or(AppError::NotFound("playlist"))?
        .check_write(&me_actor)?;
    if p.usernames.len() > MAX_USERNAMES {
        return Err(AppError::invalid_field(
            "usernames",
            format!("at most {MAX_USERNAMES} usernames at a time"),
        ));
    }
    let mut users = Vec::new();
    for name in &p.usernames {
        match ctx.app.users.by_name(name)? {
            Some(user) => users.push(user),
            None => {
                let shown: String = name.chars().take(40).collect();
                return Err(AppError::invalid_field(
                    "usernames",
                    format!("no user named '{shown}'"),
                ));
            }
        }
    }
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let (before, after) =
        ctx.app
            .playlists
            .share_with(&p.playlist_id, &me_actor, &ids, &song_exists(&ctx.app))?;
    let with: Vec<String> = users
        .iter()
        .filter(|u| u.id != after.owner_id)
        .map(|u| u.id.clone())
        .collect();
    let answer = changed(&ctx.app, &before, &after)?;
    if !with.is_empty() {
        ctx.app.bus.publish(Event::PlaylistShared {
            view: Box::new(view(&ctx.app, &after)?),
            by: Member::from(&me),
            with,
        });
    }
    Ok(answer)
}

/// An integer payload field (JSON numbers with no fraction); `null` is absent.
fn int_field(value: Option<Value>, field: &str) -> AppResult<Option<i64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| AppError::invalid_field(field, format!("{field} is a whole number"))),
        Some(_) => Err(AppError::invalid_field(
            field,
            format!("{field} is a whole number"),
        )),
    }
}

async fn create_share(ctx: Ctx, p: CreateShare) -> AppResult<Value> {
    let me = ctx.user()?;
    let kind = ShareKind::parse(&p.kind)?;
    let expires_at = int_field(p.expires_at, "expiresAt")?;
    let max_plays = int_field(p.max_plays, "maxPlays")?;
    let (share, token) = ctx
        .app
        .sharing
        .create(me, kind, &p.id, expires_at, max_plays)?;
    let base = crate::http::share_page::base_url(
        &ctx.app.cfg,
        &ctx.socket.req_parts().headers,
        &ctx.socket.req_parts().uri,
    );
    let mut view = share.view(ctx.app.sharing.title(&share)?);
    view.url = Some(format!("{base}/s/{token}"));
    view.token = Some(token);
    tracing::info!(share = %share.share_id, kind = kind.as_str(), item = %share.item_id, "share link created");
    Ok(json!(view))
}

async fn list_shares(ctx: Ctx, p: ListShares) -> AppResult<Value> {
    let kind = p.kind.as_deref().map(ShareKind::parse).transpose()?;
    let items: Vec<_> = ctx
        .app
        .sharing
        .list(&actor(&ctx)?, kind, p.id.as_deref())?
        .into_iter()
        .map(|(share, title)| share.view(Some(title)))
        .collect();
    Ok(json!({ "items": items }))
}

async fn revoke_share(ctx: Ctx, p: RevokeShare) -> AppResult<Value> {
    let share = ctx.app.shares.revoke(&p.share_id, &actor(&ctx)?)?;
    tracing::info!(share = %share.share_id, "share link revoked");
    Ok(json!({ "shareId": share.share_id }))
}
