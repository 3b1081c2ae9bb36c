//! Timing loop (no criterion): one enricher call on a pre-instantiated component (direct,
//! through the async path the server uses, and the same logic as a native function), and
//! how long the host takes to stop an infinite loop. Run through bench/plugins.sh.
//!
//! cargo run --release -p chillfi-plugin-host --example plugin_bench -- [calls]

/// filename-tagger's own parsing code, compiled natively: the baseline.
#[allow(clippy::all, dead_code)]
#[path = "../../../plugins/filename-tagger/src/parse.rs"]
mod tagger;

use chillfi_plugin_host::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn built(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins");
    let dist = root.join("dist").join(name);
    if dist.exists() {
        dist
    } else {
        root.join("target/test-plugins").join(name)
    }
}

fn install(
    plugins: &Path,
    from: &str,
    name: &str,
    extra_config: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let src = built(from);
    let dst = plugins.join(name);
    std::fs::create_dir_all(&dst)?;
    std::fs::copy(
        src.join(format!("{from}.wasm")),
        dst.join(format!("{name}.wasm")),
    )
    .map_err(|e| format!("{}: {e} (run plugins/build.sh)", src.display()))?;
    let toml = std::fs::read_to_string(src.join("plugin.toml"))?
        .replace(&format!("name = \"{from}\""), &format!("name = \"{name}\""));
    let toml = if extra_config.is_empty() {
        toml
    } else {
        format!("{toml}\n{extra_config}\n")
    };
    std::fs::write(dst.join("plugin.toml"), toml)?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// What filename-tagger does, as a native function: parse the path, keep what the tags lack.
fn native_enrich(input: &EnrichInput) -> MetadataPatch {
    let m = &input.metadata;
    let path = if input.relative_path.trim().is_empty() {
        input.file_name.as_str()
    } else {
        input.relative_path.as_str()
    };
    let p = tagger::parse_path(path, true);
    let missing = |s: &Option<String>| s.as_deref().is_none_or(|v| v.trim().is_empty());
    MetadataPatch {
        title: p.title.filter(|_| missing(&m.title)),
        artist: p.artist.filter(|_| missing(&m.artist)),
        album: p.album.filter(|_| missing(&m.album)),
        track: p
            .track
            .filter(|t| m.track.is_none() && (1..=999).contains(t)),
        disc: p.disc.filter(|d| m.disc.is_none() && (1..=999).contains(d)),
        year: p.year.filter(|_| m.year.is_none()),
        ..Default::default()
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    percentile(times, 0.5)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let tmp = std::env::temp_dir().join(format!("chillfi-plugin-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let plugins = tmp.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    install(&plugins, "filename-tagger", "filename-tagger", "")?;

    let mut cfg = HostConfig::new(&plugins, tmp.join("state"));
    let t0 = Instant::now();
    let host = PluginHost::new(cfg.clone())?;
    println!(
        "load + compile + pre-instantiate 1 plugin: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );

    let input = EnrichInput {
        metadata: TrackMetadata::default(),
        file_name: "07 - Superheroes.flac".into(),
        relative_path: "Daft Punk/Discovery (2001)/07 - Superheroes.flac".into(),
        uploader: "alice".into(),
        source: IngestSource::Upload,
    };
    for _ in 0..200 {
        host.enrich_blocking(&input);
    }
    let mut direct = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let out = host.enrich_blocking(&input);
        direct.push(t.elapsed());
        assert_eq!(out.applied.len(), 1, "{out:?}");
    }
    let direct_median = median(&mut direct);
    println!(
        "direct: enricher call (filename-tagger; fresh store, instantiate from InstancePre, call, validate), {calls} calls: median {}, p99 {}, max {}",
        us(direct_median),
        us(percentile(&direct, 0.99)),
        us(direct[direct.len() - 1]),
    );

    // The server's path: `enrich(..).await` inside a task on a multi-threaded runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (h, i) = (host.clone(), input.clone());
    let mut server = rt.block_on(async move {
        tokio::spawn(async move {
            for _ in 0..200 {
                h.enrich(&i).await;
            }
            let mut times = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = Instant::now();
                let out = h.enrich(&i).await;
                times.push(t.elapsed());
                assert_eq!(out.applied.len(), 1, "{out:?}");
            }
            times
        })
        .await
    })?;
    let server_median = median(&mut server);
    println!(
        "server path: the same through the async API in a tokio task: median {}, p99 {}",
        us(server_median),
        us(percentile(&server, 0.99)),
    );

    let mut native = Vec::with_capacity(calls);
    let mut sink = 0usize;
    for _ in 0..calls {
        let t = Instant::now();
        let p = std::hint::black_box(native_enrich(std::hint::black_box(&input)));
        native.push(t.elapsed());
        sink += p.title.map_or(0, |t| t.len());
    }
    assert!(sink > 0);
    let native_median = median(&mut native);
    println!(
        "native: the same parsing as a Rust function: median {}",
        us(native_median)
    );
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "ratios (medians): server path / direct = {:.2} (goal <= 2), direct / native = {:.0}, direct median {} (goal < 10 µs)",
        ratio(server_median, direct_median),
        ratio(direct_median, native_median),
        us(direct_median),
    );
    drop(host);

    // Infinite loop: time until the call returns, against the deadline.
    for deadline_ms in [200u64, 2000] {
        let _ = std::fs::remove_dir_all(&plugins);
        std::fs::create_dir_all(&plugins)?;
        install(&plugins, "hostile-enricher", "looper", "")?;
        let toml = plugins.join("looper/plugin.toml");
        std::fs::write(
            &toml,
            std::fs::read_to_string(&toml)?.replace("mode = \"ok\"", "mode = \"loop\""),
        )?;
        cfg.limits.enricher_deadline = Duration::from_millis(deadline_ms);
        cfg.limits.fault_threshold = u32::MAX;
        let host = PluginHost::new(cfg.clone())?;
        let runs = if deadline_ms >= 1000 { 3 } else { 10 };
        let mut over = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let out = host.enrich_blocking(&input);
            let took = t.elapsed();
            assert!(
                out.errors
                    .first()
                    .is_some_and(|e| e.message.contains("timed out")),
                "{out:?}"
            );
            over.push(took.saturating_sub(Duration::from_millis(deadline_ms)));
        }
        over.sort();
        println!(
            "infinite loop, deadline {deadline_ms} ms, {runs} runs: stopped after deadline + {:.1} ms (median), + {:.1} ms (max)",
            percentile(&over, 0.5).as_secs_f64() * 1e3,
            over[over.len() - 1].as_secs_f64() * 1e3,
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
