//! filename-tagger: a ChillFi enricher that fills tags which are missing from the file
//! with what its path says, e.g. `Artist/Album (2001)/07 - Title.flac` or
//! `Artist - Title.mp3`. Tags present in the file are never changed.

wit_bindgen::generate!({
    path: "../../wit/chillfi-plugin@0.1.0",
    world: "enricher",
});

use chillfi::plugin::host::{self, LogLevel};
use exports::chillfi::plugin::enrich::{EnrichInput, Guest, MetadataPatch, TrackMetadata};

mod parse;

pub use parse::{Parsed, parse_path};

fn missing(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|v| v.trim().is_empty())
}

/// Keeps only the fields that the file's tags lack.
pub fn patch_for(meta: &TrackMetadata, p: Parsed) -> MetadataPatch {
    MetadataPatch {
        title: p.title.filter(|_| missing(&meta.title)),
        artist: p.artist.filter(|_| missing(&meta.artist)),
        album: p.album.filter(|_| missing(&meta.album)),
        album_artist: None,
        track: p
            .track
            .filter(|t| meta.track.is_none() && (1..=999).contains(t)),
        track_total: None,
        disc: p
            .disc
            .filter(|d| meta.disc.is_none() && (1..=999).contains(d)),
        year: p.year.filter(|_| meta.year.is_none()),
        genre: None,
    }
}

struct FilenameTagger;

impl Guest for FilenameTagger {
    fn enrich(input: EnrichInput) -> Result<MetadataPatch, String> {
        let use_folders = host::get_config("use-folders").as_deref() != Some("false");
        let path = if input.relative_path.trim().is_empty() {
            input.file_name.as_str()
        } else {
            input.relative_path.as_str()
        };
        let parsed = parse_path(path, use_folders);
        let patch = patch_for(&input.metadata, parsed);
        host::log(LogLevel::Debug, &format!("{path}: {patch:?}"));
        Ok(patch)
    }
}

export!(FilenameTagger);
