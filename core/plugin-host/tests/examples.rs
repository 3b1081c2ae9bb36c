//! The three example plugins, loaded from plugins/dist and driven through the public API.

mod common;

use chillfi_plugin_host::*;
use common::*;
use std::collections::BTreeMap;

#[tokio::test]
async fn filename_tagger_fills_only_missing_tags() {
    let t = TestHost::new();
    t.install("filename-tagger");
    let host = t.start();
    let info = info(&host, "filename-tagger");
    assert_eq!(info.state, PluginState::Enabled, "{info:?}");
    assert_eq!(info.kind, Some(PluginKind::Enricher));
    assert_eq!(info.wit_version, "0.1.0");

    let out = host
        .enrich(&input("Daft Punk/Discovery (2001)/07 - Superheroes.flac"))
        .await;
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.applied, vec!["filename-tagger".to_string()]);
    let p = out.patch;
    assert_eq!(p.artist.as_deref(), Some("Daft Punk"));
    assert_eq!(p.album.as_deref(), Some("Discovery"));
    assert_eq!(p.year, Some(2001));
    assert_eq!(p.track, Some(7));
    assert_eq!(p.title.as_deref(), Some("Superheroes"));

    // Tags present in the file are kept.
    let mut i = input("Daft Punk/Discovery (2001)/07 - Superheroes.flac");
    i.metadata.title = Some("Superheroes (Remaster)".into());
    i.metadata.year = Some(2021);
    let p = host.enrich(&i).await.patch;
    assert_eq!(p.title, None);
    assert_eq!(p.year, None);
    assert_eq!(p.artist.as_deref(), Some("Daft Punk"));

    // "Artist - Title.mp3" at the top level.
    let p = host
        .enrich(&input("Air - La Femme d'Argent.mp3"))
        .await
        .patch;
    assert_eq!(p.artist.as_deref(), Some("Air"));
    assert_eq!(p.title.as_deref(), Some("La Femme d'Argent"));
    assert_eq!(p.album, None);

    // Folders can be switched off in its config.
    host.set_config(
        "filename-tagger",
        BTreeMap::from([("use-folders".into(), "false".into())]),
    )
    .unwrap();
    let p = host
        .enrich(&input("Daft Punk/Discovery (2001)/07 - Superheroes.flac"))
        .await
        .patch;
    assert_eq!(p.album, None);
    assert_eq!(p.title.as_deref(), Some("Superheroes"));
}

#[tokio::test]
async fn mobile_profile_choices() {
    let t = TestHost::new();
    t.install("mobile-profile");
    let host = t.start();
    use DeviceClass as D;
    use NetworkClass as N;

    let (plugin, p) = host
        .choose_profile(&client(N::Cellular, D::Unknown, None), &flac())
        .await
        .unwrap();
    assert_eq!(plugin, "mobile-profile");
    assert_eq!((p.codec, p.bitrate_kbps), (Codec::Opus, 96));

    let (_, p) = host
        .choose_profile(&client(N::Wifi, D::Mobile, None), &flac())
        .await
        .unwrap();
    assert_eq!((p.codec, p.bitrate_kbps), (Codec::Opus, 96));

    let (_, p) = host
        .choose_profile(&client(N::Wifi, D::Desktop, Some(160)), &flac())
        .await
        .unwrap();
    assert_eq!((p.codec, p.bitrate_kbps), (Codec::Mp3, 128));

    assert_eq!(
        host.choose_profile(&client(N::Wifi, D::Desktop, None), &flac())
            .await,
        None
    );
    assert_eq!(
        host.choose_profile(&client(N::Wired, D::Desktop, Some(320)), &flac())
            .await,
        None
    );

    // Config is honoured and validated against the schema.
    host.set_config(
        "mobile-profile",
        BTreeMap::from([("opus-kbps".into(), "64".into())]),
    )
    .unwrap();
    let (_, p) = host
        .choose_profile(&client(N::Cellular, D::Unknown, None), &flac())
        .await
        .unwrap();
    assert_eq!(p.bitrate_kbps, 64);
    let err = host
        .set_config(
            "mobile-profile",
            BTreeMap::from([("opus-kbps".into(), "1000".into())]),
        )
        .unwrap_err();
    assert!(matches!(err, PluginError::InvalidConfig { .. }), "{err}");
    assert!(
        host.set_config(
            "mobile-profile",
            BTreeMap::from([("nope".into(), "1".into())])
        )
        .is_err()
    );
    assert_eq!(info(&host, "mobile-profile").config["opus-kbps"], "64");

    // Overrides are kept across restarts.
    drop(host);
    let host = t.start();
    assert_eq!(info(&host, "mobile-profile").config["opus-kbps"], "64");
}

fn is_word_slug(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1].chars().all(|c| c.is_ascii_lowercase())
        && parts[2].parse::<u32>().is_ok_and(|n| n < 100)
}

#[tokio::test]
async fn expiring_links_slugs_limits_and_access() {
    let t = TestHost::new();
    t.install("expiring-links");
    let host = t.start();

    let d = host.share_create(&share_req()).await.unwrap();
    let slug = d.slug.clone().unwrap();
    assert!(is_word_slug(&slug), "{slug}");
    assert_eq!(d.expires_at, Some(NOW + 72 * 3600));
    assert_eq!(d.max_plays, Some(10));

    // The host seeds each call: slugs vary.
    let mut slugs = std::collections::BTreeSet::new();
    for _ in 0..10 {
        slugs.insert(host.share_create(&share_req()).await.unwrap().slug.unwrap());
    }
    assert!(slugs.len() > 5, "{slugs:?}");

    // Requests are honoured or refused.
    let mut r = share_req();
    r.requested_expires_at = Some(NOW + 3600);
    r.requested_max_plays = Some(3);
    let d = host.share_create(&r).await.unwrap();
    assert_eq!((d.expires_at, d.max_plays), (Some(NOW + 3600), Some(3)));
    r.requested_expires_at = Some(NOW - 1);
    let refusal = host.share_create(&r).await.unwrap_err();
    assert_eq!(refusal.plugin, "expiring-links");
    assert!(refusal.reason.contains("past"), "{refusal}");

    // Access: allowed under the limit, denied at it and after expiry.
    let exp = Some(NOW + 72 * 3600);
    assert!(host.share_access(&access(9, Some(10), exp, NOW + 10)).await);
    assert!(
        !host
            .share_access(&access(10, Some(10), exp, NOW + 10))
            .await
    );
    assert!(
        !host
            .share_access(&access(0, Some(10), exp, NOW + 72 * 3600))
            .await
    );

    host.set_config(
        "expiring-links",
        BTreeMap::from([("expiry-hours".into(), "1".into())]),
    )
    .unwrap();
    assert_eq!(
        host.share_create(&share_req()).await.unwrap().expires_at,
        Some(NOW + 3600)
    );
}

#[tokio::test]
async fn no_plugins_means_defaults() {
    let t = TestHost::new();
    let host = t.start();
    assert!(host.list().is_empty());
    assert_eq!(
        host.enrich(&input("a/b/01 - c.mp3")).await,
        EnrichOutcome::default()
    );
    assert_eq!(
        host.choose_profile(
            &client(NetworkClass::Cellular, DeviceClass::Mobile, None),
            &flac()
        )
        .await,
        None
    );
    assert_eq!(
        host.share_create(&share_req()).await,
        Ok(ShareDecision::default())
    );
    assert!(host.share_access(&access(100, Some(1), None, NOW)).await);
}

#[tokio::test]
async fn disable_enable_and_order() {
    let t = TestHost::new();
    t.install("filename-tagger");
    t.install("expiring-links");
    // The template sets a genre; run it before the tagger.
    t.install_as(
        "my-enricher",
        "genre-first",
        "enricher",
        "order = 1",
        "default-genre = \"Electronic\"\nonly-when-missing = \"true\"",
    );
    let host = t.start();
    let names: Vec<String> = host.list().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["genre-first", "expiring-links", "filename-tagger"]);

    let out = host
        .enrich(&input("Daft Punk/Discovery (2001)/07 - Superheroes.flac"))
        .await;
    assert_eq!(out.applied, ["genre-first", "filename-tagger"]);
    assert_eq!(out.patch.genre.as_deref(), Some("Electronic"));

    host.disable("filename-tagger").unwrap();
    assert_eq!(info(&host, "filename-tagger").state, PluginState::Disabled);
    let out = host
        .enrich(&input("Daft Punk/Discovery (2001)/07 - Superheroes.flac"))
        .await;
    assert_eq!(out.applied, ["genre-first"]);
    // Disabled share handler: defaults.
    host.disable("expiring-links").unwrap();
    assert_eq!(
        host.share_create(&share_req()).await,
        Ok(ShareDecision::default())
    );

    // Kept across restarts, until enabled.
    drop(host);
    let host = t.start();
    assert_eq!(info(&host, "filename-tagger").state, PluginState::Disabled);
    host.enable("filename-tagger").unwrap();
    assert_eq!(
        host.enrich(&input("x/y/01 - z.mp3")).await.applied,
        ["genre-first", "filename-tagger"]
    );
    assert!(matches!(host.enable("nope"), Err(PluginError::NotFound(_))));
}

/// The package's example plugins load from a read-only folder: listed disabled until enabled
/// (kept across restarts), never written to; an installed plugin of the same name wins.
#[tokio::test]
async fn packaged_plugins_load_disabled_from_their_own_folder() {
    let t = TestHost::new();
    let packaged = t.tmp.path().join("packaged");
    for name in ["filename-tagger", "expiring-links"] {
        std::fs::create_dir_all(packaged.join(name)).unwrap();
        for f in ["plugin.toml".to_string(), format!("{name}.wasm")] {
            std::fs::copy(common::built(name).join(&f), packaged.join(name).join(&f)).unwrap();
        }
    }
    let mut cfg = t.cfg.clone();
    cfg.packaged_dir = Some(packaged.clone());
    let start = || PluginHost::new(cfg.clone()).expect("host starts");
    let host = start();
    let tagger = info(&host, "filename-tagger");
    assert!(tagger.packaged);
    assert_eq!(tagger.state, PluginState::Disabled);
    assert_eq!(tagger.dir, packaged.join("filename-tagger"));
    let path = "Daft Punk/Discovery (2001)/07 - Superheroes.flac";
    assert!(host.enrich(&input(path)).await.applied.is_empty());

    host.enable("filename-tagger").unwrap();
    assert_eq!(host.enrich(&input(path)).await.applied, ["filename-tagger"]);
    drop(host);
    let host = start();
    assert_eq!(info(&host, "filename-tagger").state, PluginState::Enabled);
    assert_eq!(info(&host, "expiring-links").state, PluginState::Disabled);
    drop(host);

    // An installed copy of a shipped plugin takes its place.
    t.install("expiring-links");
    let host = start();
    let links = info(&host, "expiring-links");
    assert!(!links.packaged);
    assert_eq!(links.dir, t.plugins_dir().join("expiring-links"));
    assert_eq!(
        host.list()
            .iter()
            .filter(|p| p.name == "expiring-links")
            .count(),
        1
    );
    // Nothing was written into the packaged folder.
    let mut files: Vec<String> = walk(&packaged);
    files.sort();
    assert_eq!(
        files,
        [
            "expiring-links/expiring-links.wasm",
            "expiring-links/plugin.toml",
            "filename-tagger/filename-tagger.wasm",
            "filename-tagger/plugin.toml",
        ]
    );
}

/// Every file below `root`, relative to it.
fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for path in std::fs::read_dir(dir)
            .expect("readable")
            .flatten()
            .map(|e| e.path())
        {
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .expect("below root")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out
}
