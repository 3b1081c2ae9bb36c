//! Per-user listening state: the play queue shared by all of a user's sessions, and the
//! listening history behind "recently played" and the stats.
//! Invariant: a queue's `current` is always an index into its `song_ids` (or none).

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::store::db::{self, Db, now_secs};

const QUEUES: &str = "player_queues";
/// `<userId>\0<millis BE><random>` -> Listen
const LISTENS: &str = "listens";
pub const MAX_QUEUE: usize = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub song_ids: Vec<String>,
    pub current: Option<usize>,
    pub position_ms: u64,
    pub playing: bool,
    pub updated_at: i64,
}

fn bad_index(field: &str, index: usize, len: usize) -> AppError {
    AppError::invalid_field(
        field,
        format!("index {index} is outside the queue (0..{len})"),
    )
}

impl Queue {
    pub fn add(&mut self, ids: Vec<String>, position: Option<usize>) -> AppResult<()> {
        if self.song_ids.len() + ids.len() > MAX_QUEUE {
            return Err(AppError::TooLarge(format!(
                "a queue holds at most {MAX_QUEUE} songs"
            )));
        }
        let at = position.unwrap_or(self.song_ids.len());
        if at > self.song_ids.len() {
            return Err(bad_index("position", at, self.song_ids.len() + 1));
        }
        if let Some(cur) = self.current
            && cur >= at
        {
            self.current = Some(cur + ids.len());
        }
        self.song_ids.splice(at..at, ids);
        Ok(())
    }

    pub fn remove(&mut self, mut indexes: Vec<usize>) -> AppResult<()> {
        let len = self.song_ids.len();
        if let Some(&bad) = indexes.iter().find(|&&i| i >= len) {
            return Err(bad_index("indexes", bad, len));
        }
        indexes.sort_unstable();
        indexes.dedup();
        let current = self.current;
        for &i in indexes.iter().rev() {
            self.song_ids.remove(i);
        }
        self.current = current.and_then(|cur| {
            let before = indexes.iter().filter(|&&i| i < cur).count();
            let new = cur - before;
            if indexes.binary_search(&cur).is_ok() {
                // The playing song went: the next one (if any) takes its place, from its start.
                self.position_ms = 0;
                (new < self.song_ids.len()).then_some(new)
            } else {
                Some(new)
            }
        });
        Ok(())
    }

    pub fn move_item(&mut self, from: usize, to: usize) -> AppResult<()> {
        let len = self.song_ids.len();
        if from >= len {
            return Err(bad_index("from", from, len));
        }
        if to >= len {
            return Err(bad_index("to", to, len));
        }
        let id = self.song_ids.remove(from);
        self.song_ids.insert(to, id);
        self.current = self.current.map(|cur| match cur {
            c if c == from => to,
            c if from < c && c <= to => c - 1,
            c if to <= c && c < from => c + 1,
            c => c,
        });
        Ok(())
    }

    pub fn clear(&mut self) {
        *self = Queue::default();
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listen {
    pub song_id: String,
    pub played_at: i64,
    pub played_ms: u64,
}

#[derive(Clone)]
pub struct Player {
    queues: sled::Tree,
    listens: sled::Tree,
    /// Queue edits are read-modify-write; one at a time keeps two sessions from losing one.
    queue_lock: Arc<Mutex<()>>,
}

fn listen_prefix(user_id: &str) -> Vec<u8> {
    let mut key = user_id.as_bytes().to_vec();
    key.push(0);
    key
}

impl Player {
    pub fn new(db: &Db) -> AppResult<Self> {
        Ok(Self {
            queues: db.tree(QUEUES)?,
            listens: db.tree(LISTENS)?,
            queue_lock: Arc::new(Mutex::new(())),
        })
    }

    pub fn queue(&self, user_id: &str) -> AppResult<Queue> {
        Ok(db::get(&self.queues, user_id)?.unwrap_or_default())
    }

    /// Applies `edit` to the user's queue and stores it; an error leaves the queue as it was.
    pub fn edit_queue(
        &self,
        user_id: &str,
        edit: impl FnOnce(&mut Queue) -> AppResult<()>,
    ) -> AppResult<Queue> {
        let _guard = self.queue_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut queue = self.queue(user_id)?;
        edit(&mut queue)?;
        queue.updated_at = now_secs();
        db::put(&self.queues, user_id, &queue)?;
        Ok(queue)
    }

    pub fn record_listen(&self, user_id: &str, song_id: &str, played_ms: u64) -> AppResult<()> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut key = listen_prefix(user_id);
        key.extend_from_slice(&millis.to_be_bytes());
        key.extend_from_slice(&rand::random::<u32>().to_be_bytes());
        let listen = Listen {
            song_id: song_id.to_string(),
            played_at: now_secs(),
            played_ms,
        };
        self.listens.insert(key, db::encode(&listen)?)?;
        Ok(())
    }

    /// The user's listens, newest first.
    pub fn listens(&self, user_id: &str) -> impl Iterator<Item = AppResult<Listen>> + '_ {
        self.listens
            .scan_prefix(listen_prefix(user_id))
            .rev()
            .map(|item| db::decode(&item?.1))
    }

    pub fn forget_user(&self, user_id: &str) -> AppResult<()> {
        self.queues.remove(user_id)?;
        for item in self.listens.scan_prefix(listen_prefix(user_id)).keys() {
            self.listens.remove(item?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(ids: &[&str], current: Option<usize>) -> Queue {
        Queue {
            song_ids: ids.iter().map(|s| s.to_string()).collect(),
            current,
            ..Default::default()
        }
    }

    fn ids(q: &Queue) -> Vec<&str> {
        q.song_ids.iter().map(String::as_str).collect()
    }

    #[test]
    fn the_current_song_stays_current_through_edits() {
        let mut q = queue(&["a", "b", "c"], Some(1));
        q.add(vec!["x".into()], Some(0)).unwrap();
        assert_eq!((ids(&q), q.current), (vec!["x", "a", "b", "c"], Some(2)));
        q.move_item(2, 0).unwrap();
        assert_eq!((ids(&q), q.current), (vec!["b", "x", "a", "c"], Some(0)));
        q.move_item(3, 0).unwrap();
        assert_eq!((ids(&q), q.current), (vec!["c", "b", "x", "a"], Some(1)));
        q.remove(vec![0]).unwrap();
        assert_eq!((ids(&q), q.current), (vec!["b", "x", "a"], Some(0)));
        q.remove(vec![0]).unwrap();
        assert_eq!(
            (ids(&q), q.current),
            (vec!["x", "a"], Some(0)),
            "next takes over"
        );
        q.remove(vec![1, 0]).unwrap();
        assert_eq!(q.current, None);
    }

    #[test]
    fn bad_indexes_name_the_field_and_change_nothing() {
        let mut q = queue(&["a"], None);
        let before = q.clone();
        for (result, field) in [
            (q.clone().remove(vec![0, 5]), "indexes"),
            (q.clone().move_item(0, 1), "to"),
            (q.clone().add(vec!["b".into()], Some(3)), "position"),
        ] {
            assert!(matches!(result, Err(AppError::Invalid { field: Some(f), .. }) if f == field));
        }
        q.add(vec!["b".into()], None).unwrap();
        assert_eq!(ids(&q), ["a", "b"]);
        assert_ne!(q, before);
    }

    #[test]
    fn listens_come_back_newest_first_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let player = Player::new(&Db::open(dir.path()).unwrap()).unwrap();
        player.record_listen("u1", "s1", 1000).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        player.record_listen("u1", "s2", 2000).unwrap();
        player.record_listen("u10", "s3", 3000).unwrap();
        let mine: Vec<_> = player.listens("u1").map(|l| l.unwrap().song_id).collect();
        assert_eq!(mine, ["s2", "s1"]);
        let err = player.edit_queue("u1", |q| q.move_item(0, 0));
        assert!(err.is_err());
        assert_eq!(player.queue("u1").unwrap(), Queue::default());
    }
}
