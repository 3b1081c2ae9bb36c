//! Dispatch for the `enricher` world: the typed pre-instance per WIT version, the
//! conversions between public and generated types, and `PluginHost::enrich`.

use crate::bindings::{v0_1, v0_2};
use crate::call::CallState;
use crate::registry::{PluginHost, WorldPre};
use crate::runtime::{self, CallFailure, Runtime};
use crate::types::{
    CoverArt, EnrichInput, EnrichOutcome, IngestSource, MetadataPatch, MusicBrainzIds,
    PluginCallError, PluginKind,
};
use crate::validate;
use std::time::Duration;
use wasmtime::component::InstancePre;

/// A pre-instantiated enricher, by the WIT version it was built against.
pub enum Pre {
    V0_1(v0_1::enricher::EnricherPre<CallState>),
    V0_2(v0_2::enricher::EnricherPre<CallState>),
}

pub(crate) fn pre(version: &str, pre: InstancePre<CallState>) -> wasmtime::Result<Pre> {
    match version {
        "0.1.0" => Ok(Pre::V0_1(v0_1::enricher::EnricherPre::new(pre)?)),
        "0.2.0" => Ok(Pre::V0_2(v0_2::enricher::EnricherPre::new(pre)?)),
        other => Err(wasmtime::format_err!("no enricher bindings for {other}")),
    }
}

/// One call on a fresh instance. `Ok(Err(_))`: the plugin's own error (not a fault).
fn call(
    rt: &Runtime,
    pre: &Pre,
    state: CallState,
    deadline: Duration,
    input: &EnrichInput,
) -> Result<Result<MetadataPatch, String>, CallFailure> {
    match pre {
        Pre::V0_1(pre) => {
            let input = v0_1_input(input);
            let out = runtime::call(rt, state, deadline, |store| {
                let instance = pre.instantiate(&mut *store)?;
                instance
                    .chillfi_plugin_enrich()
                    .call_enrich(&mut *store, &input)
            })?;
            Ok(out.map(v0_1_patch))
        }
        Pre::V0_2(pre) => {
            let input = v0_2_input(input);
            let out = runtime::call(rt, state, deadline, |store| {
                let instance = pre.instantiate(&mut *store)?;
                instance
                    .chillfi_plugin_enrich()
                    .call_enrich(&mut *store, &input)
            })?;
            Ok(out.map(v0_2_patch))
        }
    }
}

impl PluginHost {
    /// Runs the enabled enrichers in order; each sees the metadata with the previous
    /// patches applied; later patches win. A failing enricher is skipped and reported.
    pub async fn enrich(&self, input: &EnrichInput) -> EnrichOutcome {
        let input = input.clone();
        self.blocking(move |h| h.enrich_blocking(&input))
            .await
            .unwrap_or_else(|message| EnrichOutcome {
                errors: vec![PluginCallError {
                    plugin: String::new(),
                    message,
                    fault: false,
                }],
                ..Default::default()
            })
    }

    /// The synchronous form of [`PluginHost::enrich`]; blocks the thread for up to the
    /// enrichers' deadlines.
    pub fn enrich_blocking(&self, input: &EnrichInput) -> EnrichOutcome {
        let mut out = EnrichOutcome::default();
        let limits = self.limits();
        for p in self.enabled(PluginKind::Enricher) {
            let Some(WorldPre::Enricher(pre)) = p.pre() else {
                continue;
            };
            let mut current = input.clone();
            current.metadata = out.patch.apply_to(&input.metadata);
            let started = std::time::Instant::now();
            // A plugin that may wait on the network gets the longer budget.
            let deadline = p
                .net()
                .map_or(limits.enricher_deadline, |n| n.call_deadline());
            let called = call(self.runtime(), pre, self.call_state(&p), deadline, &current);
            let checked = match called {
                Err(f) => Err(f.message),
                Ok(Err(e)) => Ok(Err(e)),
                Ok(Ok(patch)) => validate::check_size(
                    "patch",
                    validate::patch_size(&patch),
                    limits.max_result_bytes,
                )
                .and_then(|()| {
                    let cover = patch.cover.as_ref().map_or(0, |c| c.data.len());
                    validate::check_size("cover", cover, limits.max_cover_bytes)
                })
                .and_then(|()| validate::patch(&patch))
                .map(|()| Ok(patch))
                .map_err(|e| format!("invalid result: {e}")),
            };
            match self.settle(&p, started, checked) {
                Ok(Ok(patch)) => {
                    if !patch.is_empty() {
                        out.patch.merge(&patch);
                        out.applied.push(p.name.to_string());
                    }
                }
                Ok(Err(e)) => {
                    let message = validate::truncate(&e);
                    tracing::info!(plugin = &*p.name, "enricher returned an error: {message}");
                    out.errors.push(PluginCallError {
                        plugin: p.name.to_string(),
                        message,
                        fault: false,
                    });
                }
                Err(message) => out.errors.push(PluginCallError {
                    plugin: p.name.to_string(),
                    message,
                    fault: true,
                }),
            }
        }
        out
    }
}

// ----- 0.1.0 -----

fn v0_1_input(i: &EnrichInput) -> v0_1::enrich::EnrichInput {
    use v0_1::enrich as w;
    let m = &i.metadata;
    w::EnrichInput {
        metadata: w::TrackMetadata {
            title: m.title.clone(),
            artist: m.artist.clone(),
            album: m.album.clone(),
            album_artist: m.album_artist.clone(),
            track: m.track,
            track_total: m.track_total,
            disc: m.disc,
            year: m.year,
            genre: m.genre.clone(),
            duration_ms: m.duration_ms,
        },
        file_name: i.file_name.clone(),
        relative_path: i.relative_path.clone(),
        context: w::IngestContext {
            uploader: i.uploader.clone(),
            source: match i.source {
                IngestSource::Upload => w::IngestSource::Upload,
                IngestSource::Inbox => w::IngestSource::Inbox,
            },
        },
    }
}

/// Validated by `crate::validate` afterwards.
fn v0_1_patch(p: v0_1::enrich::MetadataPatch) -> MetadataPatch {
    MetadataPatch {
        title: p.title,
        artist: p.artist,
        album: p.album,
        album_artist: p.album_artist,
        track: p.track,
        track_total: p.track_total,
        disc: p.disc,
        year: p.year,
        genre: p.genre,
        ..Default::default()
    }
}

// ----- 0.2.0 -----

fn v0_2_input(i: &EnrichInput) -> v0_2::enrich::EnrichInput {
    use v0_2::enrich as w;
    let m = &i.metadata;
    let ids = &m.musicbrainz;
    w::EnrichInput {
        metadata: w::TrackMetadata {
            title: m.title.clone(),
            artist: m.artist.clone(),
            album: m.album.clone(),
            album_artist: m.album_artist.clone(),
            track: m.track,
            track_total: m.track_total,
            disc: m.disc,
            disc_total: m.disc_total,
            year: m.year,
            genre: m.genre.clone(),
            duration_ms: m.duration_ms,
            musicbrainz: w::MusicbrainzIds {
                recording: ids.recording.clone(),
                release: ids.release.clone(),
                artist: ids.artist.clone(),
            },
            has_cover: m.has_cover,
        },
        file_name: i.file_name.clone(),
        relative_path: i.relative_path.clone(),
        context: w::IngestContext {
            uploader: i.uploader.clone(),
            source: match i.source {
                IngestSource::Upload => w::IngestSource::Upload,
                IngestSource::Inbox => w::IngestSource::Inbox,
            },
        },
    }
}

/// Validated by `crate::validate` afterwards.
fn v0_2_patch(p: v0_2::enrich::MetadataPatch) -> MetadataPatch {
    let ids = p.musicbrainz;
    MetadataPatch {
        title: p.title,
        artist: p.artist,
        album: p.album,
        album_artist: p.album_artist,
        track: p.track,
        track_total: p.track_total,
        disc: p.disc,
        disc_total: p.disc_total,
        year: p.year,
        genre: p.genre,
        musicbrainz: MusicBrainzIds {
            recording: ids.recording,
            release: ids.release,
            artist: ids.artist,
        },
        cover: p.cover.map(|c| CoverArt {
            mime: c.mime,
            data: c.data,
        }),
    }
}
