//! A song record as sled stores it, its wire view, and the albums and artists derived from songs.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use chillfi_media::MusicBrainzIds;

use crate::store::favourites::Marks;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Song {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub album: String,
    pub album_artist: String,
    pub track: Option<u32>,
    pub track_total: Option<u32>,
    pub disc: Option<u32>,
    pub disc_total: Option<u32>,
    pub year: Option<i32>,
    pub genre: String,
    pub duration_ms: u64,
    pub bitrate: u32,
    pub sample_rate: u32,
    pub channels: u16,
    /// SHA-256 of the file as uploaded.
    pub source_hash: String,
    /// SHA-256 of the stored MP3; its blob is `songs/<hash>.mp3`.
    pub hash: String,
    pub size_bytes: u64,
    /// `art/<sha256>.<ext>` when the file had cover art.
    pub cover_key: Option<String>,
    pub album_id: String,
    pub artist_id: String,
    pub uploader_id: String,
    pub original_name: String,
    /// How the MP3 was made: "remuxed" or "encoded".
    pub conversion: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// From the file's tags; absent on the wire when there are none.
    #[serde(default, skip_serializing_if = "MusicBrainzIds::is_empty")]
    pub music_brainz: MusicBrainzIds,
}

impl Song {
    pub fn blob_key(&self) -> String {
        song_blob_key(&self.hash)
    }

    pub fn cover_url(&self) -> Option<String> {
        self.cover_key.as_deref().and_then(art_url)
    }
}

pub fn song_blob_key(hash: &str) -> String {
    format!("songs/{hash}.mp3")
}

/// A song as clients see it: the record plus its cover URL and play count.
#[derive(Debug, Clone)]
pub struct SongView {
    pub song: Arc<Song>,
    pub play_count: u64,
    /// The asking user's star and rating; `None` in views meant for everyone (pushes), where
    /// the wire form leaves both fields out.
    pub marks: Option<Marks>,
}

impl Serialize for SongView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            #[serde(flatten)]
            song: &'a Song,
            cover_url: Option<String>,
            play_count: u64,
            #[serde(flatten)]
            marks: Option<Marks>,
        }
        Wire {
            song: &self.song,
            cover_url: self.song.cover_url(),
            play_count: self.play_count,
            marks: self.marks,
        }
        .serialize(s)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Album {
    pub id: String,
    pub name: String,
    pub artist: String,
    pub year: Option<i32>,
    pub cover_url: Option<String>,
    pub song_count: u64,
    pub duration_ms: u64,
    #[serde(skip)]
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artist {
    pub id: String,
    pub name: String,
    pub album_count: u64,
    pub song_count: u64,
}

/// Stable ids from normalised names, so the same album from two uploads is one record.
pub(super) fn name_id(parts: &[&str]) -> String {
    let mut sha = Sha256::new();
    for part in parts {
        sha.update(part.trim().to_lowercase().as_bytes());
        sha.update([0]);
    }
    hex::encode(&sha.finalize()[..10])
}

pub fn album_id(album_artist: &str, album: &str) -> String {
    name_id(&["album", album_artist, album])
}

pub fn artist_id(artist: &str) -> String {
    name_id(&["artist", artist])
}

/// Lowercase without accents: "Beyoncé" and "BEYONCE" fold to the same text.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(&mut out, text);
    out
}

pub(super) fn fold_into(out: &mut String, text: &str) {
    if text.is_ascii() {
        out.extend(text.chars().map(|c| c.to_ascii_lowercase()));
        return;
    }
    out.extend(
        text.nfd()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
            .flat_map(char::to_lowercase),
    );
}

/// Only names the pipeline produces: 64 lowercase hex digits and a known image extension.
pub fn art_name(name: &str) -> Option<&'static str> {
    let (hash, ext) = name.split_once('.')?;
    let mime = match ext {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        _ => return None,
    };
    let hex = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then_some(mime)
}

/// `/art/...` URL for a blob key `art/<hash>.<ext>`.
pub fn art_url(cover_key: &str) -> Option<String> {
    let name = cover_key.strip_prefix("art/")?;
    art_name(name).map(|_| format!("/art/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pipeline_art_names_are_served() {
        let hash = "a".repeat(64);
        assert!(art_name(&format!("{hash}.jpg")).is_some());
        assert!(art_name(&format!("{hash}.gif")).is_none());
        assert!(art_name("../../secret.jpg").is_none());
        assert!(art_name(&format!("{}.png", "A".repeat(64))).is_none());
        assert_eq!(
            art_url(&format!("art/{hash}.png")),
            Some(format!("/art/{hash}.png"))
        );
    }
}
