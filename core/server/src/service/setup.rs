//! First run: while no account exists, a one-time setup code lets whoever can read the data
//! directory create the first administrator from the browser. The code lives only in the file
//! `<data_dir>/setup-code` (0600) and as a hash in memory: never in sled or a log.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::service::auth::{Auth, IssuedToken, hash_password};
use crate::store::users::{User, Users};

/// The throttle key for setup attempts, shared by every client: the code is guessed, not a name.
const THROTTLE_KEY: &str = "\u{0}setup";

pub struct FirstRun {
    file: PathBuf,
    /// SHA-256 of the normalised code; `None` once used or when accounts existed at start.
    code: Mutex<Option<[u8; 32]>>,
}

impl FirstRun {
    /// At start: with no accounts, a fresh code written to `file`; with accounts, setup closed
    /// and a code left by an earlier run removed.
    pub fn start(file: PathBuf, users: &Users) -> std::io::Result<Self> {
        if !users.is_empty() {
            remove(&file);
            return Ok(Self::closed(file));
        }
        let bytes: [u8; 16] = rand::random();
        let code = format_code(&hex::encode(bytes));
        write_private(&file, &format!("{code}\n"))?;
        Ok(Self {
            code: Mutex::new(Some(digest(&code))),
            file,
        })
    }

    pub fn closed(file: PathBuf) -> Self {
        Self {
            file,
            code: Mutex::new(None),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Setup is open: a code is waiting and still no account exists (the CLI may have made one).
    pub fn is_open(&self, users: &Users) -> bool {
        self.code.lock().is_ok_and(|c| c.is_some()) && users.is_empty()
    }

    /// Creates the first administrator if `code` is the setup code; the code then works no more.
    pub async fn complete(
        &self,
        auth: &Arc<Auth>,
        users: &Users,
        code: &str,
        username: &str,
        password: String,
        ip: Option<IpAddr>,
    ) -> AppResult<(User, IssuedToken)> {
        if !self.is_open(users) {
            return Err(AppError::Forbidden(
                "this server is already set up: sign in instead".into(),
            ));
        }
        auth.throttle_check(Some(THROTTLE_KEY), ip)?;
        let expected = *self.code.lock().map_err(AppError::internal)?;
        if expected != Some(digest(code)) {
            auth.throttle_failure(Some(THROTTLE_KEY), ip);
            return Err(AppError::invalid_field(
                "code",
                format!(
                    "that is not the setup code; it is in {} on the server",
                    self.file.display()
                ),
            ));
        }
        auth.check_password_rules("password", &password)?;
        let hash = hash_password(password).await?;
        // Taken before the account is made so that two right answers at once make one admin.
        let taken = self.code.lock().map_err(AppError::internal)?.take();
        if taken.is_none() || !users.is_empty() {
            return Err(AppError::Forbidden(
                "this server is already set up: sign in instead".into(),
            ));
        }
        let user = match users.create(username, Some(hash), true) {
            Ok(user) => user,
            Err(e) => {
                // A bad username: the code stays valid for the next try.
                if let Ok(mut code) = self.code.lock() {
                    *code = taken;
                }
                return Err(e);
            }
        };
        remove(&self.file);
        auth.throttle_success(THROTTLE_KEY);
        tracing::info!(username = %user.username, "first administrator created by setup");
        let token = auth.issue(&user)?;
        Ok((user, token))
    }
}

/// Groups of four for reading aloud and typing; any case, spaces and dashes are accepted back.
fn format_code(hex: &str) -> String {
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn digest(code: &str) -> [u8; 32] {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normalised.as_bytes()).into()
}

fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    remove(file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

fn remove(file: &Path) {
    if let Err(e) = std::fs::remove_file(file)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %file.display(), "could not remove the setup code: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_back_however_they_are_typed() {
        let code = format_code("0123456789abcdef0123456789abcdef");
        assert_eq!(code, "0123-4567-89ab-cdef-0123-4567-89ab-cdef");
        assert_eq!(
            digest(&code),
            digest(" 0123456789ABCDEF 0123456789abcdef\n")
        );
        assert_ne!(
            digest(&code),
            digest("0123-4567-89ab-cdef-0123-4567-89ab-cdee")
        );
    }
}
