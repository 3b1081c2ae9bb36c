//! The state of one plugin call (one wasmtime store) and the host side of the imports a
//! plugin may call during it: `host` (log, config), `kv` and, for 0.2.0 enrichers,
//! `wasi:http/outgoing-handler` with the policy of `net.rs`.

use crate::bindings::v0_1::{host, kv};
use crate::bindings::v0_2;
use crate::kv::{KvFailure, KvStore};
use crate::net::{NetHooks, PluginNet};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime::ResourceLimiter;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

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
    /// `wasi:http` (and the `wasi:io`/`wasi:clocks` it rests on): made on first use, so
    /// calls that send no request do not pay for it.
    wasi: Option<Box<WasiParts>>,
    net: Option<Arc<PluginNet>>,
    deadline: Instant,
}

struct WasiParts {
    ctx: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: NetHooks,
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
            wasi: None,
            net: None,
            deadline: Instant::now(),
        }
    }

    /// Lets this call send HTTP requests under the plugin's grant.
    pub fn with_net(mut self, net: Option<Arc<PluginNet>>) -> Self {
        self.net = net;
        self
    }

    /// Requests end by this instant (the call's deadline).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    fn wasi(&mut self) -> &mut WasiParts {
        let (net, deadline) = (self.net.clone(), self.deadline);
        self.wasi.get_or_insert_with(|| {
            Box::new(WasiParts {
                // No stdio, environment, arguments or preopened folders.
                ctx: WasiCtx::builder().build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                hooks: NetHooks { net, deadline },
            })
        })
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let w = self.wasi();
        WasiCtxView {
            ctx: &mut w.ctx,
            table: &mut w.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let w = self.wasi();
        WasiHttpCtxView {
            ctx: &mut w.http,
            table: &mut w.table,
            hooks: &mut w.hooks,
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
    v0_2::host::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    v0_2::kv::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    // What wasi:http/types rests on: streams, pollables, errors and the monotonic clock
    // (durations, timeouts). No wall clock, randomness, stdio, files or sockets.
    let l = &mut *linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<CallState, HasIo>(l, |t| {
        t.ctx().table
    })?;
    wasmtime_wasi::p2::bindings::sync::io::poll::add_to_linker::<CallState, HasIo>(l, |t| {
        t.ctx().table
    })?;
    wasmtime_wasi::p2::bindings::sync::io::streams::add_to_linker::<CallState, HasIo>(l, |t| {
        t.ctx().table
    })?;
    wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<
        CallState,
        wasmtime_wasi::clocks::WasiClocks,
    >(l, wasmtime_wasi::clocks::WasiClocksView::clocks)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(l)?;
    Ok(())
}

struct HasIo;

impl wasmtime::component::HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
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

// ----- 0.2.0: the same functions under the new package version -----

impl v0_2::host::Host for CallState {
    fn log(&mut self, level: v0_2::host::LogLevel, message: String) {
        use v0_2::host::LogLevel as L;
        let level = match level {
            L::Trace => host::LogLevel::Trace,
            L::Debug => host::LogLevel::Debug,
            L::Info => host::LogLevel::Info,
            L::Warn => host::LogLevel::Warn,
            L::Error => host::LogLevel::Error,
        };
        host::Host::log(self, level, message)
    }

    fn get_config(&mut self, key: String) -> Option<String> {
        host::Host::get_config(self, key)
    }
}

fn v0_2_kv_error(e: kv::KvError) -> v0_2::kv::KvError {
    match e {
        kv::KvError::Denied => v0_2::kv::KvError::Denied,
        kv::KvError::QuotaExceeded => v0_2::kv::KvError::QuotaExceeded,
        kv::KvError::InvalidKey => v0_2::kv::KvError::InvalidKey,
        kv::KvError::Io(m) => v0_2::kv::KvError::Io(m),
    }
}

impl v0_2::kv::Host for CallState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, v0_2::kv::KvError> {
        kv::Host::get(self, key).map_err(v0_2_kv_error)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), v0_2::kv::KvError> {
        kv::Host::set(self, key, value).map_err(v0_2_kv_error)
    }

    fn delete(&mut self, key: String) -> Result<(), v0_2::kv::KvError> {
        kv::Host::delete(self, key).map_err(v0_2_kv_error)
    }
}
