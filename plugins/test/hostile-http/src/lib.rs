//! The input's relative path says what to do:
//! - `get <url>`: one GET following redirects; the patch's title is "<status> <bytes>".
//! - `loop <n> <url>`: n GETs in a row; the title is "<n> sent".
//! Errors come back as the plugin's error string.

use chillfi_plugin_sdk::{EnrichInput, Enricher, MetadataPatch, http};

struct Hostile;

impl Enricher for Hostile {
    fn enrich(input: EnrichInput) -> Result<MetadataPatch, String> {
        let words: Vec<&str> = input.relative_path.split(' ').collect();
        let mut patch = MetadataPatch::default();
        match words.as_slice() {
            ["get", url] => {
                let r = http::get(url, &[]).map_err(|e| e.to_string())?;
                patch.title = Some(format!("{} {}", r.status, r.body.len()));
            }
            ["loop", n, url] => {
                let n: u32 = n.parse().map_err(|_| "bad count")?;
                for i in 0..n {
                    http::get_once(url, &[]).map_err(|e| format!("request {i}: {e}"))?;
                }
                patch.title = Some(format!("{n} sent"));
            }
            _ => return Err(format!("unknown command {:?}", input.relative_path)),
        }
        Ok(patch)
    }
}

chillfi_plugin_sdk::export_enricher!(Hostile);
