//! Browsing: music folders, indexes, artists, albums, songs, the folder view for folder-based
//! clients (artist → album → songs), and the info methods.

use std::collections::BTreeMap;

use super::error::SubError;
use super::response::{Elem, Response};
use super::views::{self, MarkBook};
use super::{Call, MethodResult};
use crate::store::favourites::ItemKind;
use crate::store::songs::{Album, Artist, SongView};

/// The one music folder; its id is an integer as the spec requires.
pub const FOLDER_ID: i64 = 1;

pub fn music_folders() -> MethodResult {
    Ok(Response::ok_with(
        "musicFolders",
        Elem::new().list(
            "musicFolder",
            vec![Elem::new().a("id", FOLDER_ID).a("name", "Music")],
        ),
    )
    .into())
}

fn sorted_artists(c: &Call<'_>) -> Vec<Artist> {
    let mut artists = c.app.songs.artists();
    artists.sort_by_cached_key(|a| crate::store::songs::fold(&a.name));
    artists
}

/// Artists grouped by index letter, in letter order (`#` last).
fn indexed(artists: Vec<Artist>) -> Vec<(String, Vec<Artist>)> {
    let mut groups: BTreeMap<(bool, String), Vec<Artist>> = BTreeMap::new();
    for a in artists {
        let letter = views::index_letter(&a.name);
        groups.entry((letter == "#", letter)).or_default().push(a);
    }
    groups.into_iter().map(|((_, l), v)| (l, v)).collect()
}

pub fn indexes(c: &Call<'_>) -> MethodResult {
    let book = c.marks()?;
    let index = indexed(sorted_artists(c))
        .into_iter()
        .map(|(letter, artists)| {
            let items = artists
                .iter()
                .map(|a| {
                    let m = book.of(ItemKind::Artist, &a.id);
                    Elem::new()
                        .a("id", &a.id)
                        .a(
                            "name",
                            if a.name.is_empty() {
                                "Unknown Artist"
                            } else {
                                &a.name
                            },
                        )
                        .opt("starred", m.starred.map(views::iso8601))
                        .opt("userRating", m.rating)
                })
                .collect();
            Elem::new().a("name", letter).list("artist", items)
        })
        .collect();
    Ok(Response::ok_with(
        "indexes",
        Elem::new()
            .a("lastModified", c.app.songs.version())
            .a("ignoredArticles", "The")
            .list("index", index),
    )
    .into())
}

pub fn artists(c: &Call<'_>) -> MethodResult {
    let book = c.marks()?;
    let index = indexed(sorted_artists(c))
        .into_iter()
        .map(|(letter, artists)| {
            let items = artists
                .iter()
                .map(|a| views::artist(a, &book.of(ItemKind::Artist, &a.id)))
                .collect();
            Elem::new().a("name", letter).list("artist", items)
        })
        .collect();
    Ok(Response::ok_with(
        "artists",
        Elem::new().a("ignoredArticles", "The").list("index", index),
    )
    .into())
}

fn album_genre(songs: &[SongView]) -> Option<String> {
    songs
        .iter()
        .map(|s| s.song.genre.clone())
        .find(|g| !g.is_empty())
}

pub fn album_elem(book: &MarkBook, album: &Album, songs: &[SongView]) -> Elem {
    views::album(
        album,
        &book.of(ItemKind::Album, &album.id),
        album_genre(songs).as_deref(),
    )
}

pub fn song_elems(book: &MarkBook, songs: &[SongView]) -> Vec<Elem> {
    songs
        .iter()
        .map(|s| views::song(s, &book.of(ItemKind::Song, &s.song.id)))
        .collect()
}

pub fn artist(c: &Call<'_>) -> MethodResult {
    let id = c.params.req("id")?;
    let (artist, albums, _songs) = c
        .app
        .songs
        .artist(id)
        .ok_or_else(|| SubError::not_found("artist"))?;
    let book = c.marks()?;
    let albums = albums
        .iter()
        .map(|a| views::album(a, &book.of(ItemKind::Album, &a.id), None))
        .collect();
    Ok(Response::ok_with(
        "artist",
        views::artist(&artist, &book.of(ItemKind::Artist, &artist.id)).list("album", albums),
    )
    .into())
}

pub fn album(c: &Call<'_>) -> MethodResult {
    let id = c.params.req("id")?;
    let (album, songs) = c
        .app
        .songs
        .album(id)
        .ok_or_else(|| SubError::not_found("album"))?;
    let book = c.marks()?;
    Ok(Response::ok_with(
        "album",
        album_elem(&book, &album, &songs).list("song", song_elems(&book, &songs)),
    )
    .into())
}

pub fn song(c: &Call<'_>) -> MethodResult {
    let id = c.params.req("id")?;
    let view = c
        .app
        .songs
        .view_of(id)
        .ok_or_else(|| SubError::not_found("song"))?;
    let book = c.marks()?;
    Ok(Response::ok_with("song", views::song(&view, &book.of(ItemKind::Song, id))).into())
}

/// `getMusicDirectory`: the folder `1` lists artists, an artist lists its albums, an album its
/// songs.
pub fn music_directory(c: &Call<'_>) -> MethodResult {
    let id = c.params.req("id")?;
    let book = c.marks()?;
    if id == FOLDER_ID.to_string() {
        let children = sorted_artists(c)
            .iter()
            .map(|a| {
                let m = book.of(ItemKind::Artist, &a.id);
                Elem::new()
                    .a("id", &a.id)
                    .a("parent", FOLDER_ID)
                    .a("isDir", true)
                    .a("title", &a.name)
                    .opt("starred", m.starred.map(views::iso8601))
            })
            .collect();
        return Ok(Response::ok_with(
            "directory",
            Elem::new()
                .a("id", FOLDER_ID)
                .a("name", "Music")
                .list("child", children),
        )
        .into());
    }
    if let Some((album, songs)) = c.app.songs.album(id) {
        let m = book.of(ItemKind::Album, &album.id);
        return Ok(Response::ok_with(
            "directory",
            Elem::new()
                .a("id", &album.id)
                .a("parent", crate::store::songs::artist_id(&album.artist))
                .a("name", &album.name)
                .opt("starred", m.starred.map(views::iso8601))
                .opt("userRating", m.rating)
                .a("playCount", songs.iter().map(|s| s.play_count).sum::<u64>())
                .list("child", song_elems(&book, &songs)),
        )
        .into());
    }
    if let Some((artist, albums, _)) = c.app.songs.artist(id) {
        let m = book.of(ItemKind::Artist, &artist.id);
        let children = albums
            .iter()
            .map(|a| {
                let am = book.of(ItemKind::Album, &a.id);
                Elem::new()
                    .a("id", &a.id)
                    .a("parent", &artist.id)
                    .a("isDir", true)
                    .a("title", &a.name)
                    .a("album", &a.name)
                    .a("artist", &a.artist)
                    .opt("year", a.year)
                    .opt(
                        "coverArt",
                        a.cover_url.as_deref().and_then(|u| u.strip_prefix("/art/")),
                    )
                    .a("created", views::iso8601(a.created_at))
                    .opt("starred", am.starred.map(views::iso8601))
                    .opt("userRating", am.rating)
            })
            .collect();
        return Ok(Response::ok_with(
            "directory",
            Elem::new()
                .a("id", &artist.id)
                .a("parent", FOLDER_ID)
                .a("name", &artist.name)
                .opt("starred", m.starred.map(views::iso8601))
                .list("child", children),
        )
        .into());
    }
    Err(SubError::not_found("directory"))
}

/// `getArtistInfo(2)`: ChillFi keeps no biographies; answers the shape with what it has.
pub fn artist_info(c: &Call<'_>, method: &str) -> MethodResult {
    let id = c.params.req("id")?;
    let (_artist, albums, _) = c
        .app
        .songs
        .artist(id)
        .ok_or_else(|| SubError::not_found("artist"))?;
    let cover = albums.iter().find_map(|a| a.cover_url.clone());
    let name = if method == "getArtistInfo2" {
        "artistInfo2"
    } else {
        "artistInfo"
    };
    let similar = super::lists::similar_artists(c, id, c.params.count("count", 20, 100)?);
    let book = c.marks()?;
    let similar = similar
        .iter()
        .map(|a| views::artist(a, &book.of(ItemKind::Artist, &a.id)))
        .collect();
    Ok(Response::ok_with(
        name,
        Elem::new()
            .opt("smallImageUrl", cover.clone())
            .opt("mediumImageUrl", cover.clone())
            .opt("largeImageUrl", cover)
            .list("similarArtist", similar),
    )
    .into())
}

/// `getAlbumInfo(2)`: both answer `albumInfo`.
pub fn album_info(c: &Call<'_>) -> MethodResult {
    let id = c.params.req("id")?;
    let album = match c.app.songs.album(id) {
        Some((album, _)) => album,
        // `getAlbumInfo` (folder flavour) may be given a song id.
        None => c
            .app
            .songs
            .view_of(id)
            .and_then(|s| c.app.songs.album(&s.song.album_id))
            .map(|(a, _)| a)
            .ok_or_else(|| SubError::not_found("album"))?,
    };
    Ok(Response::ok_with(
        "albumInfo",
        Elem::new()
            .opt("smallImageUrl", album.cover_url.clone())
            .opt("mediumImageUrl", album.cover_url.clone())
            .opt("largeImageUrl", album.cover_url),
    )
    .into())
}
