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

/// State a plugin might try to carry from one call to the next.
static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Scans the whole linear memory for `SECRET<name>` markers left by earlier calls (any
/// name but `own`). The needle is built at run time so the only copies in memory are the
/// needle buffer itself and markers written by calls.
fn needle() -> Vec<u8> {
    b"<TERCES".iter().rev().copied().collect()
}

fn scan_for_secrets(own: &str) -> Vec<String> {
    let needle = needle();
    let end = core::arch::wasm32::memory_size(0) * 65536;
    let mut found = Vec::new();
    let mut addr = 1usize; // skip the null page's first byte
    while addr + needle.len() < end {
        if addr == needle.as_ptr() as usize {
            addr += needle.len();
            continue;
        }
        // SAFETY: every address below memory_size * 64 KiB is valid linear memory in wasm32.
        let matches = needle
            .iter()
            .enumerate()
            .all(|(i, b)| unsafe { core::ptr::read_volatile((addr + i) as *const u8) == *b });
        if matches {
            let mut name = Vec::new();
            let mut at = addr + needle.len();
            while at < end && name.len() < 64 {
                let c = unsafe { core::ptr::read_volatile(at as *const u8) };
                if c == b'>' {
                    break;
                }
                name.push(c);
                at += 1;
            }
            let name = String::from_utf8_lossy(&name).into_owned();
            if name != own && !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
        }
        addr += 1;
    }
    found
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
            "remember" => {
                // Leave the input behind in a static, on the heap and in a leaked buffer,
                // then report anything an earlier call left.
                let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
                let before = seen.join(",");
                seen.push(input.file_name.clone());
                let mut marker = needle();
                marker.extend_from_slice(input.file_name.as_bytes());
                marker.push(b'>');
                Box::leak(marker.into_boxed_slice());
                let leaked = scan_for_secrets(&input.file_name).join(",");
                patch.title = Some(format!("statics:[{before}] memory:[{leaked}]"));
            }
            other => return Err(format!("unknown mode {other}")),
        }
        Ok(patch)
    }
}

export!(Hostile);
