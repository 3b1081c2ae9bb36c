//! The CLI end of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use base64::Engine;

use super::{Answer, Request};

/// What became of a request sent to the running server.
pub enum Sent {
    /// The server answered and the CLI printed it.
    Done,
    /// No server listens on this data dir: the CLI may open the database itself.
    NoServer,
}

/// Sends `request` and prints the server's lines as they come.
pub fn send(path: &Path, request: &Request) -> anyhow::Result<Sent> {
    send_to(path, request, None)
}

/// Like [`send`]; the archive chunks of a backup go to `sink`.
pub fn send_to(
    path: &Path,
    request: &Request,
    mut sink: Option<&mut dyn Write>,
) -> anyhow::Result<Sent> {
    let mut stream = match UnixStream::connect(path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(Sent::NoServer);
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => anyhow::bail!(
            "the server runs, but this user may not use its control socket {} (run as root or as a member of the server's group)",
            path.display()
        ),
        Err(e) => anyhow::bail!("cannot reach the server at {}: {e}", path.display()),
    };
    let mut text = serde_json::to_string(request)?;
    text.push('\n');
    stream.write_all(text.as_bytes())?;
    for line in BufReader::new(stream).lines() {
        let line = line.map_err(|e| anyhow::anyhow!("the server stopped answering: {e}"))?;
        match serde_json::from_str::<Answer>(&line) {
            Ok(Answer::Line(text)) => println!("{text}"),
            Ok(Answer::Chunk(data)) => {
                let sink = sink
                    .as_mut()
                    .ok_or_else(|| anyhow::anyhow!("the server sent data nobody asked for"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| anyhow::anyhow!("the server sent damaged data: {e}"))?;
                sink.write_all(&bytes)?;
            }
            Ok(Answer::Done(_)) => return Ok(Sent::Done),
            Ok(Answer::Error(message)) => anyhow::bail!("{message}"),
            Err(e) => {
                anyhow::bail!("the server answered something this CLI does not understand: {e}")
            }
        }
    }
    anyhow::bail!("the server closed the control socket before it finished (did it stop?)")
}
