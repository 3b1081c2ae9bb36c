//! The control socket: how `chillfi user …`, `import` and `plugin list` reach a running server.
//!
//! A Unix socket at `<data_dir>/control.sock`, mode 0660, so the service user and its group
//! (the package adds admins to group `chillfi`) can connect; the server also checks the peer's
//! credentials (root, its own uid, or its gid). One JSON request per connection, then answer
//! lines: `{"line": …}` to print, ending with `{"done": true}` or `{"error": …}`.

pub mod client;
pub mod server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "camelCase")]
pub enum Request {
    UserAdd {
        name: String,
        admin: bool,
        /// Read from the owner's file by the CLI; travels only over the local socket.
        password: Option<String>,
    },
    UserReset {
        name: String,
    },
    UserList,
    KeyCreate {
        name: String,
        label: String,
        app_password: bool,
    },
    KeyList {
        name: String,
    },
    KeyRevoke {
        name: String,
        id: String,
    },
    PluginList,
    Import {
        dir: PathBuf,
        owner: Option<String>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Answer {
    Line(String),
    Done(bool),
    Error(String),
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}
