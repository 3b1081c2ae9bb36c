//! Reload on changes in the plugins folder (notify, debounced).

use crate::{PluginError, PluginHost};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

/// Quiet time after the last change before reloading (copying a plugin in is several events).
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// Watches the plugins folder while alive; dropping it stops the watching.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for PluginWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginWatcher")
    }
}

fn relevant(ev: &notify::Result<Event>) -> bool {
    match ev {
        Ok(ev) => !matches!(ev.kind, EventKind::Access(_)),
        Err(e) => {
            tracing::warn!("plugin folder watch error: {e}");
            false
        }
    }
}

pub(crate) fn start(host: &PluginHost) -> Result<PluginWatcher, PluginError> {
    let dir = host.inner.cfg.plugins_dir.clone();
    let (tx, rx) = channel::<notify::Result<Event>>();
    let mut watcher = notify::recommended_watcher(move |ev| {
        let _ = tx.send(ev);
    })
    .map_err(|e| PluginError::Watch(e.to_string()))?;
    watcher
        .watch(&dir, RecursiveMode::Recursive)
        .map_err(|e| PluginError::Watch(format!("{}: {e}", dir.display())))?;
    let weak = Arc::downgrade(&host.inner);
    std::thread::Builder::new()
        .name("plugin-watch".into())
        .spawn(move || {
            // Ends when the watcher (and so the sender) is dropped.
            while let Ok(ev) = rx.recv() {
                if !relevant(&ev) {
                    continue;
                }
                loop {
                    match rx.recv_timeout(DEBOUNCE) {
                        Ok(_) => continue,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                let Some(inner) = weak.upgrade() else { return };
                let host = PluginHost { inner };
                match host.reload() {
                    Ok(list) => {
                        tracing::info!(plugins = list.len(), "plugins reloaded after a change")
                    }
                    Err(e) => tracing::error!("plugin reload failed: {e}"),
                }
            }
        })
        .map_err(|e| PluginError::Watch(e.to_string()))?;
    Ok(PluginWatcher { _watcher: watcher })
}
