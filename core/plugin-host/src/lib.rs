//! chillfi-plugin-host: loads ChillFi's WASM component plugins (WIT `chillfi:plugin@0.1.0`,
//! see `wit/`) and calls them in a sandbox: a deadline per call (epoch interruption), a
//! memory cap, a wasm stack cap, a cap on returned sizes, validation of every returned
//! value, and automatic disabling after repeated faults.
//!
//! This is the only crate that touches wasmtime; its public API uses plain Rust types.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chillfi_plugin_host::PluginError> {
//! use chillfi_plugin_host::*;
//! let host = PluginHost::new(HostConfig::new("/var/lib/chillfi/plugins", "/var/lib/chillfi/plugin-state"))?;
//! let _watcher = host.watch()?; // reload when the folder changes
//! for p in host.list() {
//!     println!("{} {} {}", p.name, p.kind.map(|k| k.as_str()).unwrap_or("?"), p.state);
//! }
//! # Ok(()) }
//! ```

mod bindings;
mod call;
mod enricher;
mod error;
mod kv;
mod manifest;
mod net;
mod registry;
mod runtime;
mod share_handler;
mod transcode_profile;
mod types;
mod validate;
mod watch;

pub use error::PluginError;
pub use manifest::{KNOWN_CAPABILITIES, SUPPORTED_WIT_VERSIONS, valid_name};
pub use net::{HostPattern, HttpLimits, is_public};
pub use registry::PluginHost;
pub use types::*;
pub use watch::PluginWatcher;

use manifest::Manifest;
use runtime::Runtime;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Loads a component (a `.wasm` file, or a plugin folder with plugin.toml) without
/// installing it and reports its world and WIT version (`chillfi plugin check PATH`).
pub fn check(path: &Path) -> Result<ComponentReport, PluginError> {
    let (wasm, manifest) = if path.is_dir() {
        let m = Manifest::load(&path.join("plugin.toml")).map_err(|f| f.0)?;
        (path.join(format!("{}.wasm", m.name)), Some(m))
    } else {
        (path.to_path_buf(), None)
    };
    let bytes = std::fs::read(&wasm).map_err(|e| PluginError::io(&wasm, e))?;
    let runtime = Runtime::new(Limits::default().memory_bytes)?;
    let prepared = registry::prepare(&runtime, &wasm, &bytes)?;
    let found = &prepared.found;
    if let Some(m) = &manifest
        && (m.kind != found.kind || m.wit != found.version)
    {
        return Err(PluginError::Incompatible {
            path: path.to_path_buf(),
            message: format!(
                "plugin.toml says kind = {:?}, wit = {:?} but the component implements {}",
                m.kind.as_str(),
                m.wit,
                found.world
            ),
        });
    }
    Ok(ComponentReport {
        world: found.world.clone(),
        package_version: found.version.clone(),
        kind: found.kind,
        imports: found.imports.clone(),
        exports: found.exports.clone(),
        size_bytes: bytes.len() as u64,
        plugin_name: manifest.as_ref().map(|m| m.name.clone()),
        plugin_version: manifest.as_ref().map(|m| m.version.clone()),
    })
}
