//! Resized cover art (the Subsonic API's `getCoverArt size=`): stored as
//! `art-sized/<hash>-<size>.jpg` beside the original `art/<hash>.<ext>` and deleted with it, and
//! kept in memory, bounded by bytes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// What the cache holds at most.
pub const COVER_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The blob key of the cover with content hash `hash` resized to `size` pixels.
pub fn sized_key(hash: &str, size: u32) -> String {
    format!("{}{size}.jpg", sized_prefix(hash))
}

/// What every resized copy of the cover `hash` starts with.
pub fn sized_prefix(hash: &str) -> String {
    format!("art-sized/{hash}-")
}

/// The content hash in a cover's key or name (`art/<hash>.<ext>` or `<hash>.<ext>`).
pub fn cover_hash(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.split('.').next().unwrap_or(name)
}

/// Resized covers by `<art name>@<size>`, bounded by total bytes, oldest out first.
#[derive(Default)]
pub struct CoverCache {
    inner: Mutex<(HashMap<String, Bytes>, VecDeque<String>, usize)>,
}

impl CoverCache {
    pub fn get(&self, key: &str) -> Option<Bytes> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.get(key).cloned()
    }

    /// Drops every resized copy of the cover `hash` (its original was deleted).
    pub fn forget(&self, hash: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order, total) = &mut *guard;
        let gone: Vec<String> = map
            .keys()
            .filter(|k| cover_hash(k) == hash)
            .cloned()
            .collect();
        for key in gone {
            if let Some(data) = map.remove(&key) {
                *total -= data.len();
            }
        }
        order.retain(|k| map.contains_key(k));
    }

    pub fn put(&self, key: String, data: Bytes) {
        if data.len() > COVER_CACHE_BYTES / 8 {
            return;
        }
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order, total) = &mut *guard;
        if map.contains_key(&key) {
            return;
        }
        *total += data.len();
        order.push_back(key.clone());
        map.insert(key, data);
        while *total > COVER_CACHE_BYTES {
            let Some(old) = order.pop_front() else { break };
            if let Some(gone) = map.remove(&old) {
                *total -= gone.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cover_cache_is_bounded() {
        let cache = CoverCache::default();
        let chunk = Bytes::from(vec![0u8; COVER_CACHE_BYTES / 10]);
        for i in 0..20 {
            cache.put(format!("k{i}"), chunk.clone());
        }
        assert!(cache.get("k0").is_none(), "oldest evicted");
        assert!(cache.get("k19").is_some());
        let total = cache.inner.lock().unwrap().2;
        assert!(total <= COVER_CACHE_BYTES);
    }

    #[test]
    fn forgetting_a_cover_drops_all_its_sizes_only() {
        let cache = CoverCache::default();
        cache.put("abc.jpg@300".into(), Bytes::from_static(b"x"));
        cache.put("abc.jpg@64".into(), Bytes::from_static(b"yy"));
        cache.put("def.png@300".into(), Bytes::from_static(b"zzz"));
        cache.forget("abc");
        assert!(cache.get("abc.jpg@300").is_none() && cache.get("abc.jpg@64").is_none());
        assert!(cache.get("def.png@300").is_some());
        assert_eq!(cache.inner.lock().unwrap().2, 3);
        assert_eq!(sized_key("abc", 300), "art-sized/abc-300.jpg");
        assert_eq!(cover_hash("art/abc.jpg"), "abc");
    }
}
