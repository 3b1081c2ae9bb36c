//! Stores: persistence and the invariants of what is stored. No store knows a transport, a
//! service or the bus; each is a cheap handle over its sled trees.

pub mod app_keys;
pub mod db;
pub mod favourites;
pub mod jobs;
pub mod now_playing;
pub mod player;
pub mod playlists;
pub mod shares;
pub mod songs;
pub mod uploads;
pub mod users;
