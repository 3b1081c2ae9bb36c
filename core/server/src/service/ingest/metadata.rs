//! From the tags read in a file to a song record: what the uploader typed wins over the file,
//! enricher patches fill what is missing, and every value is cleaned and kept in range.

use chillfi_media::{ConvertKind, Tags};

use super::{Job, Origin, TagOverrides};
use crate::store::db::{new_id, now_secs};
use crate::store::songs::{Song, album_id, artist_id};

fn clean(value: Option<String>, max: usize) -> Option<String> {
    value
        .map(|v| {
            v.chars()
                .filter(|c| !c.is_control())
                .take(max)
                .collect::<String>()
                .trim()
                .to_string()
        })
        .filter(|v| !v.is_empty())
}

pub(super) fn merge_tags(file: Tags, overrides: Option<&TagOverrides>) -> Tags {
    let Some(o) = overrides else { return file };
    Tags {
        title: o.title.clone().or(file.title),
        artist: o.artist.clone().or(file.artist),
        album: o.album.clone().or(file.album),
        album_artist: o.album_artist.clone().or(file.album_artist),
        track: o.track.or(file.track),
        track_total: file.track_total,
        disc: o.disc.or(file.disc),
        disc_total: file.disc_total,
        year: o.year.or(file.year),
        genre: o.genre.clone().or(file.genre),
        lyrics: file.lyrics,
        musicbrainz: file.musicbrainz,
    }
}

/// What an enricher sees: the tags, the file's own name and its '/'-separated path relative to
/// the inbox (uploads: the name the browser sent).
pub(super) fn enrich_input(
    job: &Job,
    tags: &Tags,
    duration_ms: u64,
    has_cover: bool,
) -> chillfi_plugin_host::EnrichInput {
    use chillfi_plugin_host::{EnrichInput, IngestSource, MusicBrainzIds, TrackMetadata};
    let relative = match &job.origin {
        Origin::Inbox { relative } => relative.clone(),
        Origin::Upload { .. } | Origin::Import => job.original_name.clone(),
    }
    .replace('\\', "/");
    let file_name = relative.rsplit('/').next().unwrap_or(&relative).to_string();
    EnrichInput {
        metadata: TrackMetadata {
            title: tags.title.clone(),
            artist: tags.artist.clone(),
            album: tags.album.clone(),
            album_artist: tags.album_artist.clone(),
            track: tags.track,
            track_total: tags.track_total,
            disc: tags.disc,
            year: tags.year.and_then(|y| u32::try_from(y).ok()),
            genre: tags.genre.clone(),
            duration_ms: Some(duration_ms),
            disc_total: tags.disc_total,
            musicbrainz: MusicBrainzIds {
                recording: tags.musicbrainz.recording_id.clone(),
                release: tags.musicbrainz.release_id.clone(),
                artist: tags.musicbrainz.artist_id.clone(),
            },
            has_cover,
        },
        file_name,
        relative_path: relative,
        uploader: job.uploader_id.clone(),
        source: match job.origin {
            Origin::Inbox { .. } => IngestSource::Inbox,
            Origin::Upload { .. } | Origin::Import => IngestSource::Upload,
        },
    }
}

/// `tags` with a plugin patch applied. The host has validated the patch; values still go
/// through the pipeline's own rules (`clean`, ranges) in [`build_song`], like the file's tags.
pub(super) fn apply_patch(tags: Tags, patch: &chillfi_plugin_host::MetadataPatch) -> Tags {
    let p = patch.clone();
    Tags {
        title: p.title.or(tags.title),
        artist: p.artist.or(tags.artist),
        album: p.album.or(tags.album),
        album_artist: p.album_artist.or(tags.album_artist),
        track: p.track.or(tags.track),
        track_total: p.track_total.or(tags.track_total),
        disc: p.disc.or(tags.disc),
        disc_total: p.disc_total.or(tags.disc_total),
        year: p.year.and_then(|y| i32::try_from(y).ok()).or(tags.year),
        genre: p.genre.or(tags.genre),
        lyrics: tags.lyrics,
        musicbrainz: chillfi_media::MusicBrainzIds {
            recording_id: p.musicbrainz.recording.or(tags.musicbrainz.recording_id),
            release_id: p.musicbrainz.release.or(tags.musicbrainz.release_id),
            artist_id: p.musicbrainz.artist.or(tags.musicbrainz.artist_id),
        },
    }
}

/// The title a file gets when its tags have none: its name without extension.
fn title_from_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = match base.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => base,
    };
    clean(Some(stem.to_string()), 256).unwrap_or_else(|| "Untitled".into())
}

pub(super) fn build_song(
    job: &Job,
    tags: Tags,
    report: &chillfi_media::ConvertReport,
    source_hash: String,
    hash: String,
    size: u64,
    cover_key: Option<String>,
) -> Song {
    let title = clean(tags.title, 256).unwrap_or_else(|| title_from_name(&job.original_name));
    let artist = clean(tags.artist, 256).unwrap_or_else(|| "Unknown Artist".into());
    let album = clean(tags.album, 256).unwrap_or_else(|| "Unknown Album".into());
    let album_artist = clean(tags.album_artist, 256).unwrap_or_else(|| artist.clone());
    let now = now_secs();
    Song {
        id: new_id(),
        album_id: album_id(&album_artist, &album),
        artist_id: artist_id(&artist),
        title,
        artist,
        album,
        album_artist,
        track: tags.track.filter(|t| (1..=999).contains(t)),
        track_total: tags.track_total.filter(|t| (1..=999).contains(t)),
        disc: tags.disc.filter(|d| (1..=99).contains(d)),
        disc_total: tags.disc_total.filter(|d| (1..=99).contains(d)),
        year: tags.year.filter(|y| (1000..=2100).contains(y)),
        genre: clean(tags.genre, 64).unwrap_or_default(),
        duration_ms: report.duration_ms,
        bitrate: report.bitrate,
        sample_rate: report.sample_rate,
        channels: report.channels,
        source_hash,
        hash,
        size_bytes: size,
        cover_key,
        uploader_id: job.uploader_id.clone(),
        original_name: clean(Some(job.original_name.clone()), 512).unwrap_or_default(),
        conversion: match report.kind {
            ConvertKind::Remuxed => "remuxed".into(),
            ConvertKind::Encoded => "encoded".into(),
        },
        created_at: now,
        updated_at: now,
        music_brainz: tags.musicbrainz,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn titles_fall_back_to_the_file_name() {
        assert_eq!(title_from_name("music/07 - Song.flac"), "07 - Song");
        assert_eq!(title_from_name(".hidden"), ".hidden");
        assert_eq!(title_from_name("noext"), "noext");
        assert_eq!(title_from_name("bad\u{0}name.mp3"), "badname");
    }

    #[test]
    fn client_metadata_wins_over_file_tags() {
        let file = Tags {
            title: Some("File".into()),
            artist: Some("A".into()),
            ..Tags::default()
        };
        let o = TagOverrides {
            title: Some("Mine".into()),
            ..TagOverrides::default()
        };
        let merged = merge_tags(file, Some(&o));
        assert_eq!(merged.title.as_deref(), Some("Mine"));
        assert_eq!(merged.artist.as_deref(), Some("A"));
    }

    #[test]
    fn plugin_patches_fill_tags_and_uploader_values_still_win() {
        let job = Job {
            id: "j".into(),
            source: PathBuf::from("/x"),
            origin: Origin::Inbox {
                relative: "A\\B (2001)/07 - T.flac".into(),
            },
            original_name: "A\\B (2001)/07 - T.flac".into(),
            uploader_id: "u".into(),
            overrides: Some(TagOverrides {
                title: Some("Typed".into()),
                ..TagOverrides::default()
            }),
            cover: None,
            queued_at: 0,
        };
        let input = enrich_input(&job, &Tags::default(), 5, false);
        assert_eq!(input.relative_path, "A/B (2001)/07 - T.flac");
        assert_eq!(input.file_name, "07 - T.flac");
        assert_eq!(input.source, chillfi_plugin_host::IngestSource::Inbox);
        let patch = chillfi_plugin_host::MetadataPatch {
            title: Some("T".into()),
            artist: Some("A".into()),
            year: Some(2001),
            track: Some(7),
            ..Default::default()
        };
        let tags = merge_tags(apply_patch(Tags::default(), &patch), job.overrides.as_ref());
        assert_eq!(tags.title.as_deref(), Some("Typed"));
        assert_eq!(tags.artist.as_deref(), Some("A"));
        assert_eq!((tags.year, tags.track), (Some(2001), Some(7)));
    }
}
