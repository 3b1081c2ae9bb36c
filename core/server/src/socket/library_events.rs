//! `song:*` (browse, play, edit), `album:*`, `artist:*`, `library:*`, `player:*` and the
//! per-user `user:getUploads` / `user:getStats` events.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;

use super::auth_events::NoPayload;
use super::{Access, Ctx, on};
use crate::app::App;
use crate::bus::Event;
use crate::error::{AppError, AppResult};
use crate::service::library::{
    self, MAX_LIMIT, Metadata, PageOut, Paging, SongListRequest, descending, search_words,
};
use crate::store::favourites::ItemKind;
use crate::store::player::Queue;
use crate::store::songs::{Album, Artist, SongFilter, SongSort, SongView, fold};

pub fn register(app: &App, socket: &SocketRef) {
    on(
        app,
        socket,
        "song:list",
        Access::User,
        |ctx, req: SongListRequest| async move {
            let mut page = ctx.app.library.list_songs(req)?;
            page.items = ctx.marked(page.items)?;
            Ok(page)
        },
    );
    on(app, socket, "song:starred", Access::User, starred_songs);
    on(app, socket, "song:lyrics", Access::User, song_lyrics);
    on(app, socket, "song:get", Access::User, song_get);
    on(app, socket, "song:getMany", Access::User, song_get_many);
    on(app, socket, "album:list", Access::User, album_list);
    on(app, socket, "album:get", Access::User, album_get);
    on(app, socket, "artist:list", Access::User, artist_list);
    on(app, socket, "artist:get", Access::User, artist_get);
    on(app, socket, "library:stats", Access::User, library_stats);
    on(
        app,
        socket,
        "library:changes",
        Access::User,
        library_changes,
    );
    on(app, socket, "user:getUploads", Access::User, user_uploads);
    on(app, socket, "user:getStats", Access::User, user_stats);
    on(app, socket, "song:play", Access::User, song_play);
    on(
        app,
        socket,
        "song:recordListen",
        Access::User,
        record_listen,
    );
    on(app, socket, "song:getListens", Access::User, get_listens);
    on(app, socket, "song:update", Access::User, song_update);
    on(
        app,
        socket,
        "song:updateMany",
        Access::User,
        song_update_many,
    );
    on(app, socket, "song:delete", Access::User, song_delete);
    on(
        app,
        socket,
        "player:queue",
        Access::User,
        |ctx, _: NoPayload| async move { ctx.app.player.queue(&ctx.user()?.id) },
    );
    on(app, socket, "player:addToQueue", Access::User, queue_add);
    on(
        app,
        socket,
        "player:removeFromQueue",
        Access::User,
        queue_remove,
    );
    on(app, socket, "player:moveInQueue", Access::User, queue_move);
    on(
        app,
        socket,
        "player:clearQueue",
        Access::User,
        |ctx, _: NoPayload| async move {
            edit_queue(&ctx, |q| {
                q.clear();
                Ok(())
            })
        },
    );
    on(app, socket, "player:status", Access::User, queue_status);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SongRef {
    song_id: String,
}

fn song_view(app: &App, id: &str) -> AppResult<SongView> {
    app.songs.view_of(id).ok_or(AppError::NotFound("song"))
}

async fn song_get(ctx: Ctx, req: SongRef) -> AppResult<Value> {
    let song = song_view(&ctx.app, &req.song_id)?;
    Ok(json!({ "song": ctx.app.marks.marked(&ctx.user()?.id, song)? }))
}

/// The lyrics read from the song's file (`null` when it had none).
async fn song_lyrics(ctx: Ctx, req: SongRef) -> AppResult<Value> {
    if !ctx.app.songs.contains(&req.song_id) {
        return Err(AppError::NotFound("song"));
    }
    let lyrics = ctx
        .app
        .songs
        .lyrics(&req.song_id)?
        .map(|text| crate::service::lyrics::parse(&text));
    Ok(json!({ "songId": req.song_id, "lyrics": lyrics }))
}

/// The caller's starred songs, the most recently starred first.
async fn starred_songs(ctx: Ctx, req: Paged) -> AppResult<PageOut<SongView>> {
    let paging = Paging::new(req.page, req.limit)?;
    let version = ctx.app.songs.version();
    let ids: Vec<String> = ctx
        .app
        .favourites
        .starred(&ctx.user()?.id, ItemKind::Song)?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| ctx.app.songs.contains(id))
        .collect();
    let (ids, total) = paging.slice(ids);
    let views = ctx.app.songs.views_of(&ids).into_iter().flatten().collect();
    Ok(PageOut::new(ctx.marked(views)?, total, paging, version))
}

#[derive(Deserialize)]
struct Ids {
    ids: Vec<String>,
}

async fn song_get_many(ctx: Ctx, req: Ids) -> AppResult<Value> {
    if req.ids.len() > MAX_LIMIT as usize {
        return Err(AppError::invalid_field(
            "ids",
            format!("at most {MAX_LIMIT} ids per request"),
        ));
    }
    let mut items = Vec::new();
    let mut missing = Vec::new();
    for (id, view) in req.ids.iter().zip(ctx.app.songs.views_of(&req.ids)) {
        match view {
            Some(view) => items.push(view),
            None => missing.push(id),
        }
    }
    Ok(json!({ "items": ctx.marked(items)?, "missing": missing }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ListRequest {
    search: Option<String>,
    artist_id: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<u64>,
    limit: Option<u64>,
}

async fn album_list(ctx: Ctx, req: ListRequest) -> AppResult<PageOut<Album>> {
    let paging = Paging::new(req.page, req.limit)?;
    let words = search_words(req.search.as_deref())?;
    let version = ctx.app.songs.version();
    let mut albums = match &req.artist_id {
        Some(id) => ctx
            .app
            .songs
            .artist(id)
            .map(|(_, albums, _)| albums)
            .unwrap_or_default(),
        None => ctx.app.songs.albums(),
    };
    albums.retain(|a| {
        let text = fold(&format!("{}\n{}", a.name, a.artist));
        words.iter().all(|w| text.contains(w.as_str()))
    });
    let sort = req.sort.as_deref().unwrap_or("name");
    let key = |a: &Album| match sort {
        "artist" => (fold(&a.artist), fold(&a.name), 0),
        "year" => (String::new(), fold(&a.name), i64::from(a.year.unwrap_or(0))),
        "createdAt" => (String::new(), String::new(), a.created_at),
        _ => (fold(&a.name), fold(&a.artist), 0),
    };
    if !matches!(sort, "name" | "artist" | "year" | "createdAt") {
        return Err(AppError::invalid_field(
            "sort",
            format!("sort albums by name, artist, year or createdAt, not '{sort}'"),
        ));
    }
    let desc = descending(req.order.as_deref(), sort == "createdAt")?;
    albums.sort_by_cached_key(|a| {
        let (text, second, number) = key(a);
        (number, text, second, a.id.clone())
    });
    if desc {
        albums.reverse();
    }
    let (items, total) = paging.slice(albums);
    Ok(PageOut::new(items, total, paging, version))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlbumRef {
    album_id: String,
}

async fn album_get(ctx: Ctx, req: AlbumRef) -> AppResult<Value> {
    let (album, songs) = ctx
        .app
        .songs
        .album(&req.album_id)
        .ok_or(AppError::NotFound("album"))?;
    let marks = ctx
        .app
        .favourites
        .marks(&ctx.user()?.id, ItemKind::Album, &req.album_id)?;
    let mut album = serde_json::to_value(album).map_err(AppError::internal)?;
    album["starred"] = json!(marks.starred);
    Ok(json!({ "album": album, "songs": ctx.marked(songs)? }))
}

async fn artist_list(ctx: Ctx, req: ListRequest) -> AppResult<PageOut<Artist>> {
    let paging = Paging::new(req.page, req.limit)?;
    let words = search_words(req.search.as_deref())?;
    let version = ctx.app.songs.version();
    let mut artists: Vec<(String, Artist)> = ctx
        .app
        .songs
        .artists()
        .into_iter()
        .map(|a| (fold(&a.name), a))
        .filter(|(name, _)| words.iter().all(|w| name.contains(w.as_str())))
        .collect();
    artists.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let (items, total) = paging.slice(artists.into_iter().map(|(_, a)| a).collect());
    Ok(PageOut::new(items, total, paging, version))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtistRef {
    artist_id: String,
}

async fn artist_get(ctx: Ctx, req: ArtistRef) -> AppResult<Value> {
    let (artist, albums, songs) = ctx
        .app
        .songs
        .artist(&req.artist_id)
        .ok_or(AppError::NotFound("artist"))?;
    Ok(json!({ "artist": artist, "albums": albums, "songs": ctx.marked(songs)? }))
}

async fn library_stats(ctx: Ctx, _: NoPayload) -> AppResult<Value> {
    let (songs, albums, artists, duration_ms, size_bytes, version) = ctx.app.songs.stats();
    Ok(json!({
        "songs": songs, "albums": albums, "artists": artists,
        "durationMs": duration_ms, "sizeBytes": size_bytes, "version": version,
    }))
}

#[derive(Deserialize)]
struct Since {
    since: u64,
}

async fn library_changes(ctx: Ctx, req: Since) -> AppResult<Value> {
    let c = ctx.app.songs.changes_since(req.since)?;
    Ok(json!({
        "version": c.version, "upserted": ctx.marked(c.upserted)?, "deleted": c.deleted, "reset": c.reset,
    }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct UserPaged {
    user_id: Option<String>,
    page: Option<u64>,
    limit: Option<u64>,
}

/// The user a per-user request is about: the caller, or (for admins) anyone.
fn subject(ctx: &Ctx, user_id: Option<&str>) -> AppResult<String> {
    let me = ctx.user()?;
    match user_id {
        None => Ok(me.id.clone()),
        Some(id) if id == me.id => Ok(me.id.clone()),
        Some(id) if me.is_admin => Ok(ctx.app.users.require(id)?.id),
        Some(_) => Err(AppError::Forbidden(
            "only administrators see other users' uploads and stats".into(),
        )),
    }
}

async fn user_uploads(ctx: Ctx, req: UserPaged) -> AppResult<PageOut<SongView>> {
    let paging = Paging::new(req.page, req.limit)?;
    let version = ctx.app.songs.version();
    let page = ctx.app.songs.list(
        &uploads_of(subject(&ctx, req.user_id.as_deref())?),
        SongSort::CreatedAt,
        true,
        paging.offset(),
        paging.limit as usize,
    );
    Ok(PageOut::new(
        ctx.marked(page.items)?,
        page.total,
        paging,
        version,
    ))
}

fn uploads_of(user_id: String) -> SongFilter {
    SongFilter {
        uploader: Some(user_id),
        ..Default::default()
    }
}

async fn user_stats(ctx: Ctx, req: UserPaged) -> AppResult<Value> {
    let user_id = subject(&ctx, req.user_id.as_deref())?;
    let app = &ctx.app;
    let uploads = app
        .songs
        .list(
            &uploads_of(user_id.clone()),
            SongSort::CreatedAt,
            true,
            0,
            0,
        )
        .total;
    let (mut total_plays, mut total_ms) = (0u64, 0u64);
    let mut per_song: HashMap<String, u64> = HashMap::new();
    let mut recent = Vec::new();
    for listen in app.player.listens(&user_id) {
        let listen = listen?;
        total_plays += 1;
        total_ms += listen.played_ms;
        *per_song.entry(listen.song_id.clone()).or_default() += 1;
        if recent.len() < 20
            && let Some(song) = app.songs.view_of(&listen.song_id)
        {
            recent.push(json!({ "song": song, "playedAt": listen.played_at }));
        }
    }
    let mut per_artist: HashMap<String, u64> = HashMap::new();
    let mut top_songs: Vec<(u64, SongView)> = Vec::new();
    for (id, plays) in per_song {
        if let Some(song) = app.songs.view_of(&id) {
            *per_artist.entry(song.song.artist.clone()).or_default() += plays;
            top_songs.push((plays, song));
        }
    }
    top_songs.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.song.title.cmp(&b.1.song.title))
    });
    let mut top_artists: Vec<(String, u64)> = per_artist.into_iter().collect();
    top_artists.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(json!({
        "uploads": uploads,
        "totalPlays": total_plays,
        "totalListeningMs": total_ms,
        "topSongs": top_songs.into_iter().take(10)
            .map(|(plays, song)| json!({ "song": song, "plays": plays })).collect::<Vec<_>>(),
        "topArtists": top_artists.into_iter().take(10)
            .map(|(artist, plays)| json!({ "artist": artist, "plays": plays })).collect::<Vec<_>>(),
        "recent": recent,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlayReq {
    song_id: String,
    #[serde(default)]
    client: Option<crate::service::variants::ClientReq>,
}

/// The stored MP3, or the streaming variant a transcode-profile plugin picks for this client
/// (made on the fly and cached; abandoned when the socket goes away before it is ready).
async fn song_play(ctx: Ctx, req: PlayReq) -> AppResult<library::PlayUrl> {
    let song = ctx
        .app
        .songs
        .get(&req.song_id)?
        .ok_or(AppError::NotFound("song"))?;
    let header_ua = ctx
        .socket
        .req_parts()
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client = req
        .client
        .unwrap_or_default()
        .to_client_info(header_ua.as_deref())?;
    match ctx.app.variants.choose(&song, &client).await {
        None => ctx.app.library.play_url(&song, None).await,
        Some((variant, plugin)) => {
            ctx.app
                .variants
                .ensure(&song, &variant, || ctx.socket.connected())
                .await?;
            ctx.app
                .library
                .play_url(&song, Some((&variant, plugin)))
                .await
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListenReq {
    song_id: String,
    #[serde(default)]
    played_ms: Option<u64>,
}

async fn record_listen(ctx: Ctx, req: ListenReq) -> AppResult<Value> {
    let user = ctx.user()?;
    let song = song_view(&ctx.app, &req.song_id)?;
    // A listen can't be longer than the song (a client bug or a lie either way).
    let played_ms = req
        .played_ms
        .unwrap_or(song.song.duration_ms)
        .min(song.song.duration_ms);
    let play_count = ctx.app.songs.record_play(&req.song_id)?;
    ctx.app
        .player
        .record_listen(&user.id, &req.song_id, played_ms)?;
    Ok(json!({ "playCount": play_count }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Paged {
    page: Option<u64>,
    limit: Option<u64>,
}

async fn get_listens(ctx: Ctx, req: Paged) -> AppResult<PageOut<Value>> {
    let paging = Paging::new(req.page, req.limit)?;
    let user = ctx.user()?;
    let mut all = Vec::new();
    for listen in ctx.app.player.listens(&user.id) {
        let listen = listen?;
        if let Some(song) = ctx.app.songs.view_of(&listen.song_id) {
            all.push(json!({
                "song": song, "playedAt": listen.played_at, "playedMs": listen.played_ms,
            }));
        }
    }
    let (items, total) = paging.slice(all);
    Ok(PageOut::new(items, total, paging, ctx.app.songs.version()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateReq {
    song_id: String,
    metadata: Metadata,
}

async fn song_update(ctx: Ctx, req: UpdateReq) -> AppResult<Value> {
    let song = ctx
        .app
        .library
        .update(ctx.user()?, &req.song_id, &req.metadata)?;
    Ok(json!({ "song": ctx.app.marks.marked(&ctx.user()?.id, song)? }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateManyReq {
    song_ids: Vec<String>,
    metadata: Metadata,
}

async fn song_update_many(ctx: Ctx, req: UpdateManyReq) -> AppResult<Value> {
    let items = ctx
        .app
        .library
        .update_many(ctx.user()?, &req.song_ids, &req.metadata)?;
    Ok(json!({ "items": ctx.marked(items)? }))
}

async fn song_delete(ctx: Ctx, req: SongRef) -> AppResult<Value> {
    let song = ctx.app.library.delete(ctx.user()?, &req.song_id).await?;
    Ok(json!({ "songId": song.id }))
}

/// Changes the caller's queue and tells their other sessions.
fn edit_queue(ctx: &Ctx, edit: impl FnOnce(&mut Queue) -> AppResult<()>) -> AppResult<Queue> {
    let user = ctx.user()?;
    let queue = ctx.app.player.edit_queue(&user.id, edit)?;
    ctx.app.bus.publish(Event::QueueUpdated {
        user_id: user.id.clone(),
        queue: Box::new(queue.clone()),
        origin: Some(ctx.socket.id.to_string()),
    });
    Ok(queue)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueAdd {
    song_ids: Vec<String>,
    position: Option<usize>,
}

async fn queue_add(ctx: Ctx, req: QueueAdd) -> AppResult<Queue> {
    if let Some(missing) = req.song_ids.iter().find(|id| !ctx.app.songs.contains(id)) {
        return Err(AppError::invalid_field(
            "songIds",
            format!("no song with id '{missing}'"),
        ));
    }
    edit_queue(&ctx, |q| q.add(req.song_ids, req.position))
}

#[derive(Deserialize)]
struct QueueRemove {
    indexes: Vec<usize>,
}

async fn queue_remove(ctx: Ctx, req: QueueRemove) -> AppResult<Queue> {
    edit_queue(&ctx, |q| q.remove(req.indexes))
}

#[derive(Deserialize)]
struct QueueMove {
    from: usize,
    to: usize,
}

async fn queue_move(ctx: Ctx, req: QueueMove) -> AppResult<Queue> {
    edit_queue(&ctx, |q| q.move_item(req.from, req.to))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct QueueStatus {
    /// Absent: unchanged; `null`: nothing current; a number: that index.
    current: Option<Value>,
    position_ms: Option<u64>,
    playing: Option<bool>,
}

async fn queue_status(ctx: Ctx, req: QueueStatus) -> AppResult<Queue> {
    if req.current.is_none() && req.position_ms.is_none() && req.playing.is_none() {
        return ctx.app.player.queue(&ctx.user()?.id);
    }
    edit_queue(&ctx, |q| {
        match &req.current {
            None => {}
            Some(Value::Null) => q.current = None,
            Some(v) => match v.as_u64().and_then(|i| usize::try_from(i).ok()) {
                Some(i) if i < q.song_ids.len() => {
                    if q.current != Some(i) {
                        q.position_ms = 0;
                    }
                    q.current = Some(i);
                }
                _ => {
                    return Err(AppError::invalid_field(
                        "current",
                        "current is an index into the queue or null",
                    ));
                }
            },
        }
        if let Some(pos) = req.position_ms {
            q.position_ms = pos;
        }
        if let Some(playing) = req.playing {
            q.playing = playing && q.current.is_some();
        }
        Ok(())
    })
}
