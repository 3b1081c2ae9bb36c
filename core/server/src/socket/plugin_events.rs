//! `plugin:*` (administrators only): list the installed WASM plugins with their state and
//! faults, switch them on and off, set their configuration, remove one, rescan the plugins folder.
//! Host errors become wire errors through `From<PluginError> for AppError` (error.rs).

use std::collections::BTreeMap;

use chillfi_plugin_host::{PluginHost, PluginInfo, PluginState};
use serde::{Deserialize, Serialize};
use socketioxide::extract::SocketRef;

use super::auth_events::NoPayload;
use super::{Access, Ctx, on};
use crate::app::App;
use crate::error::{AppError, AppResult};

pub fn register(app: &App, socket: &SocketRef) {
    on(
        app,
        socket,
        "plugin:list",
        Access::Admin,
        |ctx, _: NoPayload| async move {
            let host = host(&ctx)?;
            Ok(Items::of(host.list()))
        },
    );
    on(
        app,
        socket,
        "plugin:enable",
        Access::Admin,
        |ctx, req: EnableReq| async move {
            let host = host(&ctx)?.clone();
            let name = req.name.clone();
            blocking(move || host.enable_granting(&name, req.hosts.as_deref())).await?;
            one(&ctx, &req.name, "enabled")
        },
    );
    on(
        app,
        socket,
        "plugin:disable",
        Access::Admin,
        |ctx, req: NameReq| async move {
            let host = host(&ctx)?.clone();
            let name = req.name.clone();
            blocking(move || host.disable(&name)).await?;
            one(&ctx, &req.name, "disabled")
        },
    );
    on(app, socket, "plugin:config", Access::Admin, plugin_config);
    on(app, socket, "plugin:remove", Access::Admin, plugin_remove);
    on(app, socket, "plugin:uploadInit", Access::Admin, upload_init);
    on(
        app,
        socket,
        "plugin:uploadChunk",
        Access::Admin,
        upload_chunk,
    );
    on(
        app,
        socket,
        "plugin:uploadFinish",
        Access::Admin,
        upload_finish,
    );
    on(
        app,
        socket,
        "plugin:reload",
        Access::Admin,
        |ctx, _: NoPayload| async move {
            let host = host(&ctx)?.clone();
            let items = blocking(move || host.reload()).await?;
            tracing::info!(
                plugins = items.len(),
                "plugins reloaded by an administrator"
            );
            Ok(Items::of(items))
        },
    );
}

fn host(ctx: &Ctx) -> AppResult<&PluginHost> {
    ctx.app.plugins.as_ref().ok_or_else(|| {
        AppError::Conflict(
            "plugins are turned off on this server ([plugins] enabled = false, or they could \
             not start: see the server log)"
                .into(),
        )
    })
}

/// Management calls write state files and may compile components: off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, chillfi_plugin_host::PluginError> + Send + 'static,
) -> AppResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::from)
}

fn one(ctx: &Ctx, name: &str, what: &str) -> AppResult<One> {
    let info = host(ctx)?.get(name).ok_or(AppError::NotFound("plugin"))?;
    let user = ctx.user()?;
    tracing::info!(plugin = name, by = %user.username, "plugin {what}");
    Ok(One {
        plugin: PluginView::from(info),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameReq {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableReq {
    name: String,
    /// Hosts to grant a plugin that asks for the network (a subset of its requested hosts);
    /// absent: all it asks for.
    #[serde(default)]
    hosts: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigReq {
    name: String,
    /// Values are strings in plugin.toml; numbers and booleans are accepted and stringified.
    values: BTreeMap<String, serde_json::Value>,
}

async fn plugin_config(ctx: Ctx, req: ConfigReq) -> AppResult<One> {
    let mut values = BTreeMap::new();
    for (key, value) in req.values {
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(AppError::invalid_field(
                    format!("values.{key}"),
                    "a value is a string, a number or a boolean",
                ));
            }
        };
        values.insert(key, text);
    }
    if values.is_empty() {
        return Err(AppError::invalid_field("values", "nothing to set"));
    }
    let host = host(&ctx)?.clone();
    let name = req.name.clone();
    blocking(move || host.set_config(&name, values)).await?;
    one(&ctx, &req.name, "configured")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadInit {
    name: String,
    size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadStarted {
    upload_id: String,
    chunk_size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UploadChunk {
    upload_id: String,
    index: u64,
    data: bytes::Bytes,
}

#[derive(Serialize)]
struct Received {
    received: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UploadFinish {
    upload_id: String,
}

#[derive(Serialize)]
struct Installed {
    plugin: PluginView,
    replaced: bool,
}

/// A plugin archive (`.tar.gz` of its folder) uploaded from the admin screen in chunks.
async fn upload_init(ctx: Ctx, req: UploadInit) -> AppResult<UploadStarted> {
    host(&ctx)?;
    let user = ctx.user()?;
    let upload_id = ctx
        .app
        .plugin_uploads
        .start(&user.id, &req.name, req.size)?;
    Ok(UploadStarted {
        upload_id,
        chunk_size: crate::service::plugin_files::UPLOAD_CHUNK,
    })
}

async fn upload_chunk(ctx: Ctx, req: UploadChunk) -> AppResult<Received> {
    let by = ctx.user()?.id.clone();
    let uploads = ctx.app.plugin_uploads.clone();
    let received = tokio::task::spawn_blocking(move || {
        uploads.chunk(&by, &req.upload_id, req.index, &req.data)
    })
    .await
    .map_err(AppError::internal)??;
    Ok(Received { received })
}

/// Installs the uploaded archive (checked first, as `chillfi plugin install`) and answers the
/// plugin as loaded.
async fn upload_finish(ctx: Ctx, req: UploadFinish) -> AppResult<Installed> {
    let plugins = host(&ctx)?.clone();
    let user = ctx.user()?;
    let (uploads, dir) = (ctx.app.plugin_uploads.clone(), ctx.app.cfg.plugins_dir());
    let by = user.id.clone();
    let reloading = plugins.clone();
    let installed = tokio::task::spawn_blocking(move || -> AppResult<_> {
        let installed = uploads.finish(&by, &req.upload_id, &dir)?;
        reloading.reload().map_err(AppError::from)?;
        Ok(installed)
    })
    .await
    .map_err(AppError::internal)??;
    let info = plugins
        .get(&installed.name)
        .ok_or(AppError::NotFound("plugin"))?;
    tracing::info!(plugin = installed.name, version = installed.version, by = %user.username, "plugin installed from the admin screen");
    Ok(Installed {
        plugin: PluginView::from(info),
        replaced: installed.replaced,
    })
}

/// Takes an installed plugin out of the plugins folder (as `chillfi plugin remove` does) and
/// answers the list without it. Its saved state and settings stay.
async fn plugin_remove(ctx: Ctx, req: NameReq) -> AppResult<Items> {
    let host = host(&ctx)?.clone();
    let info = host.get(&req.name).ok_or(AppError::NotFound("plugin"))?;
    if info.packaged {
        return Err(AppError::Conflict(format!(
            "{} ships with ChillFi and cannot be removed; disable it instead",
            req.name
        )));
    }
    let (dir, shipped) = (
        ctx.app.cfg.plugins_dir(),
        ctx.app.cfg.packaged_plugins_dir(),
    );
    let name = req.name.clone();
    let items = tokio::task::spawn_blocking(move || -> AppResult<_> {
        crate::service::plugin_files::remove(&name, &dir, shipped.as_deref())
            .map_err(|e| AppError::internal(format!("{e:#}")))?;
        host.reload().map_err(AppError::from)
    })
    .await
    .map_err(AppError::internal)??;
    let user = ctx.user()?;
    tracing::info!(plugin = req.name, by = %user.username, "plugin removed");
    Ok(Items::of(items))
}

#[derive(Serialize)]
struct Items {
    items: Vec<PluginView>,
}

impl Items {
    fn of(list: Vec<PluginInfo>) -> Self {
        Self {
            items: list.into_iter().map(PluginView::from).collect(),
        }
    }
}

#[derive(Serialize)]
struct One {
    plugin: PluginView,
}

/// A plugin on the wire.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PluginView {
    name: String,
    version: String,
    /// enricher | transcode-profile | share-handler; null when plugin.toml is unreadable.
    kind: Option<&'static str>,
    wit_version: String,
    description: String,
    /// Whether the plugin is called (state = enabled).
    enabled: bool,
    /// enabled | disabled | faulted | failed
    state: &'static str,
    /// Faults in a row (traps, timeouts, invalid results); 3 switch the plugin off.
    faults: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_fault: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    /// Effective configuration (plugin.toml defaults overlaid with the administrator's values).
    config: BTreeMap<String, String>,
    capabilities: Vec<String>,
    order: i32,
    /// It ships with ChillFi (the read-only packaged folder): it can be disabled, not removed.
    packaged: bool,
    /// Hosts plugin.toml asks to reach over HTTP (the "http" capability).
    requested_hosts: Vec<String>,
    /// Hosts an administrator granted when enabling; requests go only there.
    granted_hosts: Vec<String>,
}

impl From<PluginInfo> for PluginView {
    fn from(p: PluginInfo) -> Self {
        let disabled_reason = match p.state {
            PluginState::Enabled => None,
            PluginState::Disabled if p.packaged => {
                Some("ships with ChillFi; off until an administrator enables it".to_string())
            }
            PluginState::Disabled => Some("disabled by an administrator".to_string()),
            PluginState::Faulted => Some(format!(
                "switched off after repeated faults{}",
                p.last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )),
            PluginState::Failed => Some(format!(
                "could not be loaded: {}",
                p.last_error.as_deref().unwrap_or("unknown reason")
            )),
        };
        let last_fault = match p.state {
            PluginState::Failed => None,
            _ => p.last_error,
        };
        Self {
            name: p.name,
            version: p.version,
            kind: p.kind.map(|k| k.as_str()),
            wit_version: p.wit_version,
            description: p.description,
            enabled: p.state == PluginState::Enabled,
            state: p.state.as_str(),
            faults: p.consecutive_faults,
            last_fault,
            disabled_reason,
            config: p.config,
            capabilities: p.capabilities,
            order: p.order,
            packaged: p.packaged,
            requested_hosts: p.requested_hosts,
            granted_hosts: p.granted_hosts,
        }
    }
}
