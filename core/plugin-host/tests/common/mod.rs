//! Shared helpers: the real plugins built by plugins/build.sh, installed into temp folders.
#![allow(dead_code)]

use chillfi_plugin_host::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where build.sh puts the installable plugins and the test-only ones.
pub fn built(name: &str) -> PathBuf {
    let dist = repo_root().join("plugins/dist").join(name);
    let dir = if dist.exists() {
        dist
    } else {
        repo_root().join("plugins/target/test-plugins").join(name)
    };
    let wasm = dir.join(format!("{name}.wasm"));
    assert!(
        wasm.is_file(),
        "{} is missing: run plugins/build.sh first (the host tests use the real built plugins)",
        wasm.display()
    );
    dir
}

pub struct TestHost {
    pub tmp: tempfile::TempDir,
    pub cfg: HostConfig,
}

impl TestHost {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cfg = HostConfig::new(tmp.path().join("plugins"), tmp.path().join("state"));
        cfg.limits = limits;
        std::fs::create_dir_all(&cfg.plugins_dir).expect("mkdir");
        TestHost { tmp, cfg }
    }

    pub fn plugins_dir(&self) -> &Path {
        &self.cfg.plugins_dir
    }

    /// Installs a built plugin as it is.
    pub fn install(&self, name: &str) -> &Self {
        let src = built(name);
        let dst = self.plugins_dir().join(name);
        std::fs::create_dir_all(&dst).expect("mkdir");
        for f in ["plugin.toml".to_string(), format!("{name}.wasm")] {
            std::fs::copy(src.join(&f), dst.join(&f)).expect("copy");
        }
        self
    }

    /// Installs the component of built plugin `from` under `name` with a custom manifest.
    /// `head` goes before `[config]` (e.g. `order = 1`), `config` is the `[config]` body.
    pub fn install_as(
        &self,
        from: &str,
        name: &str,
        kind: &str,
        head: &str,
        config: &str,
    ) -> &Self {
        let src = built(from);
        let dst = self.plugins_dir().join(name);
        std::fs::create_dir_all(&dst).expect("mkdir");
        std::fs::copy(
            src.join(format!("{from}.wasm")),
            dst.join(format!("{name}.wasm")),
        )
        .expect("copy");
        // The WIT version the component was built against, from its own manifest.
        let wit = std::fs::read_to_string(src.join("plugin.toml"))
            .expect("manifest")
            .lines()
            .find_map(|l| {
                l.strip_prefix("wit = ")
                    .map(|v| v.trim_matches('"').to_string())
            })
            .expect("wit = in plugin.toml");
        let toml = format!(
            "name = \"{name}\"\nversion = \"0.1.0\"\nkind = \"{kind}\"\nwit = \"{wit}\"\n\
             description = \"test\"\n{head}\n[config]\n{config}\n"
        );
        std::fs::write(dst.join("plugin.toml"), toml).expect("write");
        self
    }

    /// A hostile enricher in `mode`.
    pub fn hostile(&self, name: &str, mode: &str) -> &Self {
        self.install_as(
            "hostile-enricher",
            name,
            "enricher",
            "",
            &format!("mode = \"{mode}\"\nkv-bytes = \"16\""),
        )
    }

    pub fn start(&self) -> PluginHost {
        PluginHost::new(self.cfg.clone()).expect("host starts")
    }
}

pub fn info(host: &PluginHost, name: &str) -> PluginInfo {
    host.get(name)
        .unwrap_or_else(|| panic!("plugin {name} not listed: {:?}", host.list()))
}

pub fn input(relative_path: &str) -> EnrichInput {
    EnrichInput {
        metadata: TrackMetadata::default(),
        file_name: relative_path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        relative_path: relative_path.to_string(),
        uploader: "alice".into(),
        source: IngestSource::Upload,
    }
}

pub fn client(network: NetworkClass, device: DeviceClass, max: Option<u32>) -> ClientInfo {
    ClientInfo {
        user_agent: "test/1.0".into(),
        network,
        device,
        max_bitrate_kbps: max,
    }
}

pub fn flac() -> SourceInfo {
    SourceInfo {
        codec: "flac".into(),
        bitrate_kbps: 900,
        sample_rate: 44_100,
        channels: 2,
        duration_ms: 200_000,
    }
}

pub const NOW: u64 = 1_750_000_000;

pub fn share_req() -> ShareCreateRequest {
    ShareCreateRequest {
        kind: ShareKind::Album,
        item_id: "al_1".into(),
        title: "Discovery".into(),
        requested_expires_at: None,
        requested_max_plays: None,
        now: NOW,
    }
}

pub fn access(plays: u32, max: Option<u32>, expires_at: Option<u64>, now: u64) -> ShareAccessInfo {
    ShareAccessInfo {
        slug: "calm-river-42".into(),
        plays_so_far: plays,
        max_plays: max,
        created_at: NOW,
        expires_at,
        now,
    }
}

pub fn short_limits() -> Limits {
    Limits {
        enricher_deadline: Duration::from_millis(300),
        profile_deadline: Duration::from_millis(300),
        share_deadline: Duration::from_millis(200),
        ..Limits::default()
    }
}
