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
    if matches!(request, Request::Import { .. }) {
        stop_on_ctrl_c(&stream)?;
    }
    let mut bar = Progress::new();
    for line in BufReader::new(stream).lines() {
        let line = line.map_err(|e| anyhow::anyhow!("the server stopped answering: {e}"))?;
        match serde_json::from_str::<Answer>(&line) {
            Ok(Answer::Line(text)) => bar.line(&text),
            Ok(Answer::Chunk(data)) => {
                let sink = sink
                    .as_mut()
                    .ok_or_else(|| anyhow::anyhow!("the server sent data nobody asked for"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| anyhow::anyhow!("the server sent damaged data: {e}"))?;
                sink.write_all(&bytes)?;
            }
            Ok(Answer::Done(_)) => {
                bar.end();
                return Ok(Sent::Done);
            }
            Ok(Answer::Error(message)) => {
                bar.end();
                anyhow::bail!("{message}")
            }
            Err(e) => {
                anyhow::bail!("the server answered something this CLI does not understand: {e}")
            }
        }
    }
    anyhow::bail!("the server closed the control socket before it finished (did it stop?)")
}

/// Ctrl-C during an import: instead of dying, the CLI closes its sending side, which the server
/// takes as "stop": it cancels the files not finished and still sends the summary, printed here.
fn stop_on_ctrl_c(stream: &UnixStream) -> anyhow::Result<()> {
    let stream = stream.try_clone()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Registered here, before the import starts: from now on SIGINT no longer ends the process.
    let mut interrupt = {
        let _context = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?
    };
    std::thread::spawn(move || {
        if runtime.block_on(interrupt.recv()).is_some() {
            eprintln!("\nstopping the import…");
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
    });
    Ok(())
}

/// On a terminal, the import's per-file lines (`[done/total] file: outcome`) become one progress
/// line (bar, count, failures, current file) redrawn in place; failures and everything else are
/// printed as they come. Elsewhere (a pipe, a log) every line is printed as is.
struct Progress {
    tty: bool,
    drawn: bool,
    failures: usize,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Self {
            tty: std::io::stdout().is_terminal(),
            drawn: false,
            failures: 0,
        }
    }

    fn line(&mut self, text: &str) {
        let parsed = parse_progress(text);
        match parsed {
            Some((done, total, file, outcome)) if self.tty => {
                if outcome == "FAILED" {
                    self.failures += 1;
                    self.clear();
                    println!("{file}: failed");
                }
                const WIDTH: usize = 24;
                let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
                let name: String = file.chars().take(40).collect();
                print!(
                    "\r\x1b[2K[{}{}] {done}/{total}  failures: {}  {name}",
                    "#".repeat(filled),
                    " ".repeat(WIDTH - filled),
                    self.failures
                );
                let _ = std::io::stdout().flush();
                self.drawn = true;
            }
            _ => {
                self.clear();
                println!("{text}");
            }
        }
    }

    fn clear(&mut self) {
        if self.drawn {
            print!("\r\x1b[2K");
            self.drawn = false;
        }
    }

    fn end(&mut self) {
        if self.drawn {
            println!();
            self.drawn = false;
        }
    }
}

/// `[ 12/340] Album/track.flac: added` → (12, 340, "Album/track.flac", "added").
fn parse_progress(text: &str) -> Option<(usize, usize, &str, &str)> {
    let rest = text.strip_prefix('[')?;
    let (count, rest) = rest.split_once("] ")?;
    let (done, total) = count.split_once('/')?;
    let (file, outcome) = rest.rsplit_once(": ")?;
    Some((
        done.trim().parse().ok()?,
        total.trim().parse().ok()?,
        file,
        outcome,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_import_progress_lines() {
        assert_eq!(
            parse_progress("[ 12/340] Album/a: b.flac: added"),
            Some((12, 340, "Album/a: b.flac", "added"))
        );
        assert_eq!(
            parse_progress("2 added, 0 already in the library, 1 failed"),
            None
        );
    }
}
