//! ChillFi's plugin SDK (WIT `chillfi:plugin@0.2.0`, enricher world).
//!
//! A plugin is a `cdylib` crate that implements [`Enricher`] and exports it:
//!
//! ```ignore
//! use chillfi_plugin_sdk::{EnrichInput, Enricher, MetadataPatch, host};
//!
//! struct Genre;
//! impl Enricher for Genre {
//!     fn enrich(input: EnrichInput) -> Result<MetadataPatch, String> {
//!         let mut patch = MetadataPatch::default();
//!         if input.metadata.genre.is_none() {
//!             patch.genre = host::config("default-genre");
//!         }
//!         Ok(patch)
//!     }
//! }
//! chillfi_plugin_sdk::export_enricher!(Genre);
//! ```
//!
//! No WIT files or paths in the plugin: the bindings are generated here, from `wit/` of the
//! ChillFi repository. [`http`] sends requests through `wasi:http` (plugin.toml must ask for
//! `capabilities = ["http"]` and list `allowed-hosts`).

pub mod http;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/chillfi-plugin@0.2.0",
        world: "enricher",
        pub_export_macro: true,
        export_macro_name: "__export_enricher_impl",
        default_bindings_module: "chillfi_plugin_sdk::bindings",
        generate_all,
    });
}

pub use bindings::exports::chillfi::plugin::enrich::{
    CoverArt, EnrichInput, Guest as Enricher, IngestContext, IngestSource, MetadataPatch,
    MusicbrainzIds, TrackMetadata,
};

/// Exports a type implementing [`Enricher`] as the plugin.
#[macro_export]
macro_rules! export_enricher {
    ($t:ident) => {
        $crate::bindings::__export_enricher_impl!($t with_types_in $crate::bindings);
    };
}

impl Default for MusicbrainzIds {
    fn default() -> Self {
        MusicbrainzIds {
            recording: None,
            release: None,
            artist: None,
        }
    }
}

/// The empty patch: changes nothing.
impl Default for MetadataPatch {
    fn default() -> Self {
        MetadataPatch {
            title: None,
            artist: None,
            album: None,
            album_artist: None,
            track: None,
            track_total: None,
            disc: None,
            disc_total: None,
            year: None,
            genre: None,
            musicbrainz: MusicbrainzIds::default(),
            cover: None,
        }
    }
}

/// The server log and the plugin's configuration.
pub mod host {
    use crate::bindings::chillfi::plugin::host as h;
    pub use crate::bindings::chillfi::plugin::host::LogLevel;

    /// The administrator's value for `key`, else plugin.toml's default.
    pub fn config(key: &str) -> Option<String> {
        h::get_config(key)
    }

    pub fn log(level: LogLevel, message: &str) {
        h::log(level, message)
    }

    pub fn info(message: &str) {
        h::log(LogLevel::Info, message)
    }

    pub fn warn(message: &str) {
        h::log(LogLevel::Warn, message)
    }
}

/// The plugin's private key-value store (`capabilities = ["kv"]`).
pub mod kv {
    pub use crate::bindings::chillfi::plugin::kv::{KvError, delete, get, set};
}

/// Waits `duration` (a plugin has no other way to sleep; the call's deadline still runs).
pub fn sleep(duration: std::time::Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    bindings::wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
}
