//! What follows a playlist change wherever it came from (Socket.IO or the Subsonic API): the
//! view everyone gets and the announcement on the bus; after a deletion, its share links go.

use crate::bus::{Bus, Event};
use crate::error::AppResult;
use crate::store::playlists::{Playlist, PlaylistView};
use crate::store::shares::{ShareKind, Shares};
use crate::store::songs::Songs;
use crate::store::users::Users;

/// A playlist as clients see it (deleted songs skipped).
pub fn view(songs: &Songs, users: &Users, playlist: &Playlist) -> AppResult<PlaylistView> {
    playlist.view(&songs.get_many(&playlist.song_ids), users)
}

/// Announces a created or changed playlist (`before` = `after` for a new one) and returns its
/// view.
pub fn changed(
    bus: &Bus,
    songs: &Songs,
    users: &Users,
    before: &Playlist,
    after: &Playlist,
) -> AppResult<PlaylistView> {
    let view = view(songs, users, after)?;
    bus.publish(Event::PlaylistChanged {
        before: Box::new(before.clone()),
        after: Box::new(after.clone()),
        view: Box::new(view.clone()),
    });
    Ok(view)
}

/// Removes a deleted playlist's share links and announces the deletion.
pub fn deleted(bus: &Bus, shares: &Shares, playlist: &Playlist) -> AppResult<()> {
    let links = shares.remove_for_item(ShareKind::Playlist, &playlist.id)?;
    tracing::debug!(playlist = %playlist.id, links, "playlist deleted");
    bus.publish(Event::PlaylistDeleted {
        playlist: Box::new(playlist.clone()),
    });
    Ok(())
}
