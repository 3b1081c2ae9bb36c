//! The one place where WIT bindings are generated (`bindgen!`). Nothing else lives here:
//! the host side of the imports sits with the call state (`call.rs`), and each world's
//! conversions between generated and public types sit with its dispatch file
//! (`enricher.rs`, `transcode_profile.rs`, `share_handler.rs`).
//!
//! One module per WIT package version (`v0_1` from `wit/chillfi-plugin@0.1.0/`); `v0_2` from
//! `wit/chillfi-plugin@0.2.0/` (the enricher world only: transcode-profile and
//! share-handler did not change and stay on 0.1.0), so components built against either load
//! side by side. See docs/plugins.md.

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

/// Bindings for `chillfi:plugin@0.2.0`. `host` and `kv` are the same interfaces as in
/// 0.1.0 under a new version, so they get their own generated traits (implemented once in
/// `call.rs` by forwarding). The enricher world also imports `wasi:http`, whose host side
/// is wasmtime-wasi-http's (linked in `call::add_imports`).
pub mod v0_2 {
    pub mod enricher {
        wasmtime::component::bindgen!({
            path: "../../wit/chillfi-plugin@0.2.0",
            world: "enricher",
            require_store_data_send: true,
            with: {
                "wasi:http": wasmtime_wasi_http::p2::bindings::http,
                "wasi:io": wasmtime_wasi::p2::bindings::io,
                "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            },
        });
    }

    pub use enricher::chillfi::plugin::{host, kv};
    pub use enricher::exports::chillfi::plugin::enrich;
}
