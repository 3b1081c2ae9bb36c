//! Who is playing what right now (the Subsonic API's `scrobble submission=false` and
//! `getNowPlaying`). Kept in memory only: it is forgotten when the song would have ended.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::db::now_secs;

/// Who is playing what, for `getNowPlaying`: set by `scrobble submission=false`, forgotten
/// when the song would have ended (plus a grace minute).
#[derive(Default)]
pub struct NowPlaying {
    inner: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone)]
pub struct Entry {
    pub username: String,
    pub song_id: String,
    pub player: String,
    pub since: i64,
    pub until: i64,
}

impl NowPlaying {
    pub fn set(&self, user_id: &str, entry: Entry) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_secs();
        map.retain(|_, e| e.until > now);
        map.insert(user_id.to_string(), entry);
    }

    pub fn current(&self) -> Vec<Entry> {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_secs();
        map.retain(|_, e| e.until > now);
        let mut all: Vec<Entry> = map.values().cloned().collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.since));
        all
    }

    pub fn forget(&self, user_id: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(user_id);
    }
}
