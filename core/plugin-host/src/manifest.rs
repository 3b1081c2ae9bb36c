//! plugin.toml: parsing, checks and the configuration schema.

use crate::error::PluginError;
use crate::types::PluginKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// WIT package versions this host can load.
pub const SUPPORTED_WIT_VERSIONS: [&str; 2] = ["0.1.0", "0.2.0"];
/// Capabilities a plugin may request.
pub const KNOWN_CAPABILITIES: [&str; 2] = ["kv", "http"];
/// Entries of `allowed-hosts` one plugin may list.
const MAX_ALLOWED_HOSTS: usize = 16;
const DEFAULT_ORDER: i32 = 100;
const MAX_CONFIG_VALUE: usize = 4096;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawManifest {
    name: String,
    version: String,
    kind: String,
    wit: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    order: Option<i32>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    config_schema: BTreeMap<String, SchemaEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    #[default]
    String,
    Integer,
    Boolean,
}

/// `[config-schema.<key>]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaEntry {
    #[serde(rename = "type", default)]
    pub ty: ValueType,
    /// Allowed values (any type).
    #[serde(default)]
    pub allowed: Option<Vec<String>>,
    /// Bounds for integers.
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A checked plugin.toml.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub wit: String,
    pub description: String,
    pub capabilities: Vec<String>,
    /// Hosts the plugin asks to reach (with the "http" capability), as written.
    pub allowed_hosts: Vec<crate::HostPattern>,
    pub order: i32,
    pub config: BTreeMap<String, String>,
    pub schema: BTreeMap<String, SchemaEntry>,
}

/// The bits of a manifest that could be read even when it is invalid (for `list()`).
#[derive(Debug, Clone, Default)]
pub struct PartialManifest {
    pub name: Option<String>,
    pub version: Option<String>,
    pub kind: Option<PluginKind>,
    pub wit: Option<String>,
    pub description: Option<String>,
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, Box<(PluginError, PartialManifest)>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Box::new((PluginError::io(path, e), PartialManifest::default())))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Manifest, Box<(PluginError, PartialManifest)>> {
        let bad = |message: String, partial: PartialManifest| {
            Box::new((
                PluginError::Manifest {
                    path: path.to_path_buf(),
                    message,
                },
                partial,
            ))
        };
        let raw: RawManifest = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => return Err(bad(e.message().to_string(), partial_from_text(text))),
        };
        let partial = PartialManifest {
            name: Some(raw.name.clone()),
            version: Some(raw.version.clone()),
            kind: PluginKind::parse(&raw.kind),
            wit: Some(raw.wit.clone()),
            description: Some(raw.description.clone()),
        };
        if !valid_name(&raw.name) {
            return Err(bad(
                format!(
                    "name {:?}: use 1-64 of [a-z0-9-_], starting with a letter or digit",
                    raw.name
                ),
                partial,
            ));
        }
        let Some(kind) = PluginKind::parse(&raw.kind) else {
            return Err(bad(
                format!(
                    "unknown kind {:?} (expected one of: enricher, transcode-profile, share-handler)",
                    raw.kind
                ),
                partial,
            ));
        };
        if !SUPPORTED_WIT_VERSIONS.contains(&raw.wit.as_str()) {
            return Err(bad(
                format!(
                    "wit = {:?} is not supported by this server (supported: {})",
                    raw.wit,
                    SUPPORTED_WIT_VERSIONS.join(", ")
                ),
                partial,
            ));
        }
        if raw.version.trim().is_empty() || raw.version.len() > 64 {
            return Err(bad("version must be 1-64 characters".into(), partial));
        }
        if raw.description.len() > 1024 {
            return Err(bad("description is longer than 1024 bytes".into(), partial));
        }
        for cap in &raw.capabilities {
            if !KNOWN_CAPABILITIES.contains(&cap.as_str()) {
                return Err(bad(
                    format!(
                        "unknown capability {cap:?} (known: {})",
                        KNOWN_CAPABILITIES.join(", ")
                    ),
                    partial,
                ));
            }
        }
        let http = raw.capabilities.iter().any(|c| c == "http");
        if http && (kind != PluginKind::Enricher || raw.wit == "0.1.0") {
            return Err(bad(
                "capability \"http\" needs kind = \"enricher\" and wit = \"0.2.0\"".into(),
                partial,
            ));
        }
        if http == raw.allowed_hosts.is_empty() {
            return Err(bad(
                "capability \"http\" and allowed-hosts go together: list the hosts the plugin \
                 reaches, e.g. allowed-hosts = [\"musicbrainz.org\"]"
                    .into(),
                partial,
            ));
        }
        if raw.allowed_hosts.len() > MAX_ALLOWED_HOSTS {
            return Err(bad(
                format!("more than {MAX_ALLOWED_HOSTS} allowed-hosts"),
                partial,
            ));
        }
        let mut allowed_hosts = Vec::new();
        for h in &raw.allowed_hosts {
            match crate::HostPattern::parse(h) {
                Ok(p) => allowed_hosts.push(p),
                Err(message) => return Err(bad(message, partial)),
            }
        }
        for key in raw.config_schema.keys() {
            if !raw.config.contains_key(key) {
                return Err(bad(
                    format!("[config-schema.{key}] has no default in [config]"),
                    partial,
                ));
            }
        }
        let m = Manifest {
            name: raw.name,
            version: raw.version,
            kind,
            wit: raw.wit,
            description: raw.description,
            capabilities: raw.capabilities,
            allowed_hosts,
            order: raw.order.unwrap_or(DEFAULT_ORDER),
            config: raw.config,
            schema: raw.config_schema,
        };
        for (key, value) in &m.config {
            if let Err(message) = m.check_value(key, value) {
                return Err(bad(format!("default of {key:?}: {message}"), partial));
            }
        }
        Ok(m)
    }

    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c == cap)
    }

    /// Checks one configuration value against the schema.
    pub fn check_value(&self, key: &str, value: &str) -> Result<(), String> {
        if !self.config.contains_key(key) {
            let known: Vec<&str> = self.config.keys().map(String::as_str).collect();
            return Err(format!("unknown key (known: {})", known.join(", ")));
        }
        if value.len() > MAX_CONFIG_VALUE {
            return Err(format!("longer than {MAX_CONFIG_VALUE} bytes"));
        }
        let Some(schema) = self.schema.get(key) else {
            return Ok(());
        };
        match schema.ty {
            ValueType::String => {}
            ValueType::Boolean => {
                if value != "true" && value != "false" {
                    return Err(format!("{value:?} is not a boolean (true|false)"));
                }
            }
            ValueType::Integer => {
                let n: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("{value:?} is not an integer"))?;
                if let Some(min) = schema.min
                    && n < min
                {
                    return Err(format!("{n} is below the minimum {min}"));
                }
                if let Some(max) = schema.max
                    && n > max
                {
                    return Err(format!("{n} is above the maximum {max}"));
                }
            }
        }
        if let Some(allowed) = &schema.allowed
            && !allowed.iter().any(|a| a == value)
        {
            return Err(format!("{value:?} is not one of: {}", allowed.join(", ")));
        }
        Ok(())
    }
}

/// Best effort for `list()` when the TOML does not even parse into the schema.
fn partial_from_text(text: &str) -> PartialManifest {
    let Ok(table) = text.parse::<toml::Table>() else {
        return PartialManifest::default();
    };
    let s = |k: &str| table.get(k).and_then(|v| v.as_str()).map(str::to_string);
    PartialManifest {
        name: s("name"),
        version: s("version"),
        kind: s("kind").as_deref().and_then(PluginKind::parse),
        wit: s("wit"),
        description: s("description"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "demo"
version = "1.0.0"
kind = "enricher"
wit = "0.1.0"
capabilities = ["kv"]
[config]
n = "3"
flag = "true"
color = "red"
[config-schema.n]
type = "integer"
min = 1
max = 5
[config-schema.flag]
type = "boolean"
[config-schema.color]
allowed = ["red", "blue"]
"#;

    #[test]
    fn parses_and_checks_values() {
        let m = Manifest::parse(GOOD, Path::new("x"))
            .map_err(|e| e.0)
            .unwrap();
        assert_eq!(m.kind, PluginKind::Enricher);
        assert_eq!(m.order, 100);
        assert!(m.has_capability("kv"));
        assert!(m.check_value("n", "5").is_ok());
        assert!(m.check_value("n", "6").is_err());
        assert!(m.check_value("n", "x").is_err());
        assert!(m.check_value("flag", "yes").is_err());
        assert!(m.check_value("color", "green").is_err());
        assert!(m.check_value("nope", "1").is_err());
    }

    #[test]
    fn rejects_bad_kind_wit_and_capability() {
        for (from, to) in [
            ("kind = \"enricher\"", "kind = \"scrobbler\""),
            ("wit = \"0.1.0\"", "wit = \"9.0.0\""),
            ("capabilities = [\"kv\"]", "capabilities = [\"net\"]"),
            ("n = \"3\"", "n = \"30\""),
        ] {
            let text = GOOD.replace(from, to);
            let (err, partial) = *Manifest::parse(&text, Path::new("x")).unwrap_err();
            assert!(matches!(err, PluginError::Manifest { .. }), "{err}");
            assert_eq!(partial.name.as_deref(), Some("demo"));
        }
    }
}
