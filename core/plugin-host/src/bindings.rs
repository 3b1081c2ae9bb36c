//! The one place where WIT bindings are generated (`bindgen!`). Nothing else lives here:
//! the host side of the imports sits with the call state (`call.rs`), and each world's
//! conversions between generated and public types sit with its dispatch file
//! (`enricher.rs`, `transcode_profile.rs`, `share_handler.rs`).
//!
//! One module per WIT package version (`v0_1` from `wit/chillfi-plugin@0.1.0/`); a later
//! version gets its own module next to it (`v0_2` from `wit/chillfi-plugin@0.2.0/`), so
//! components built against either load side by side. See docs/plugins.md.

/// Bindings for `chillfi:plugin@0.1.0`, one submodule per world. The imported
/// interfaces (`host`, `kv`) are generated once, in `enricher`, and shared.
pub mod v0_1 {
    pub mod enricher {
        wasmtime::component::bindgen!({
            path: "../../wit/chillfi-plugin@0.1.0",
            world: "enricher",
        });
    }
    pub mod transcode_profile {
        wasmtime::component::bindgen!({
            path: "../../wit/chillfi-plugin@0.1.0",
            world: "transcode-profile",
            with: {
                "chillfi:plugin/host": crate::bindings::v0_1::enricher::chillfi::plugin::host,
                "chillfi:plugin/kv": crate::bindings::v0_1::enricher::chillfi::plugin::kv,
            },
        });
    }
    pub mod share_handler {
        wasmtime::component::bindgen!({
            path: "../../wit/chillfi-plugin@0.1.0",
            world: "share-handler",
            with: {
                "chillfi:plugin/host": crate::bindings::v0_1::enricher::chillfi::plugin::host,
                "chillfi:plugin/kv": crate::bindings::v0_1::enricher::chillfi::plugin::kv,
            },
        });
    }

    pub use enricher::chillfi::plugin::{host, kv};
    pub use enricher::exports::chillfi::plugin::enrich;
    pub use share_handler::exports::chillfi::plugin::share;
    pub use transcode_profile::exports::chillfi::plugin::transcode;
}
