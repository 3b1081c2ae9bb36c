//! The control socket: how `chillfi user …`, `import` and `plugin list` reach a running server.
//!
//! A Unix socket at `<data_dir>/control.sock`, mode 0660, so the service user and its group
//! (the package adds admins to group `chillfi`) can connect; the server also checks the peer's
//! credentials (root, its own uid, or its gid). One JSON request per connection, then answer
//! lines: `{"line": …}` to print, ending with `{"done": true}` or `{"error": …}`.

pub mod client;
pub mod server;

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;

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
    Backup {
        with_blobs: bool,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Answer {
    Line(String),
    /// A piece of a backup archive, base64.
    Chunk(String),
    Done(bool),
    Error(String),
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

pub fn write_answer(out: &mut impl Write, answer: &Answer) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, answer)?;
    out.write_all(b"\n")
}

/// Cuts what is written into `Chunk` answers of 192 KiB.
pub struct ChunkWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

const CHUNK: usize = 192 * 1024;

impl<W: Write> ChunkWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = base64::engine::general_purpose::STANDARD.encode(&self.buf);
        self.buf.clear();
        write_answer(&mut self.out, &Answer::Chunk(text))
    }
}

impl<W: Write> Write for ChunkWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()?;
        self.out.flush()
    }
}
