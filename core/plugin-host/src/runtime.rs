//! wasmtime plumbing shared by every world and WIT version: the engine and its epoch
//! ticker, component inspection, linking, pre-instantiation, and one sandboxed call
//! (fresh store, deadline, memory cap). It knows no generated bindings: the typed
//! pre-instances and calls live in the per-world dispatch files.

use crate::call::{self, CallState};
use crate::error::PluginError;
use crate::types::PluginKind;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine, Store, Trap};

/// Epoch tick: the resolution of call deadlines.
pub const TICK: Duration = Duration::from_millis(10);
/// Wasm stack available to a plugin call.
pub const MAX_WASM_STACK: usize = 512 << 10;
/// Plugin calls running at once (per host); more wait for a free slot. It is also the
/// size of the instance pool.
pub const POOL_SLOTS: usize = 64;
pub const PACKAGE: &str = "chillfi:plugin";

/// Increments the engine's epoch every [`TICK`] until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Engine + base linker + ticker, shared by all plugins of one host.
pub struct Runtime {
    pub engine: Engine,
    linker: Linker<CallState>,
    slots: Slots,
    _ticker: Ticker,
}

/// A counting semaphore for blocking threads: at most [`POOL_SLOTS`] calls at once.
struct Slots {
    free: Mutex<usize>,
    cv: Condvar,
}

struct SlotGuard<'a>(&'a Slots);

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = crate::lock(&self.free);
        while *free == 0 {
            free = self.cv.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        SlotGuard(self)
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *crate::lock(&self.0.free) += 1;
        self.0.cv.notify_one();
    }
}

/// How much of a pooled linear memory (and table) stays resident between calls. With the
/// Linux `PAGEMAP_SCAN` ioctl (6.7+) only the pages a call dirtied are put back (copied from
/// the component's image or zeroed) with no `madvise` and no page faults on the next call;
/// without it wasmtime memsets up to this much and `madvise`s the rest. Either way the next
/// call starts from the pristine image: nothing carries over between calls.
pub const KEEP_RESIDENT: usize = 2 << 20;

pub fn engine_config() -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.max_wasm_stack(MAX_WASM_STACK);
    // Explicit bounds checks instead of guard pages and signal handlers. A plugin's heap
    // grows during most calls (its allocator starts at the image's end); with virtual-memory
    // bounds, the next instantiation in that slot must mprotect the growth away again, and
    // revoking access flushes every core's TLB (an IPI per call): 14.4 -> 8.9 µs median per
    // enricher call with a fresh instance each time (bench/plugins.sh). Plugin code runs a
    // little slower; plugins are small.
    c.signals_based_traps(false);
    c.memory_guard_size(0);
    c
}

pub fn pooled_config(memory_bytes: usize) -> Config {
    let mut c = engine_config();
    let slots = POOL_SLOTS as u32;
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 8)
        .max_memories_per_component(4)
        .max_memory_size(memory_bytes)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    c
}

fn engine_err(e: impl std::fmt::Display) -> PluginError {
    PluginError::Engine(e.to_string())
}

impl Runtime {
    pub fn new(memory_bytes: usize) -> Result<Runtime, PluginError> {
        // The pooling allocator makes instantiation (once per call) cheaper; it reserves
        // address space up front, so fall back to on-demand allocation where that fails.
        // PLUGIN_HOST_POOLING=0 forces on-demand allocation.
        let pooled = std::env::var("PLUGIN_HOST_POOLING").as_deref() != Ok("0");
        let engine = match pooled.then(|| Engine::new(&pooled_config(memory_bytes))) {
            Some(Ok(engine)) => engine,
            Some(Err(e)) => {
                tracing::warn!("plugin engine without pooling allocator: {e:#}");
                Engine::new(&engine_config()).map_err(engine_err)?
            }
            None => Engine::new(&engine_config()).map_err(engine_err)?,
        };
        let mut linker = Linker::new(&engine);
        call::add_imports(&mut linker).map_err(engine_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                // Ticks follow the wall clock: when this thread is woken late (a loaded
                // machine), it catches up, so deadlines stay deadlines in real time.
                let start = Instant::now();
                let tick_ns = TICK.as_nanos() as u64;
                let mut ticks: u64 = 0;
                while !s.load(Ordering::Relaxed) {
                    let next = start + Duration::from_nanos(tick_ns.saturating_mul(ticks + 1));
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let due = start.elapsed().as_nanos() as u64 / tick_ns;
                    while ticks < due {
                        e.increment_epoch();
                        ticks += 1;
                    }
                }
            })
            .map_err(engine_err)?;
        let slots = Slots {
            free: Mutex::new(POOL_SLOTS),
            cv: Condvar::new(),
        };
        Ok(Runtime {
            engine,
            linker,
            slots,
            _ticker: Ticker { stop },
        })
    }

    /// Compiles, identifies, links and pre-instantiates a component. The caller turns
    /// the pre-instance into the typed one of its world and version.
    pub fn prepare(
        &self,
        path: &Path,
        bytes: &[u8],
    ) -> Result<(Identified, InstancePre<CallState>), PluginError> {
        let component = compile(&self.engine, path, bytes)?;
        let found = identify(&self.engine, &component, path)?;
        // Other WASI imports (a component built for wasm32-wasip2 may carry some) are linked
        // to functions that trap: plugins get no filesystem, wall clock, randomness,
        // environment or sockets. Only when needed: filling in a linked instance's resource
        // types (wasi:io's, which wasi:http uses) with fresh ones would break the link.
        let pre = match self.linker.instantiate_pre(&component) {
            Ok(pre) => pre,
            Err(_) => {
                let mut linker = self.linker.clone();
                linker
                    .define_unknown_imports_as_traps(&component)
                    .map_err(engine_err)?;
                linker
                    .instantiate_pre(&component)
                    .map_err(|e| PluginError::Incompatible {
                        path: path.to_path_buf(),
                        message: format!("cannot link: {e:#}"),
                    })?
            }
        };
        Ok((found, pre))
    }
}

/// What a component is, from its exports and imports.
#[derive(Debug, Clone)]
pub struct Identified {
    pub kind: PluginKind,
    pub version: String,
    pub world: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

pub fn compile(engine: &Engine, path: &Path, bytes: &[u8]) -> Result<Component, PluginError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(PluginError::NotAComponent {
            path: path.to_path_buf(),
            message: "not a WebAssembly file".into(),
        });
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(PluginError::NotAComponent {
            path: path.to_path_buf(),
            message: "a core WebAssembly module, not a component: link it with \
                      wasm-component-ld (plugins/build.sh does) or wrap it with \
                      `wasm-tools component new`"
                .into(),
        });
    }
    Component::new(engine, bytes).map_err(|e| PluginError::NotAComponent {
        path: path.to_path_buf(),
        message: format!("invalid component: {e:#}"),
    })
}

/// `chillfi:plugin/enrich@0.1.0` -> ("enrich", "0.1.0")
fn split_export(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    rest.split_once('@')
}

pub fn identify(
    engine: &Engine,
    component: &Component,
    path: &Path,
) -> Result<Identified, PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let incompatible = |message: String| PluginError::Incompatible {
        path: path.to_path_buf(),
        message,
    };

    let mut found: Vec<(PluginKind, &str)> = Vec::new();
    for e in &exports {
        if let Some((iface, version)) = split_export(e)
            && let Some(kind) = PluginKind::ALL
                .into_iter()
                .find(|k| k.export_interface() == iface)
        {
            found.push((kind, version));
        }
    }
    let (kind, version) = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(incompatible(format!(
                "exports none of {PACKAGE}/{{enrich,transcode,share}}: not a ChillFi plugin \
                 (exports: {})",
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            )));
        }
        _ => {
            return Err(incompatible(format!(
                "exports more than one plugin interface ({}); a plugin has exactly one kind",
                exports.join(", ")
            )));
        }
    };
    if !crate::manifest::SUPPORTED_WIT_VERSIONS.contains(&version) {
        return Err(incompatible(format!(
            "built against {PACKAGE}@{version}; this server supports {}",
            crate::manifest::SUPPORTED_WIT_VERSIONS.join(", ")
        )));
    }
    for i in &imports {
        let ours = split_export(i)
            .is_some_and(|(iface, v)| (iface == "host" || iface == "kv") && v == version);
        if !ours && !i.starts_with("wasi:") {
            return Err(incompatible(format!(
                "imports {i}, which ChillFi does not provide (plugins may only import \
                 {PACKAGE}/host and {PACKAGE}/kv)"
            )));
        }
    }
    Ok(Identified {
        kind,
        version: version.to_string(),
        world: format!("{PACKAGE}/{}@{version}", kind.as_str()),
        imports,
        exports,
    })
}

/// Why a call failed (trap, timeout, memory): always a fault.
#[derive(Debug)]
pub struct CallFailure {
    pub message: String,
}

/// Runs `f` against a fresh instance of `pre` with the deadline and memory cap.
pub fn call<R>(
    rt: &Runtime,
    state: CallState,
    deadline: Duration,
    f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
) -> Result<R, CallFailure> {
    let _slot = rt.slots.acquire();
    let mut state = state;
    state.set_deadline(Instant::now() + deadline);
    let mut store = Store::new(&rt.engine, state);
    store.limiter(|s| &mut s.limiter);
    let ticks = deadline.as_nanos().div_ceil(TICK.as_nanos()).max(1) as u64;
    // +1: the next tick may come right away, so `ticks` alone could cut a call short.
    store.set_epoch_deadline(ticks + 1);
    store.epoch_deadline_trap();
    let result = f(&mut store);
    result.map_err(|e| {
        let memory = store.data().limiter.memory_refused;
        CallFailure {
            message: describe(&e, deadline, memory, store.data().limiter.memory_bytes),
        }
    })
}

fn describe(e: &wasmtime::Error, deadline: Duration, memory_refused: bool, cap: usize) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!("timed out after {} ms", deadline.as_millis()),
        Some(Trap::StackOverflow) => "trapped: wasm stack exhausted (recursion too deep)".into(),
        Some(t) if memory_refused => {
            format!(
                "memory limit of {} MiB exceeded (then trapped: {t})",
                cap >> 20
            )
        }
        Some(t) => format!("trapped: {t}"),
        None if memory_refused => format!("memory limit of {} MiB exceeded: {e:#}", cap >> 20),
        None => format!("failed: {e:#}"),
    }
}
