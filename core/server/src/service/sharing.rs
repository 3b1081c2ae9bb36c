//! Sharing rules: what a link may point at, what it shows now, and what share-handler plugins say
//! about new links and each use. The records themselves live in `store::shares`.

use chillfi_plugin_host::PluginHost;

use crate::error::{AppError, AppResult};
use crate::store::db::now_secs;
use crate::store::playlists::{Actor, Playlist, Playlists};
use crate::store::shares::{Share, ShareKind, Shares, validate_limits};
use crate::store::songs::{Song, Songs};
use crate::store::users::{User, Users};

/// What a link shows: a title, a line of description, the songs and a cover.
pub struct SharedItem {
    pub title: String,
    pub description: String,
    pub songs: Vec<Song>,
    pub cover_key: Option<String>,
}

/// The sharing service: the stores a link touches and the plugin host (share handlers).
#[derive(Clone)]
pub struct Sharing {
    users: Users,
    songs: Songs,
    playlists: Playlists,
    shares: Shares,
    /// Share-handler plugins are asked on creation and on access (see docs/plugins.md).
    plugins: Option<PluginHost>,
}

impl Sharing {
    pub fn new(
        users: Users,
        songs: Songs,
        playlists: Playlists,
        shares: Shares,
        plugins: Option<PluginHost>,
    ) -> Self {
        Self {
            users,
            songs,
            playlists,
            shares,
            plugins,
        }
    }

    /// Creates a link to something `creator` can see, with validated limits as the share handler
    /// (if any) decides. Returns the record and its token (the only time it exists in plain).
    pub fn create(
        &self,
        creator: &User,
        kind: ShareKind,
        item_id: &str,
        expires_at: Option<i64>,
        max_plays: Option<i64>,
    ) -> AppResult<(Share, String)> {
        // What the caller may see: every song and album, playlists by the usual rules.
        let exists = match kind {
            ShareKind::Song => self.songs.get(item_id)?.is_some(),
            ShareKind::Album => self.songs.album(item_id).is_some(),
            ShareKind::Playlist => {
                self.playlists.readable(item_id, &Actor::from(creator))?;
                true
            }
        };
        if !exists {
            return Err(AppError::NotFound(kind.as_str()));
        }
        let (expires_at, max_plays) = validate_limits(expires_at, max_plays, now_secs())?;
        let (expires_at, max_plays, slug) =
            self.plugin_decision(kind, item_id, expires_at, max_plays)?;
        self.shares
            .create(&creator.id, kind, item_id, (expires_at, max_plays), slug)
    }

    /// The title a link shows now; `None` when its item is gone.
    pub fn title(&self, share: &Share) -> AppResult<Option<String>> {
        Ok(self.shared_item(share)?.map(|item| item.title))
    }

    /// The links `actor` may see, each with its title; links whose item (or creator) is gone
    /// are removed on the way.
    pub fn list(
        &self,
        actor: &Actor,
        kind: Option<ShareKind>,
        item_id: Option<&str>,
    ) -> AppResult<Vec<(Share, String)>> {
        let mut items = Vec::new();
        for share in self.shares.list(actor, kind, item_id)? {
            match self.title(&share)? {
                Some(title) => items.push((share, title)),
                None => self.shares.remove(&share.share_id)?,
            }
        }
        Ok(items)
    }

    /// The share handler's say on a new link: its limits and label, or its refusal
    /// (`forbidden` with the plugin's reason). No handler, or one that faults: the request as is.
    fn plugin_decision(
        &self,
        kind: ShareKind,
        item_id: &str,
        expires_at: Option<i64>,
        max_plays: Option<u64>,
    ) -> AppResult<(Option<i64>, Option<u64>, Option<String>)> {
        let Some(host) = &self.plugins else {
            return Ok((expires_at, max_plays, None));
        };
        let now = now_secs();
        let req = chillfi_plugin_host::ShareCreateRequest {
            kind: match kind {
                ShareKind::Song => chillfi_plugin_host::ShareKind::Song,
                ShareKind::Album => chillfi_plugin_host::ShareKind::Album,
                ShareKind::Playlist => chillfi_plugin_host::ShareKind::Playlist,
            },
            item_id: item_id.to_string(),
            title: String::new(),
            requested_expires_at: expires_at.and_then(|t| u64::try_from(t).ok()),
            requested_max_plays: max_plays.and_then(|n| u32::try_from(n).ok()),
            now: u64::try_from(now).unwrap_or(0),
        };
        let decision = blocking_in_place(|| host.share_create_blocking(&req)).map_err(|r| {
            tracing::info!(plugin = %r.plugin, "share link refused: {}", r.reason);
            AppError::Forbidden(r.reason)
        })?;
        let expires = decision
            .expires_at
            .and_then(|t| i64::try_from(t).ok())
            .or(expires_at);
        let plays = decision
            .max_plays
            .map(i64::from)
            .or(max_plays.and_then(|n| i64::try_from(n).ok()));
        // The host validated the decision; the server's own limits still apply.
        match validate_limits(expires, plays, now) {
            Ok((expires, plays)) => Ok((expires, plays, decision.slug)),
            Err(e) => {
                tracing::warn!("ignoring a share handler's limits: {e}");
                Ok((expires_at, max_plays, decision.slug))
            }
        }
    }

    /// Whether the share handler (if any) lets the link be used now; `false` is answered like
    /// an expired link.
    pub async fn plugin_allows(&self, share: &Share) -> bool {
        let Some(host) = &self.plugins else {
            return true;
        };
        let info = chillfi_plugin_host::ShareAccessInfo {
            slug: share.slug.clone().unwrap_or_else(|| share.share_id.clone()),
            plays_so_far: u32::try_from(share.plays).unwrap_or(u32::MAX),
            max_plays: share
                .max_plays
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            created_at: u64::try_from(share.created_at).unwrap_or(0),
            expires_at: share.expires_at.and_then(|t| u64::try_from(t).ok()),
            now: u64::try_from(now_secs()).unwrap_or(0),
        };
        host.share_access(&info).await
    }

    /// Can the link's creator still see a playlist (others' private playlists may be unshared)?
    fn creator_sees_playlist(&self, share: &Share) -> AppResult<Option<Playlist>> {
        let Some(creator) = self.users.get(&share.creator_id)? else {
            return Ok(None);
        };
        let Some(playlist) = self.playlists.get(&share.item_id)? else {
            return Ok(None);
        };
        Ok(playlist
            .check_read(&Actor::from(&creator))
            .is_ok()
            .then_some(playlist))
    }

    /// Resolves what a link points at now; `None` when the item or the creator is gone.
    pub fn shared_item(&self, share: &Share) -> AppResult<Option<SharedItem>> {
        if self.users.get(&share.creator_id)?.is_none() {
            return Ok(None);
        }
        let item = match share.kind {
            ShareKind::Song => self.songs.get(&share.item_id)?.map(|song| SharedItem {
                title: song.title.clone(),
                description: format!("{} · {}", song.artist, song.album),
                cover_key: song.cover_key.clone(),
                songs: vec![song],
            }),
            ShareKind::Album => self.songs.album(&share.item_id).map(|(album, views)| {
                let songs: Vec<Song> = views.iter().map(|v| (*v.song).clone()).collect();
                SharedItem {
                    title: album.name.clone(),
                    description: format!("{} · {}", album.artist, count_songs(songs.len())),
                    cover_key: songs.iter().find_map(|s| s.cover_key.clone()),
                    songs,
                }
            }),
            ShareKind::Playlist => self.creator_sees_playlist(share)?.map(|playlist| {
                let songs = self.songs.get_many(&playlist.song_ids);
                let mut description = playlist
                    .description
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                if description.is_empty() {
                    description = count_songs(songs.len());
                }
                SharedItem {
                    title: playlist.name.clone(),
                    description,
                    cover_key: songs.iter().find_map(|s| s.cover_key.clone()),
                    songs,
                }
            }),
        };
        Ok(item)
    }

    /// The song if it belongs to what the link shares now (cheap: no full resolution).
    pub fn shared_song(&self, share: &Share, song_id: &str) -> AppResult<Option<Song>> {
        if self.users.get(&share.creator_id)?.is_none() {
            return Ok(None);
        }
        let Some(song) = self.songs.get(song_id)? else {
            return Ok(None);
        };
        let belongs = match share.kind {
            ShareKind::Song => song.id == share.item_id,
            ShareKind::Album => song.album_id == share.item_id,
            ShareKind::Playlist => self
                .creator_sees_playlist(share)?
                .is_some_and(|p| p.song_ids.contains(&song.id)),
        };
        Ok(belongs.then_some(song))
    }

    /// A link that may be opened now: known, not expired, not out of plays, item still there.
    pub fn open(&self, token: &str) -> AppResult<Option<(Share, SharedItem)>> {
        let Some(share) = self.shares.by_token(token)? else {
            return Ok(None);
        };
        if share.is_expired(now_secs()) || share.is_exhausted() {
            return Ok(None);
        }
        Ok(self.shared_item(&share)?.map(|item| (share, item)))
    }
}

/// Runs a short blocking call (a plugin with a deadline) from sync code that may be on the
/// async runtime's worker threads, without stalling the other tasks there.
fn blocking_in_place<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn count_songs(n: usize) -> String {
    if n == 1 {
        "1 song".to_string()
    } else {
        format!("{n} songs")
    }
}
