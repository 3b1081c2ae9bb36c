//! Tests of the layered configuration.
use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults_are_the_embedded_ones() {
    let sources = Sources {
        file: None,
        ..Default::default()
    };
    let cfg = Config::load_from(&sources, env(&[])).unwrap();
    assert_eq!(cfg.data_dir, PathBuf::from("./chillfi-data"));
    assert_eq!(cfg.server.listen, "0.0.0.0:8080");
    assert_eq!(cfg.auth.token_ttl_hours, 168);
    assert_eq!(cfg.log.format, LogFormat::Text);
}

#[test]
fn toml_then_env_then_cli() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        dir.path(),
        "data_dir = \"/srv/music\"\n[server]\nlisten = \"127.0.0.1:9000\"\n[auth]\ntoken_ttl_hours = 12\nrefresh_window_hours = 2\n",
    );
    let sources = Sources {
        file: Some(path.clone()),
        ..Default::default()
    };
    let cfg = Config::load_from(&sources, env(&[])).unwrap();
    assert_eq!(cfg.server.listen, "127.0.0.1:9000");
    assert_eq!(cfg.auth.token_ttl_hours, 12);
    assert_eq!(cfg.data_dir, PathBuf::from("/srv/music"));

    let cfg = Config::load_from(
        &sources,
        env(&[
            ("CHILLFI_SERVER__LISTEN", "127.0.0.1:9100"),
            ("CHILLFI_LOG__FORMAT", "json"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.server.listen, "127.0.0.1:9100");
    assert_eq!(cfg.log.format, LogFormat::Json);
    assert_eq!(
        cfg.auth.token_ttl_hours, 12,
        "file value survives unrelated env"
    );

    let sources = Sources {
        listen: Some("127.0.0.1:9200".into()),
        ..sources
    };
    let cfg = Config::load_from(
        &sources,
        env(&[("CHILLFI_SERVER__LISTEN", "127.0.0.1:9100")]),
    )
    .unwrap();
    assert_eq!(cfg.server.listen, "127.0.0.1:9200");
}

#[test]
fn unknown_key_in_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        dir.path(),
        "[server]\nlisten = \"0.0.0.0:1\"\nlistne = \"x\"\n",
    );
    let err = Config::load_from(
        &Sources {
            file: Some(path),
            ..Default::default()
        },
        env(&[]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("listne"), "{err}");
}

#[test]
fn unknown_key_in_env_is_named() {
    let err =
        Config::load_from(&Sources::default(), env(&[("CHILLFI_SERVR__LISTEN", "x")])).unwrap_err();
    assert!(err.to_string().contains("servr"), "{err}");
}

#[test]
fn file_variables_supply_secrets_and_win_over_plain_env() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("level");
    std::fs::write(&secret, "debug\n").unwrap();
    let cfg = Config::load_from(
        &Sources::default(),
        env(&[
            ("CHILLFI_LOG__LEVEL", "warn"),
            ("CHILLFI_LOG__LEVEL_FILE", secret.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.log.level, "debug");
}

#[test]
fn missing_secret_file_is_a_clear_error() {
    let err = Config::load_from(
        &Sources::default(),
        env(&[("CHILLFI_LOG__LEVEL_FILE", "/nonexistent/secret")]),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("CHILLFI_LOG__LEVEL_FILE") && text.contains("/nonexistent/secret"));
}

#[test]
fn bad_values_are_rejected_with_the_key() {
    let err = Config::load_from(
        &Sources::default(),
        env(&[("CHILLFI_SERVER__LISTEN", "not-an-address")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("server.listen"), "{err}");
    let err = Config::load_from(
        &Sources::default(),
        env(&[("CHILLFI_AUTH__TOKEN_TTL_HOURS", "soon")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("token_ttl_hours"), "{err}");
}

#[test]
fn a_token_lifetime_inside_the_refresh_window_is_refused_naming_both_keys() {
    for (ttl, window) in [("24", "24"), ("12", "24"), ("1", "2")] {
        let err = Config::load_from(
            &Sources::default(),
            env(&[
                ("CHILLFI_AUTH__TOKEN_TTL_HOURS", ttl),
                ("CHILLFI_AUTH__REFRESH_WINDOW_HOURS", window),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("auth.token_ttl_hours"), "{err}");
        assert!(err.contains("auth.refresh_window_hours"), "{err}");
    }
    let ok = Config::load_from(
        &Sources::default(),
        env(&[
            ("CHILLFI_AUTH__TOKEN_TTL_HOURS", "25"),
            ("CHILLFI_AUTH__REFRESH_WINDOW_HOURS", "24"),
        ]),
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn masking_hides_secret_values() {
    let mut value: toml::Value =
        toml::from_str("[s3]\nsecret_key = \"hunter2\"\naccess_key = \"AK\"\n").unwrap();
    mask_secrets(&mut value);
    let text = value.to_string();
    assert!(!text.contains("hunter2") && text.contains("***") && text.contains("AK"));
}

#[test]
fn the_packaged_template_is_valid_and_complete() {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/config.toml");
    let text = std::fs::read_to_string(&template).unwrap();
    // Every key is present but commented: uncommenting them all must give the defaults.
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| looks_like_toml(r))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), &uncommented);
    let cfg = Config::load_from(
        &Sources {
            file: Some(path),
            ..Default::default()
        },
        env(&[]),
    )
    .unwrap();
    let defaults = Config::default();
    assert_eq!(toml_value(&cfg), toml_value(&defaults));
    // ...and every default key appears in the template.
    fn keys(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let name = format!("{prefix}{k}");
                if v.is_table() {
                    keys(v, &format!("{name}."), out);
                } else {
                    out.push(name);
                }
            }
        }
    }
    let mut expected = Vec::new();
    keys(&toml_value(&defaults).unwrap(), "", &mut expected);
    let parsed: toml::Value = toml::from_str(&uncommented).unwrap();
    let mut found = Vec::new();
    keys(&parsed, "", &mut found);
    expected.sort();
    found.sort();
    assert_eq!(found, expected, "packaging/config.toml must list every key");
}

#[test]
fn plugin_defaults_are_the_hosts() {
    let host = Config::default().plugin_host_config();
    assert_eq!(host.limits, chillfi_plugin_host::Limits::default());
    assert_eq!(host.plugins_dir, PathBuf::from("./chillfi-data/plugins"));
    assert_eq!(host.state_dir, PathBuf::from("./chillfi-data/plugin-state"));
    let err = Config::load_from(
        &Sources::default(),
        env(&[("CHILLFI_PLUGINS__SHARE_DEADLINE_MS", "0")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("plugins.share_deadline_ms"),
        "{err}"
    );
}

fn looks_like_toml(line: &str) -> bool {
    line.starts_with('[')
        || line
            .split_once(" = ")
            .is_some_and(|(k, _)| !k.contains(' '))
}
