//! Resized cover art kept in memory (the Subsonic API's `getCoverArt size=`), bounded by bytes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// What the cache holds at most.
pub const COVER_CACHE_BYTES: usize = 32 * 1024 * 1024;

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
}
