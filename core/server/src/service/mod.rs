//! Services: the rules (who may do what, validation, URLs, ingest, variants, sharing). They take
//! the stores and the plugin host they need, publish live changes on the bus, and never import a
//! transport (socket/, http/, subsonic/).

pub mod admin;
pub mod auth;
pub mod backup;
pub mod covers;
pub mod ingest;
pub mod library;
pub mod lyrics;
pub mod marks;
pub mod playlists;
pub mod plugin_files;
pub mod setup;
pub mod sharing;
pub mod stream_urls;
pub mod variants;
