//! Misbehaving plugins: the host stops them, reports them, disables repeat offenders,
//! and keeps serving everything else.

mod common;

use chillfi_plugin_host::*;
use common::*;
use std::time::{Duration, Instant};

fn fault_of(out: &EnrichOutcome, plugin: &str) -> String {
    let e = out
        .errors
        .iter()
        .find(|e| e.plugin == plugin)
        .unwrap_or_else(|| panic!("no error from {plugin}: {out:?}"));
    assert!(e.fault, "{e:?}");
    e.message.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_stopped_at_the_deadline() {
    let t = TestHost::with_limits(short_limits());
    t.hostile("looper", "loop");
    let host = t.start();
    let start = Instant::now();
    let out = host.enrich(&input("a.mp3")).await;
    let took = start.elapsed();
    let msg = fault_of(&out, "looper");
    assert!(msg.contains("timed out"), "{msg}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_millis(300 + 100),
        "stopped only after {took:?}"
    );
}

#[tokio::test]
async fn memory_bomb_is_refused() {
    let t = TestHost::new();
    t.hostile("bomb", "bomb");
    let host = t.start();
    let msg = fault_of(&host.enrich(&input("a.mp3")).await, "bomb");
    assert!(msg.contains("memory limit of 64 MiB"), "{msg}");
}

#[tokio::test]
async fn deep_recursion_traps_cleanly() {
    let t = TestHost::new();
    t.hostile("deep", "recurse");
    let host = t.start();
    let msg = fault_of(&host.enrich(&input("a.mp3")).await, "deep");
    assert!(msg.contains("trapped"), "{msg}");
}

#[tokio::test]
async fn trap_oversized_and_invalid_results_are_faults() {
    let t = TestHost::new();
    t.hostile("trapper", "trap")
        .hostile("big", "oversized")
        .hostile("liar", "invalid")
        .hostile("grumpy", "error");
    let host = t.start();
    let out = host.enrich(&input("a.mp3")).await;
    assert!(fault_of(&out, "trapper").contains("trapped"));
    let big = fault_of(&out, "big");
    assert!(big.contains("too large"), "{big}");
    let liar = fault_of(&out, "liar");
    assert!(liar.contains("invalid result"), "{liar}");
    // A plugin's own error is reported but is not a fault.
    let grumpy = out.errors.iter().find(|e| e.plugin == "grumpy").unwrap();
    assert!(!grumpy.fault);
    assert_eq!(grumpy.message, "refusing on purpose");
    assert_eq!(out.patch, MetadataPatch::default());
    assert_eq!(info(&host, "grumpy").consecutive_faults, 0);
    assert_eq!(info(&host, "liar").consecutive_faults, 1);
    let e = info(&host, "liar").last_error.unwrap();
    assert!(e.contains("track: 0 is not in 1..=999"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_faults_in_a_row_disable_the_plugin_others_keep_working() {
    let mut limits = short_limits();
    limits.enricher_deadline = Duration::from_millis(50);
    let t = TestHost::with_limits(limits);
    t.hostile("looper", "loop").hostile("fine", "ok");
    t.install("filename-tagger");
    let host = t.start();
    for round in 1..=3 {
        let out = host.enrich(&input("Artist/Album/01 - Song.mp3")).await;
        assert!(fault_of(&out, "looper").contains("timed out"));
        // The others still answer.
        assert!(out.applied.contains(&"fine".to_string()), "{out:?}");
        assert_eq!(out.patch.artist.as_deref(), Some("Artist"));
        let i = info(&host, "looper");
        assert_eq!(i.consecutive_faults, round);
        assert_eq!(
            i.state,
            if round < 3 {
                PluginState::Enabled
            } else {
                PluginState::Faulted
            }
        );
    }
    let out = host.enrich(&input("Artist/Album/01 - Song.mp3")).await;
    assert!(
        out.errors.is_empty(),
        "a faulted plugin is no longer called: {out:?}"
    );
    assert!(
        info(&host, "looper")
            .last_error
            .unwrap()
            .contains("timed out")
    );

    // Faulted survives a restart; enable() clears it.
    drop(host);
    let host = t.start();
    assert_eq!(info(&host, "looper").state, PluginState::Faulted);
    host.enable("looper").unwrap();
    let i = info(&host, "looper");
    assert_eq!(
        (i.state, i.consecutive_faults, i.last_error),
        (PluginState::Enabled, 0, None)
    );
}

#[tokio::test]
async fn a_success_resets_the_fault_count() {
    let t = TestHost::new();
    t.hostile("flaky", "trap");
    let host = t.start();
    host.enrich(&input("a.mp3")).await;
    host.enrich(&input("a.mp3")).await;
    assert_eq!(info(&host, "flaky").consecutive_faults, 2);
    host.set_config("flaky", [("mode".to_string(), "ok".to_string())].into())
        .unwrap();
    let out = host.enrich(&input("a.mp3")).await;
    assert_eq!(out.patch.title.as_deref(), Some("ok:a.mp3"));
    assert_eq!(info(&host, "flaky").consecutive_faults, 0);
    assert_eq!(info(&host, "flaky").state, PluginState::Enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_are_not_blocked_by_a_looping_plugin() {
    let mut limits = short_limits();
    limits.profile_deadline = Duration::from_millis(800);
    let t = TestHost::with_limits(limits);
    t.install_as(
        "hostile-profile",
        "slow-profile",
        "transcode-profile",
        "",
        "mode = \"loop\"",
    );
    t.install("filename-tagger");
    let host = t.start();

    let start = Instant::now();
    let looping: Vec<_> = (0..3)
        .map(|_| {
            let h = host.clone();
            tokio::spawn(async move {
                h.choose_profile(
                    &client(NetworkClass::Wifi, DeviceClass::Desktop, None),
                    &flac(),
                )
                .await
            })
        })
        .collect();
    let quick: Vec<_> = (0..32)
        .map(|i| {
            let h = host.clone();
            tokio::spawn(async move {
                h.enrich(&input(&format!("Artist {i}/Album/01 - Song.mp3")))
                    .await
            })
        })
        .collect();
    for (i, q) in quick.into_iter().enumerate() {
        let out = q.await.unwrap();
        assert_eq!(out.patch.artist, Some(format!("Artist {i}")));
    }
    let quick_done = start.elapsed();
    assert!(
        quick_done < Duration::from_millis(700),
        "enrich calls waited for the loops: {quick_done:?}"
    );
    for l in looping {
        assert_eq!(l.await.unwrap(), None);
    }
    assert_eq!(info(&host, "slow-profile").state, PluginState::Faulted);
}

#[tokio::test]
async fn invalid_profile_falls_through_to_the_next_plugin() {
    let t = TestHost::new();
    t.install_as(
        "hostile-profile",
        "bad-bitrate",
        "transcode-profile",
        "order = 1",
        "mode = \"invalid-bitrate\"",
    );
    t.install_as(
        "hostile-profile",
        "bad-rate",
        "transcode-profile",
        "order = 2",
        "mode = \"invalid-rate\"",
    );
    t.install("mobile-profile");
    let host = t.start();
    let (plugin, p) = host
        .choose_profile(
            &client(NetworkClass::Cellular, DeviceClass::Mobile, None),
            &flac(),
        )
        .await
        .unwrap();
    assert_eq!(
        (plugin.as_str(), p.codec, p.bitrate_kbps),
        ("mobile-profile", Codec::Opus, 96)
    );
    assert!(
        info(&host, "bad-bitrate")
            .last_error
            .unwrap()
            .contains("bitrate")
    );
    assert!(
        info(&host, "bad-rate")
            .last_error
            .unwrap()
            .contains("sample-rate")
    );
}

#[tokio::test]
async fn share_handler_results_are_validated() {
    for mode in [
        "bad-slug",
        "past-expiry",
        "far-expiry",
        "zero-plays",
        "trap",
    ] {
        let t = TestHost::new();
        t.install_as(
            "hostile-share",
            "share",
            "share-handler",
            "",
            &format!("mode = \"{mode}\""),
        );
        let host = t.start();
        assert_eq!(
            host.share_create(&share_req()).await,
            Ok(ShareDecision::default()),
            "{mode}"
        );
        let i = info(&host, "share");
        assert_eq!(i.consecutive_faults, 1, "{mode}: {i:?}");
    }
    let t = TestHost::new();
    t.install_as(
        "hostile-share",
        "share",
        "share-handler",
        "",
        "mode = \"ok\"",
    );
    let host = t.start();
    let d = host.share_create(&share_req()).await.unwrap();
    assert_eq!((d.expires_at, d.max_plays), (Some(NOW + 60), Some(3)));
    host.set_config("share", [("mode".to_string(), "refuse".to_string())].into())
        .unwrap();
    let r = host.share_create(&share_req()).await.unwrap_err();
    assert_eq!(r.reason, "not today");
    assert!(!host.share_access(&access(0, None, None, NOW)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_share_handler_falls_back_to_builtin_rule_within_its_deadline() {
    let t = TestHost::with_limits(short_limits());
    t.install_as(
        "hostile-share",
        "share",
        "share-handler",
        "",
        "mode = \"loop\"",
    );
    let host = t.start();
    let start = Instant::now();
    assert!(host.share_access(&access(1, Some(5), None, NOW)).await);
    assert!(
        start.elapsed() < Duration::from_millis(200 + 100),
        "{:?}",
        start.elapsed()
    );
    assert!(!host.share_access(&access(5, Some(5), None, NOW)).await);
    assert_eq!(info(&host, "share").state, PluginState::Enabled);
    assert!(!host.share_access(&access(0, None, Some(NOW), NOW)).await);
    assert_eq!(info(&host, "share").state, PluginState::Faulted);
}

#[tokio::test]
async fn kv_needs_the_capability_and_respects_the_quota() {
    let limits = Limits {
        kv_quota_bytes: 100,
        ..Limits::default()
    };
    let t = TestHost::with_limits(limits);
    t.install_as(
        "hostile-enricher",
        "with-kv",
        "enricher",
        "capabilities = [\"kv\"]",
        "mode = \"kv\"\nkv-bytes = \"16\"",
    );
    t.install_as(
        "hostile-enricher",
        "kv-hog",
        "enricher",
        "capabilities = [\"kv\"]",
        "mode = \"kv\"\nkv-bytes = \"200\"",
    );
    t.install_as(
        "hostile-enricher",
        "no-kv",
        "enricher",
        "",
        "mode = \"kv\"\nkv-bytes = \"16\"",
    );
    let host = t.start();
    assert_eq!(info(&host, "with-kv").capabilities, ["kv"]);

    let title = |name: &'static str, file: &'static str| {
        let host = host.clone();
        async move {
            host.set_config(name, Default::default()).unwrap();
            // Only run `name`: disable the others for this call.
            for other in ["with-kv", "kv-hog", "no-kv"] {
                if other == name {
                    host.enable(other).unwrap()
                } else {
                    host.disable(other).unwrap()
                }
            }
            host.enrich(&input(file)).await.patch
        }
    };
    assert_eq!(
        title("with-kv", "a").await.title.as_deref(),
        Some("set:ok get:16")
    );
    assert_eq!(
        title("kv-hog", "a").await.title.as_deref(),
        Some("set:quota-exceeded get:none")
    );
    assert_eq!(
        title("no-kv", "a").await.title.as_deref(),
        Some("set:denied get:denied")
    );
    // Quota counts what is stored: 6 keys of 3 bytes + 16 bytes = 114 > 100.
    let mut last = String::new();
    for f in ["b", "c", "d", "e", "f"] {
        last = title("with-kv", f).await.title.unwrap();
    }
    assert_eq!(last, "set:quota-exceeded get:none");
    let p = title("with-kv", "delete").await;
    assert_eq!(p.album.as_deref(), Some("delete:ok"));

    // Persisted in the state folder, per plugin.
    assert!(t.cfg.state_dir.join("with-kv/kv.bin").is_file());
    assert!(!t.cfg.state_dir.join("no-kv/kv.bin").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cannot_see_the_previous_calls_data() {
    // The plugin keeps every input in a static, writes `SECRET<file name>` to its heap and
    // leaks it, then reports what it finds of earlier calls in its statics and by scanning
    // its whole linear memory. Instances come from the pooling allocator with memory kept
    // resident between calls: it must still start from the pristine image every time.
    let t = TestHost::new();
    t.hostile("nosy", "remember");
    let host = t.start();
    let first = host.enrich(&input("alpha-private.mp3")).await;
    assert!(first.errors.is_empty(), "{first:?}");
    assert_eq!(
        first.patch.title.as_deref(),
        Some("statics:[] memory:[]"),
        "the scan itself works on its own call's data"
    );
    for name in ["beta.mp3", "gamma.mp3", "delta.mp3"] {
        let out = host.enrich(&input(name)).await;
        assert_eq!(
            out.patch.title.as_deref(),
            Some("statics:[] memory:[]"),
            "call for {name} saw an earlier call's data: {out:?}"
        );
    }
    // Same through the blocking API, and with other plugins' calls in between.
    t.install("filename-tagger");
    host.reload().unwrap();
    for name in ["epsilon.mp3", "zeta.mp3"] {
        let out = host.enrich_blocking(&input(name));
        assert!(
            out.applied.contains(&"filename-tagger".to_string()),
            "{out:?}"
        );
        assert_eq!(
            out.patch
                .title
                .as_deref()
                .map(|t| t.starts_with("statics:[] memory:[]")),
            Some(true),
            "{out:?}"
        );
    }
}
