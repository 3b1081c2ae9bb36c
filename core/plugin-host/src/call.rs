//! The state of one plugin call (one wasmtime store) and the host side of the imports a
//! plugin may call during it: `host` (log, config) and `kv`.

use crate::bindings::v0_1::{host, kv};
use crate::kv::{KvFailure, KvStore};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wasmtime::ResourceLimiter;
use wasmtime::component::{HasSelf, Linker};

/// Log lines one call may write.
const LOGS_PER_CALL: u32 = 100;
/// Longer log messages are cut.
const MAX_LOG_BYTES: usize = 2048;

/// State of one store (= one call).
pub struct CallState {
    pub plugin: Arc<str>,
    pub config: Arc<BTreeMap<String, String>>,
    /// `None` when the plugin lacks the "kv" capability: every kv call is denied.
    pub kv: Option<Arc<Mutex<KvStore>>>,
    pub kv_quota: usize,
    pub limiter: CallLimiter,
    pub logs_left: u32,
}

impl CallState {
    pub fn new(
        plugin: Arc<str>,
        config: Arc<BTreeMap<String, String>>,
        kv: Option<Arc<Mutex<KvStore>>>,
        kv_quota: usize,
        memory_bytes: usize,
    ) -> Self {
        CallState {
            plugin,
            config,
            kv,
            kv_quota,
            limiter: CallLimiter {
                memory_bytes,
                memory_refused: false,
            },
            logs_left: LOGS_PER_CALL,
        }
    }
}

/// Caps a call's memory and tables; remembers a refusal so a later trap can be explained.
pub struct CallLimiter {
    pub memory_bytes: usize,
    pub memory_refused: bool,
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }
    fn tables(&self) -> usize {
        64
    }
    fn memories(&self) -> usize {
        8
    }
}

/// Adds the host's imports (every supported WIT version) to a linker.
pub fn add_imports(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    host::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    kv::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    Ok(())
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl host::Host for CallState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        if self.logs_left == 0 {
            return;
        }
        self.logs_left -= 1;
        let plugin = &*self.plugin;
        let msg = cut(&message, MAX_LOG_BYTES);
        if self.logs_left == 0 {
            tracing::warn!(target: "chillfi::plugin", plugin, "log limit per call reached; dropping further lines");
        }
        match level {
            host::LogLevel::Trace => tracing::trace!(target: "chillfi::plugin", plugin, "{msg}"),
            host::LogLevel::Debug => tracing::debug!(target: "chillfi::plugin", plugin, "{msg}"),
            host::LogLevel::Info => tracing::info!(target: "chillfi::plugin", plugin, "{msg}"),
            host::LogLevel::Warn => tracing::warn!(target: "chillfi::plugin", plugin, "{msg}"),
            host::LogLevel::Error => tracing::error!(target: "chillfi::plugin", plugin, "{msg}"),
        }
    }

    fn get_config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

fn kv_error(f: KvFailure) -> kv::KvError {
    match f {
        KvFailure::QuotaExceeded => kv::KvError::QuotaExceeded,
        KvFailure::InvalidKey => kv::KvError::InvalidKey,
        KvFailure::Io(m) => kv::KvError::Io(m),
    }
}

impl kv::Host for CallState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, kv::KvError> {
        let Some(store) = &self.kv else {
            return Err(kv::KvError::Denied);
        };
        Ok(crate::lock(store).get(&key))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), kv::KvError> {
        let Some(store) = &self.kv else {
            return Err(kv::KvError::Denied);
        };
        crate::lock(store)
            .set(&key, &value, self.kv_quota)
            .map_err(kv_error)
    }

    fn delete(&mut self, key: String) -> Result<(), kv::KvError> {
        let Some(store) = &self.kv else {
            return Err(kv::KvError::Denied);
        };
        crate::lock(store).delete(&key).map_err(kv_error)
    }
}
