//! Misbehaving enricher for the host's tests; `mode` (config) picks the misbehaviour.

wit_bindgen::generate!({
    path: "../../../wit/chillfi-plugin@0.1.0",
    world: "enricher",
});

use chillfi::plugin::{host, kv};
use exports::chillfi::plugin::enrich::{EnrichInput, Guest, MetadataPatch};
use std::hint::black_box;

fn empty() -> MetadataPatch {
    MetadataPatch {
        title: None,
        artist: None,
        album: None,
        album_artist: None,
        track: None,
        track_total: None,
        disc: None,
        year: None,
        genre: None,
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64, pad: [u64; 8]) -> u64 {
    let mut p = black_box(pad);
    p[(n % 8) as usize] = n;
    black_box(recurse(n + 1, p)).wrapping_add(p[0])
}

fn kv_err(e: kv::KvError) -> String {
    match e {
        kv::KvError::Denied => "denied".into(),
        kv::KvError::QuotaExceeded => "quota-exceeded".into(),
        kv::KvError::InvalidKey => "invalid-key".into(),
        kv::KvError::Io(m) => format!("io:{m}"),
    }
}

struct Hostile;

impl Guest for Hostile {
    fn enrich(input: EnrichInput) -> Result<MetadataPatch, String> {
        let mode = host::get_config("mode").unwrap_or_default();
        let mut patch = empty();
        match mode.as_str() {
            "ok" => patch.title = Some(format!("ok:{}", input.file_name)),
            "error" => return Err("refusing on purpose".into()),
            "loop" => loop {
                black_box(());
            },
            "bomb" => {
                let mut v: Vec<Vec<u8>> = Vec::new();
                loop {
                    v.push(black_box(vec![7u8; 1 << 20]));
                }
            }
            "recurse" => patch.track = Some(black_box(recurse(0, [0; 8])) as u32),
            "trap" => panic!("trap on purpose"),
            "oversized" => patch.title = Some("x".repeat(4 << 20)),
            "invalid" => {
                patch.year = Some(3000);
                patch.track = Some(0);
            }
            "kv" => {
                let n: usize = host::get_config("kv-bytes")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(16);
                let key = format!("k-{}", input.file_name);
                let set = match kv::set(&key, &vec![1u8; n]) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => kv_err(e),
                };
                let get = match kv::get(&key) {
                    Ok(Some(v)) => v.len().to_string(),
                    Ok(None) => "none".into(),
                    Err(e) => kv_err(e),
                };
                patch.title = Some(format!("set:{set} get:{get}"));
                if input.file_name == "delete" {
                    let del = match kv::delete(&key) {
                        Ok(()) => "ok".to_string(),
                        Err(e) => kv_err(e),
                    };
                    patch.album = Some(format!("delete:{del}"));
                }
            }
            other => return Err(format!("unknown mode {other}")),
        }
        Ok(patch)
    }
}

export!(Hostile);
