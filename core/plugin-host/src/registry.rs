//! The registry: which plugins are installed, loading and reloading them (compiled
//! components are cached by file), their saved state (enabled, disabled, faulted, config
//! overrides, key-value stores) and fault accounting. The calls themselves are dispatched
//! by one file per world (`enricher.rs`, `transcode_profile.rs`, `share_handler.rs`).

use crate::call::CallState;
use crate::error::PluginError;
use crate::kv::KvStore;
use crate::manifest::{self, Manifest, PartialManifest};
use crate::net::{HostPattern, PluginNet};
use crate::runtime::{self, Identified, Runtime};
use crate::types::{HostConfig, Limits, PluginInfo, PluginKind, PluginState};
use crate::watch::{self, PluginWatcher};
use crate::{enricher, lock, share_handler, transcode_profile};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read().unwrap_or_else(PoisonError::into_inner).clone()
}

fn write<T>(l: &RwLock<T>, v: T) {
    *l.write().unwrap_or_else(PoisonError::into_inner) = v;
}

/// A pre-instantiated component of one world (and, inside, one WIT version).
pub enum WorldPre {
    Enricher(enricher::Pre),
    Profile(transcode_profile::Pre),
    Share(share_handler::Pre),
}

pub struct Prepared {
    pub found: Identified,
    pub pre: WorldPre,
}

/// Compiles, identifies and pre-instantiates a component into the typed pre-instance of
/// the world (and WIT version) it implements.
pub(crate) fn prepare(rt: &Runtime, path: &Path, bytes: &[u8]) -> Result<Prepared, PluginError> {
    let (found, pre) = rt.prepare(path, bytes)?;
    let incompatible = |e: wasmtime::Error| PluginError::Incompatible {
        path: path.to_path_buf(),
        message: format!("does not match world {}: {e:#}", found.world),
    };
    let v = found.version.as_str();
    let pre = match found.kind {
        PluginKind::Enricher => WorldPre::Enricher(enricher::pre(v, pre).map_err(incompatible)?),
        PluginKind::TranscodeProfile => {
            WorldPre::Profile(transcode_profile::pre(v, pre).map_err(incompatible)?)
        }
        PluginKind::ShareHandler => {
            WorldPre::Share(share_handler::pre(v, pre).map_err(incompatible)?)
        }
    };
    Ok(Prepared { found, pre })
}

/// The plugin host. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cfg: HostConfig,
    runtime: Runtime,
    plugins: RwLock<Arc<Vec<Arc<Plugin>>>>,
    /// Key-value stores by plugin name, kept across reloads.
    kv_stores: Mutex<HashMap<String, Arc<Mutex<KvStore>>>>,
    /// Compiled components by file, reused by `reload` when the file did not change.
    compiled: Mutex<HashMap<PathBuf, (FileStamp, Arc<Prepared>)>>,
    reloading: Mutex<()>,
}

#[derive(Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

pub(crate) struct Plugin {
    pub(crate) name: Arc<str>,
    dir: PathBuf,
    manifest: Option<Manifest>,
    partial: PartialManifest,
    wit_version: String,
    prepared: Option<Arc<Prepared>>,
    kv: Option<Arc<Mutex<KvStore>>>,
    status: Mutex<Status>,
    config: RwLock<Arc<BTreeMap<String, String>>>,
    /// Loaded from the read-only packaged folder.
    packaged: bool,
    /// The network grant (plugins with the "http" capability an administrator enabled).
    net: RwLock<Option<Arc<PluginNet>>>,
}

struct Status {
    state: PluginState,
    consecutive_faults: u32,
    last_error: Option<String>,
}

/// `state_dir/<name>/state.toml`
#[derive(Serialize, Deserialize, Default)]
struct SavedState {
    #[serde(default)]
    state: Option<PluginState>,
    #[serde(default)]
    last_error: Option<String>,
    /// Hosts an administrator granted (a subset of plugin.toml's `allowed-hosts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    granted_hosts: Vec<String>,
}

impl Plugin {
    fn order(&self) -> i32 {
        self.manifest.as_ref().map_or(i32::MAX, |m| m.order)
    }

    /// The typed pre-instance (`None` for a plugin that failed to load).
    pub(crate) fn pre(&self) -> Option<&WorldPre> {
        self.prepared.as_ref().map(|p| &p.pre)
    }

    pub(crate) fn net(&self) -> Option<Arc<PluginNet>> {
        read(&self.net)
    }

    fn granted_hosts(&self) -> Vec<String> {
        self.net()
            .map(|n| n.granted().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn kind(&self) -> Option<PluginKind> {
        self.manifest.as_ref().map(|m| m.kind).or(self.partial.kind)
    }

    fn info(&self) -> PluginInfo {
        let st = lock(&self.status);
        let m = self.manifest.as_ref();
        PluginInfo {
            name: self.name.to_string(),
            version: m
                .map(|m| m.version.clone())
                .or(self.partial.version.clone())
                .unwrap_or_default(),
            kind: self.kind(),
            wit_version: self.wit_version.clone(),
            description: m
                .map(|m| m.description.clone())
                .or(self.partial.description.clone())
                .unwrap_or_default(),
            state: st.state,
            consecutive_faults: st.consecutive_faults,
            last_error: st.last_error.clone(),
            config: (*read(&self.config)).clone(),
            capabilities: m.map(|m| m.capabilities.clone()).unwrap_or_default(),
            kv_used_bytes: self.kv.as_ref().map(|kv| lock(kv).used_bytes()),
            order: self.order(),
            dir: self.dir.clone(),
            packaged: self.packaged,
            requested_hosts: m
                .map(|m| {
                    m.allowed_hosts
                        .iter()
                        .map(|h| h.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            granted_hosts: self.granted_hosts(),
        }
    }
}

/// The plugin folders in `dir` (dot-folders are staging and trash, not plugins), sorted.
fn plugin_folders(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn state_file(state_dir: &Path, name: &str, file: &str) -> PathBuf {
    state_dir.join(name).join(file)
}

fn write_atomic(path: &Path, contents: &str) -> Result<(), PluginError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PluginError::io(dir, e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(|e| PluginError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| PluginError::io(path, e))
}

fn load_overrides(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    match toml::from_str::<BTreeMap<String, String>>(&text) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(path = %path.display(), "ignoring unreadable config overrides: {}", e.message());
            BTreeMap::new()
        }
    }
}

impl PluginHost {
    /// Loads every plugin in `plugins_dir`. A broken plugin is listed as `failed` with its
    /// reason; only an unusable engine or state folder is an error.
    pub fn new(cfg: HostConfig) -> Result<Self, PluginError> {
        for dir in [&cfg.plugins_dir, &cfg.state_dir] {
            std::fs::create_dir_all(dir).map_err(|e| PluginError::io(dir, e))?;
        }
        let runtime = Runtime::new(cfg.limits.memory_bytes)?;
        let host = PluginHost {
            inner: Arc::new(Inner {
                cfg,
                runtime,
                plugins: RwLock::new(Arc::new(Vec::new())),
                kv_stores: Mutex::new(HashMap::new()),
                compiled: Mutex::new(HashMap::new()),
                reloading: Mutex::new(()),
            }),
        };
        host.reload()?;
        Ok(host)
    }

    pub fn config(&self) -> &HostConfig {
        &self.inner.cfg
    }

    /// Every plugin folder, in call order (by `order`, then name).
    pub fn list(&self) -> Vec<PluginInfo> {
        read(&self.inner.plugins).iter().map(|p| p.info()).collect()
    }

    /// One plugin's info.
    pub fn get(&self, name: &str) -> Option<PluginInfo> {
        self.find(name).ok().map(|p| p.info())
    }

    fn find(&self, name: &str) -> Result<Arc<Plugin>, PluginError> {
        read(&self.inner.plugins)
            .iter()
            .find(|p| &*p.name == name)
            .cloned()
            .ok_or_else(|| PluginError::NotFound(name.to_string()))
    }

    fn save_state(&self, p: &Plugin, st: &Status) -> Result<(), PluginError> {
        let saved = SavedState {
            state: Some(if st.state == PluginState::Failed {
                PluginState::Enabled
            } else {
                st.state
            }),
            last_error: st.last_error.clone(),
            granted_hosts: p.granted_hosts(),
        };
        let text = toml::to_string(&saved).map_err(|e| PluginError::Engine(e.to_string()))?;
        write_atomic(
            &state_file(&self.inner.cfg.state_dir, &p.name, "state.toml"),
            &text,
        )
    }

    /// Enables a disabled or faulted plugin (clearing its fault count). A plugin with the
    /// "http" capability is granted every host its plugin.toml lists.
    pub fn enable(&self, name: &str) -> Result<(), PluginError> {
        self.enable_granting(name, None)
    }

    /// Enables a plugin, granting it `hosts` (a subset of its `allowed-hosts`; `None`: all
    /// of them). A plugin with the "http" capability needs at least one granted host.
    pub fn enable_granting(&self, name: &str, hosts: Option<&[String]>) -> Result<(), PluginError> {
        let p = self.find(name)?;
        let mut st = lock(&p.status);
        if st.state == PluginState::Failed {
            return Err(PluginError::Failed {
                name: name.to_string(),
                reason: st.last_error.clone().unwrap_or_default(),
            });
        }
        if let Some(m) = p.manifest.as_ref().filter(|m| m.has_capability("http")) {
            let granted: Vec<HostPattern> = match hosts {
                None => m.allowed_hosts.clone(),
                Some(hosts) => {
                    let mut granted = Vec::new();
                    for h in hosts {
                        let wanted =
                            HostPattern::parse(h).map_err(|message| PluginError::Grant {
                                plugin: name.to_string(),
                                message,
                            })?;
                        if !m.allowed_hosts.contains(&wanted) {
                            return Err(PluginError::Grant {
                                plugin: name.to_string(),
                                message: format!(
                                    "{h:?} is not among the hosts plugin.toml asks for"
                                ),
                            });
                        }
                        granted.push(wanted);
                    }
                    granted
                }
            };
            if granted.is_empty() {
                return Err(PluginError::Grant {
                    plugin: name.to_string(),
                    message: "grant at least one host: the plugin needs the network".into(),
                });
            }
            write(&p.net, Some(Arc::new(self.plugin_net(&p.name, m, granted))));
        } else if hosts.is_some_and(|h| !h.is_empty()) {
            return Err(PluginError::Grant {
                plugin: name.to_string(),
                message: "the plugin does not ask for the network (no \"http\" capability)".into(),
            });
        }
        st.state = PluginState::Enabled;
        st.consecutive_faults = 0;
        st.last_error = None;
        self.save_state(&p, &st)
    }

    /// Disables a plugin; it stays disabled across restarts until enabled.
    pub fn disable(&self, name: &str) -> Result<(), PluginError> {
        let p = self.find(name)?;
        let mut st = lock(&p.status);
        if st.state == PluginState::Failed {
            let saved = SavedState {
                state: Some(PluginState::Disabled),
                last_error: None,
                granted_hosts: Vec::new(),
            };
            let text = toml::to_string(&saved).map_err(|e| PluginError::Engine(e.to_string()))?;
            return write_atomic(
                &state_file(&self.inner.cfg.state_dir, name, "state.toml"),
                &text,
            );
        }
        st.state = PluginState::Disabled;
        self.save_state(&p, &st)
    }

    /// Sets configuration values (merged over earlier overrides), after checking every
    /// value against plugin.toml's `[config]` keys and `[config-schema]`. Nothing is
    /// changed if one value is invalid.
    pub fn set_config(
        &self,
        name: &str,
        values: BTreeMap<String, String>,
    ) -> Result<(), PluginError> {
        let p = self.find(name)?;
        let Some(m) = &p.manifest else {
            return Err(PluginError::Failed {
                name: name.to_string(),
                reason: lock(&p.status).last_error.clone().unwrap_or_default(),
            });
        };
        for (key, value) in &values {
            m.check_value(key, value)
                .map_err(|message| PluginError::InvalidConfig {
                    plugin: name.to_string(),
                    key: key.clone(),
                    message,
                })?;
        }
        let path = state_file(&self.inner.cfg.state_dir, name, "config.toml");
        let mut overrides = load_overrides(&path);
        overrides.extend(values);
        overrides.retain(|k, v| m.check_value(k, v).is_ok());
        let text = toml::to_string(&overrides).map_err(|e| PluginError::Engine(e.to_string()))?;
        write_atomic(&path, &text)?;
        let mut effective = m.config.clone();
        effective.extend(overrides);
        write(&p.config, Arc::new(effective));
        Ok(())
    }

    /// Rescans `plugins_dir`: new, changed and removed plugins take effect; unchanged
    /// components are not recompiled. Fault counts start again from zero (a faulted
    /// plugin stays faulted: that state is saved).
    pub fn reload(&self) -> Result<Vec<PluginInfo>, PluginError> {
        let _one_at_a_time = lock(&self.inner.reloading);
        let cfg = &self.inner.cfg;
        let mut dirs: Vec<(PathBuf, bool)> = plugin_folders(&cfg.plugins_dir)
            .map_err(|e| PluginError::io(&cfg.plugins_dir, e))?
            .into_iter()
            .map(|d| (d, false))
            .collect();
        if let Some(packaged) = &cfg.packaged_dir {
            // A missing packaged folder (a build from source) holds no plugins.
            let installed: HashSet<_> = dirs.iter().filter_map(|(d, _)| d.file_name()).collect();
            let shipped: Vec<PathBuf> = plugin_folders(packaged)
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d.file_name().is_some_and(|n| !installed.contains(n)))
                .collect();
            dirs.extend(shipped.into_iter().map(|d| (d, true)));
        }
        let mut plugins: Vec<Arc<Plugin>> = dirs
            .iter()
            .map(|(d, packaged)| Arc::new(self.load_one(d, *packaged)))
            .collect();
        plugins.sort_by(|a, b| a.order().cmp(&b.order()).then_with(|| a.name.cmp(&b.name)));
        // Forget compiled components of files that are gone.
        lock(&self.inner.compiled).retain(|path, _| path.exists());
        for p in &plugins {
            let st = lock(&p.status);
            match st.state {
                PluginState::Failed => tracing::warn!(
                    plugin = &*p.name,
                    "plugin failed to load: {}",
                    st.last_error.as_deref().unwrap_or("")
                ),
                state => tracing::info!(plugin = &*p.name, %state, "plugin loaded"),
            }
        }
        write(&self.inner.plugins, Arc::new(plugins));
        Ok(self.list())
    }

    fn failed(&self, dir: &Path, name: String, partial: PartialManifest, reason: String) -> Plugin {
        Plugin {
            name: name.into(),
            dir: dir.to_path_buf(),
            manifest: None,
            wit_version: partial.wit.clone().unwrap_or_default(),
            partial,
            prepared: None,
            kv: None,
            status: Mutex::new(Status {
                state: PluginState::Failed,
                consecutive_faults: 0,
                last_error: Some(reason),
            }),
            config: RwLock::new(Arc::new(BTreeMap::new())),
            packaged: false,
            net: RwLock::new(None),
        }
    }

    fn plugin_net(&self, name: &Arc<str>, m: &Manifest, granted: Vec<HostPattern>) -> PluginNet {
        PluginNet::new(
            name.clone(),
            &m.version,
            granted,
            self.inner.cfg.limits.http.clone(),
        )
    }

    fn load_one(&self, dir: &Path, packaged: bool) -> Plugin {
        let mut plugin = self.load_folder(dir, packaged);
        plugin.packaged = packaged;
        plugin
    }

    fn load_folder(&self, dir: &Path, packaged: bool) -> Plugin {
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let manifest = match Manifest::load(&dir.join("plugin.toml")) {
            Ok(m) => m,
            Err(failure) => {
                let (e, partial) = *failure;
                let name = partial
                    .name
                    .clone()
                    .filter(|n| manifest::valid_name(n))
                    .unwrap_or(folder);
                return self.failed(dir, name, partial, e.to_string());
            }
        };
        let partial = PartialManifest {
            name: Some(manifest.name.clone()),
            version: Some(manifest.version.clone()),
            kind: Some(manifest.kind),
            wit: Some(manifest.wit.clone()),
            description: Some(manifest.description.clone()),
        };
        let fail =
            |reason: String| self.failed(dir, manifest.name.clone(), partial.clone(), reason);
        if manifest.name != folder {
            return fail(format!(
                "plugin.toml names the plugin {:?} but its folder is {folder:?}: they must match",
                manifest.name
            ));
        }
        let wasm = dir.join(format!("{}.wasm", manifest.name));
        let prepared = match self.prepare_cached(&wasm) {
            Ok(p) => p,
            Err(e) => return fail(e.to_string()),
        };
        if prepared.found.kind != manifest.kind {
            return fail(format!(
                "plugin.toml says kind = {:?} but the component implements world {}",
                manifest.kind.as_str(),
                prepared.found.world
            ));
        }
        if prepared.found.version != manifest.wit {
            return fail(format!(
                "plugin.toml says wit = {:?} but the component was built against {}@{}",
                manifest.wit,
                runtime::PACKAGE,
                prepared.found.version
            ));
        }
        let kv = if manifest.has_capability("kv") {
            match self.kv_store(&manifest.name) {
                Ok(kv) => Some(kv),
                Err(e) => return fail(format!("cannot open its key-value store: {e}")),
            }
        } else {
            None
        };
        let state_dir = &self.inner.cfg.state_dir;
        let saved: SavedState =
            std::fs::read_to_string(state_file(state_dir, &manifest.name, "state.toml"))
                .ok()
                .and_then(|t| toml::from_str(&t).ok())
                .unwrap_or_default();
        let granted: Vec<HostPattern> = manifest
            .allowed_hosts
            .iter()
            .filter(|h| saved.granted_hosts.iter().any(|g| g == h.as_str()))
            .cloned()
            .collect();
        let needs_grant = manifest.has_capability("http") && granted.is_empty();
        let state = match saved.state {
            Some(s @ (PluginState::Disabled | PluginState::Faulted)) => s,
            // Shipped plugins, and plugins that want the network, wait for an administrator
            // to enable them.
            None if packaged => PluginState::Disabled,
            _ if needs_grant => PluginState::Disabled,
            _ => PluginState::Enabled,
        };
        let name: Arc<str> = manifest.name.clone().into();
        let net =
            (!granted.is_empty()).then(|| Arc::new(self.plugin_net(&name, &manifest, granted)));
        let last_error = if state == PluginState::Faulted {
            saved.last_error
        } else {
            None
        };
        let mut config = manifest.config.clone();
        for (k, v) in load_overrides(&state_file(state_dir, &manifest.name, "config.toml")) {
            match manifest.check_value(&k, &v) {
                Ok(()) => {
                    config.insert(k, v);
                }
                Err(e) => tracing::warn!(
                    plugin = manifest.name,
                    key = k,
                    "ignoring config override: {e}"
                ),
            }
        }
        Plugin {
            name,
            dir: dir.to_path_buf(),
            wit_version: manifest.wit.clone(),
            manifest: Some(manifest),
            partial,
            prepared: Some(prepared),
            kv,
            status: Mutex::new(Status {
                state,
                consecutive_faults: 0,
                last_error,
            }),
            config: RwLock::new(Arc::new(config)),
            packaged: false,
            net: RwLock::new(net),
        }
    }

    fn prepare_cached(&self, wasm: &Path) -> Result<Arc<Prepared>, PluginError> {
        let meta = std::fs::metadata(wasm).map_err(|e| PluginError::io(wasm, e))?;
        let stamp = FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        };
        if let Some((s, p)) = lock(&self.inner.compiled).get(wasm)
            && *s == stamp
        {
            return Ok(p.clone());
        }
        let bytes = std::fs::read(wasm).map_err(|e| PluginError::io(wasm, e))?;
        let prepared = Arc::new(prepare(&self.inner.runtime, wasm, &bytes)?);
        lock(&self.inner.compiled).insert(wasm.to_path_buf(), (stamp, prepared.clone()));
        Ok(prepared)
    }

    fn kv_store(&self, name: &str) -> std::io::Result<Arc<Mutex<KvStore>>> {
        let mut stores = lock(&self.inner.kv_stores);
        if let Some(s) = stores.get(name) {
            return Ok(s.clone());
        }
        let store = Arc::new(Mutex::new(KvStore::open(&state_file(
            &self.inner.cfg.state_dir,
            name,
            "kv.bin",
        ))?));
        stores.insert(name.to_string(), store.clone());
        Ok(store)
    }

    /// Enabled plugins of one kind, in call order.
    pub(crate) fn enabled(&self, kind: PluginKind) -> Vec<Arc<Plugin>> {
        read(&self.inner.plugins)
            .iter()
            .filter(|p| p.kind() == Some(kind) && p.prepared.is_some())
            .filter(|p| lock(&p.status).state == PluginState::Enabled)
            .cloned()
            .collect()
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.cfg.limits
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    pub(crate) fn call_state(&self, p: &Plugin) -> CallState {
        let limits = &self.inner.cfg.limits;
        CallState::new(
            p.name.clone(),
            read(&p.config),
            p.kv.clone(),
            limits.kv_quota_bytes,
            limits.memory_bytes,
        )
        .with_net(p.net())
    }

    fn record_ok(&self, p: &Plugin) {
        lock(&p.status).consecutive_faults = 0;
    }

    fn record_fault(&self, p: &Plugin, message: &str) {
        let threshold = self.inner.cfg.limits.fault_threshold.max(1);
        let mut st = lock(&p.status);
        st.consecutive_faults = st.consecutive_faults.saturating_add(1);
        st.last_error = Some(message.to_string());
        tracing::warn!(
            plugin = &*p.name,
            faults = st.consecutive_faults,
            "plugin fault: {message}"
        );
        if st.consecutive_faults >= threshold && st.state == PluginState::Enabled {
            st.state = PluginState::Faulted;
            tracing::error!(
                plugin = &*p.name,
                "plugin disabled after {} faults in a row; `enable` it once fixed",
                st.consecutive_faults
            );
            if let Err(e) = self.save_state(p, &st) {
                tracing::error!(plugin = &*p.name, "cannot save plugin state: {e}");
            }
        }
    }

    /// Turns a call's outcome into a checked value, recording success or fault (and, for
    /// `/metrics`, the call by plugin and outcome and its duration since `started`).
    pub(crate) fn settle<T>(
        &self,
        p: &Plugin,
        started: std::time::Instant,
        r: Result<T, String>,
    ) -> Result<T, String> {
        let outcome = if r.is_ok() { "ok" } else { "fault" };
        metrics::counter!("chillfi_plugin_calls_total", "plugin" => p.name.to_string(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("chillfi_plugin_call_duration_seconds", "plugin" => p.name.to_string())
            .record(started.elapsed());
        match r {
            Ok(v) => {
                self.record_ok(p);
                Ok(v)
            }
            Err(message) => {
                self.record_fault(p, &message);
                Err(message)
            }
        }
    }

    /// Runs a plugin call from async code. On a multi-threaded tokio runtime the call runs
    /// right here under `block_in_place` (tokio moves this worker's other tasks to another
    /// thread while the plugin runs, so a slow plugin holds no task back), which saves the
    /// hand-over to the blocking pool and back (about 40 µs a call). Elsewhere (a
    /// current-thread runtime) it goes through `spawn_blocking`.
    pub(crate) async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(PluginHost) -> R + Send + 'static,
    ) -> Result<R, String> {
        let host = self.clone();
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread {
            return Ok(tokio::task::block_in_place(move || f(host)));
        }
        tokio::task::spawn_blocking(move || f(host))
            .await
            .map_err(|e| format!("plugin task failed: {e}"))
    }

    /// Reloads when `plugins_dir` changes (debounced). Stops when the watcher is dropped.
    pub fn watch(&self) -> Result<PluginWatcher, PluginError> {
        watch::start(self)
    }
}
