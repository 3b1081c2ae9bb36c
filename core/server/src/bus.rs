//! The one seam where live changes leave the core. Services publish typed events here; the
//! transports subscribe (socket/pushes.rs turns them into Socket.IO pushes) and so can metrics
//! or, later, a multi-node adapter. Nothing below the transports knows a room or an event name.
//!
//! Subscribers run in the publisher's thread, in publish order, and must not block: a push is a
//! queue operation, not I/O. That keeps pushes in commit order and never loses one.

use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::store::favourites::{ItemKind, Marks};
use crate::store::player::Queue;
use crate::store::playlists::{Member, Playlist, PlaylistView};
use crate::store::songs::SongView;

/// A change someone may want to hear of.
#[derive(Debug, Clone)]
pub enum Event {
    /// A song was committed; `version` is the library version of that commit.
    SongAdded {
        song: SongView,
        version: u64,
    },
    SongUpdated {
        song: SongView,
        version: u64,
    },
    SongDeleted {
        song_id: String,
        version: u64,
    },
    /// A playlist was created or changed; `before` is the state before the change (the same as
    /// `after` for a new one), so a playlist that stopped being public can be withdrawn.
    PlaylistChanged {
        before: Box<Playlist>,
        after: Box<Playlist>,
        view: Box<PlaylistView>,
    },
    PlaylistDeleted {
        playlist: Box<Playlist>,
    },
    /// `with` (user ids, never the owner) were just given access to the playlist by `by`.
    PlaylistShared {
        view: Box<PlaylistView>,
        by: Member,
        with: Vec<String>,
    },
    /// An upload's progress (the `song:uploadProgress` payload) for its owner.
    UploadProgress {
        user_id: String,
        progress: Value,
    },
    /// An uploaded file's outcome (the `song:uploadResult` payload) for its owner.
    UploadResult {
        user_id: String,
        result: Value,
    },
    /// A user starred, unstarred or rated an item (from any client): for that user's sockets.
    Marked {
        user_id: String,
        kind: ItemKind,
        id: String,
        marks: Marks,
    },
    /// A user's queue changed; `origin` names the connection that changed it (it knows already).
    QueueUpdated {
        user_id: String,
        queue: Box<Queue>,
        origin: Option<String>,
    },
}

type Subscriber = Arc<dyn Fn(&Event) + Send + Sync>;

/// The in-process event bus. Cloning shares it.
#[derive(Clone, Default)]
pub struct Bus {
    subscribers: Arc<RwLock<Vec<Subscriber>>>,
}

impl Bus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f` with every event published from now on.
    pub fn subscribe(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.subscribers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(f));
    }

    pub fn publish(&self, event: Event) {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for subscriber in subscribers {
            subscriber(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_subscriber_hears_every_event_in_publish_order() {
        let bus = Bus::new();
        let heard = Arc::new(Mutex::new(Vec::new()));
        for n in 0..2 {
            let heard = heard.clone();
            bus.subscribe(move |e| {
                if let Event::SongDeleted { version, .. } = e {
                    heard.lock().unwrap().push((n, *version));
                }
            });
        }
        for version in 1..=3 {
            bus.publish(Event::SongDeleted {
                song_id: "s".into(),
                version,
            });
        }
        let heard = heard.lock().unwrap().clone();
        assert_eq!(heard, vec![(0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3)]);
    }
}
