//! check(), broken plugin folders, reload and watch.

mod common;

use chillfi_plugin_host::*;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn check_reports_world_and_version() {
    for (name, kind, world) in [
        (
            "filename-tagger",
            PluginKind::Enricher,
            "chillfi:plugin/enricher@0.1.0",
        ),
        (
            "mobile-profile",
            PluginKind::TranscodeProfile,
            "chillfi:plugin/transcode-profile@0.1.0",
        ),
        (
            "expiring-links",
            PluginKind::ShareHandler,
            "chillfi:plugin/share-handler@0.1.0",
        ),
    ] {
        let dir = built(name);
        let r = check(&dir.join(format!("{name}.wasm"))).unwrap();
        assert_eq!(
            (r.kind, r.world.as_str(), r.package_version.as_str()),
            (kind, world, "0.1.0")
        );
        assert!(
            r.exports.iter().any(|e| e.starts_with("chillfi:plugin/")),
            "{r:?}"
        );
        assert!(
            r.imports.iter().all(|i| i.starts_with("chillfi:plugin/")),
            "{r:?}"
        );
        assert_eq!(r.plugin_name, None);
        // A folder: the manifest is checked too.
        let r = check(&dir).unwrap();
        assert_eq!(r.plugin_name.as_deref(), Some(name));
        assert_eq!(r.plugin_version.as_deref(), Some("0.1.0"));
    }
}

#[test]
fn check_rejects_non_components_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let core = tmp.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let e = check(&core).unwrap_err();
    assert!(matches!(e, PluginError::NotAComponent { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("core WebAssembly module, not a component"),
        "{e}"
    );

    let text = tmp.path().join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    assert!(
        check(&text)
            .unwrap_err()
            .to_string()
            .contains("not a WebAssembly file")
    );

    let broken = tmp.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm\x0d\0\x01\0garbage").unwrap();
    assert!(
        check(&broken)
            .unwrap_err()
            .to_string()
            .contains("invalid component")
    );

    assert!(matches!(
        check(&tmp.path().join("missing.wasm")),
        Err(PluginError::Io { .. })
    ));
}

#[test]
fn broken_plugins_are_listed_as_failed_not_fatal() {
    let t = TestHost::new();
    t.install("filename-tagger");
    // Wrong kind for the component.
    t.install_as("filename-tagger", "wrong-kind", "share-handler", "", "");
    // Unsupported WIT version.
    t.install_as("filename-tagger", "future", "enricher", "", "");
    let future = t.plugins_dir().join("future/plugin.toml");
    let text = std::fs::read_to_string(&future)
        .unwrap()
        .replace("wit = \"0.1.0\"", "wit = \"9.9.0\"");
    std::fs::write(&future, text).unwrap();
    // Unparsable manifest, missing manifest, missing component, a core module.
    t.install_as("filename-tagger", "bad-toml", "enricher", "", "");
    std::fs::write(
        t.plugins_dir().join("bad-toml/plugin.toml"),
        "name = \"bad-toml\"\nkind = [",
    )
    .unwrap();
    std::fs::create_dir_all(t.plugins_dir().join("empty")).unwrap();
    t.install_as("filename-tagger", "no-wasm", "enricher", "", "");
    std::fs::remove_file(t.plugins_dir().join("no-wasm/no-wasm.wasm")).unwrap();
    t.install_as("filename-tagger", "core-module", "enricher", "", "");
    std::fs::write(
        t.plugins_dir().join("core-module/core-module.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    // Name differing from the folder.
    t.install_as("filename-tagger", "renamed", "enricher", "", "");
    std::fs::rename(
        t.plugins_dir().join("renamed"),
        t.plugins_dir().join("other-folder"),
    )
    .unwrap();

    let host = t.start();
    assert_eq!(info(&host, "filename-tagger").state, PluginState::Enabled);
    let failed = |name: &str, needle: &str| {
        let i = info(&host, name);
        assert_eq!(i.state, PluginState::Failed, "{i:?}");
        let e = i.last_error.unwrap_or_default();
        assert!(
            e.contains(needle),
            "{name}: {e:?} should mention {needle:?}"
        );
    };
    failed(
        "wrong-kind",
        "implements world chillfi:plugin/enricher@0.1.0",
    );
    failed("future", "wit = \"9.9.0\" is not supported");
    failed("bad-toml", "invalid plugin.toml");
    failed("empty", "plugin.toml");
    failed("no-wasm", "no-wasm.wasm");
    failed("core-module", "not a component");
    failed("renamed", "must match");
    assert_eq!(info(&host, "future").wit_version, "9.9.0");
    assert!(matches!(
        host.enable("future"),
        Err(PluginError::Failed { .. })
    ));

    // Calls only reach the working plugin.
    let out = block_on(host.enrich(&input("A/B/01 - C.mp3")));
    assert_eq!(out.applied, ["filename-tagger"]);
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn reload_picks_up_changes() {
    let t = TestHost::new();
    let host = t.start();
    assert!(host.list().is_empty());
    t.install("mobile-profile");
    let list = host.reload().unwrap();
    assert_eq!(list.len(), 1);
    std::fs::remove_dir_all(t.plugins_dir().join("mobile-profile")).unwrap();
    assert!(host.reload().unwrap().is_empty());
}

#[test]
fn watch_reloads_when_the_folder_changes() {
    let t = TestHost::new();
    let host = t.start();
    let _watcher = host.watch().unwrap();
    t.install("expiring-links");
    let start = Instant::now();
    while host.get("expiring-links").map(|i| i.state) != Some(PluginState::Enabled) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not reloaded: {:?}",
            host.list()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        info(&host, "expiring-links").kind,
        Some(PluginKind::ShareHandler)
    );
}
