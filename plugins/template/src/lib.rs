//! A minimal ChillFi enricher: copy this folder, rename it, and edit `enrich`.

wit_bindgen::generate!({
    // When the plugin lives outside ChillFi's repository, copy the `wit/` folder next to it
    // and adjust this path.
    path: "../../wit/chillfi-plugin@0.1.0",
    world: "enricher",
});

use chillfi::plugin::host::{self, LogLevel};
use exports::chillfi::plugin::enrich::{EnrichInput, Guest, MetadataPatch};

struct MyEnricher;

impl Guest for MyEnricher {
    fn enrich(input: EnrichInput) -> Result<MetadataPatch, String> {
        let genre = host::get_config("default-genre").unwrap_or_else(|| "Unknown".into());
        let only_when_missing = host::get_config("only-when-missing").as_deref() != Some("false");
        let mut patch = MetadataPatch {
            title: None,
            artist: None,
            album: None,
            album_artist: None,
            track: None,
            track_total: None,
            disc: None,
            year: None,
            genre: None,
        };
        if !only_when_missing || input.metadata.genre.is_none() {
            host::log(
                LogLevel::Info,
                &format!("{}: genre -> {genre}", input.relative_path),
            );
            patch.genre = Some(genre);
        }
        Ok(patch)
    }
}

export!(MyEnricher);
