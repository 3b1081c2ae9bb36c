use std::path::PathBuf;

/// Errors of the host's management API. Calls into plugins never return these: a failing
/// plugin is reported in the call's outcome and in `list()`.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid plugin.toml: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    NotAComponent { path: PathBuf, message: String },
    #[error("{path}: incompatible plugin: {message}")]
    Incompatible { path: PathBuf, message: String },
    #[error("no plugin named {0:?}")]
    NotFound(String),
    #[error("plugin {name} failed to load: {reason}")]
    Failed { name: String, reason: String },
    #[error("plugin {plugin}: invalid config {key:?}: {message}")]
    InvalidConfig {
        plugin: String,
        key: String,
        message: String,
    },
    #[error("plugin {plugin}: cannot grant network access: {message}")]
    Grant { plugin: String, message: String },
    #[error("plugin engine: {0}")]
    Engine(String),
    #[error("watching the plugins folder: {0}")]
    Watch(String),
}

impl PluginError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PluginError::Io {
            path: path.into(),
            source,
        }
    }
}
