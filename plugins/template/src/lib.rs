//! A minimal ChillFi enricher: copy this folder, rename it, and edit `enrich`.
//! See plugins/musicbrainz-enricher for one that uses the network (`chillfi_plugin_sdk::http`).

use chillfi_plugin_sdk::{EnrichInput, Enricher, MetadataPatch, host};

struct MyEnricher;

impl Enricher for MyEnricher {
    fn enrich(input: EnrichInput) -> Result<MetadataPatch, String> {
        let genre = host::config("default-genre").unwrap_or_else(|| "Unknown".into());
        let only_when_missing = host::config("only-when-missing").as_deref() != Some("false");
        let mut patch = MetadataPatch::default();
        if !only_when_missing || input.metadata.genre.is_none() {
            host::info(&format!("{}: genre -> {genre}", input.relative_path));
            patch.genre = Some(genre);
        }
        Ok(patch)
    }
}

chillfi_plugin_sdk::export_enricher!(MyEnricher);
