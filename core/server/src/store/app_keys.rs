//! Per-user app credentials for the Subsonic API, which never accepts the account password:
//! API keys (stored as SHA-256 only) and app passwords (random, stored sealed with
//! ChaCha20-Poly1305 under a key kept in `<data_dir>/subsonic.key`, mode 0600, never in sled:
//! the `t`+`s` scheme needs the clear secret back).
//! Invariants: a credential works only while its record exists and the user's token generation
//! is the one it was made under (password change, admin reset and "sign out everywhere" revoke
//! it); a secret is shown once, at creation.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::store::db::{self, Db, new_id, now_secs};
use crate::store::users::{User, clean_text};

const KEYS: &str = "app_credentials";
/// SHA-256(api key) hex -> credential id.
const KEY_DIGESTS: &str = "app_credential_digests";
pub const MAX_LABEL: usize = 64;
pub const MAX_PER_USER: usize = 100;
/// lastUsedAt is written at most this often per credential.
const TOUCH_EVERY_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    ApiKey,
    AppPassword,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    id: String,
    user_id: String,
    label: String,
    kind: Kind,
    /// The user's token generation at creation.
    generation: u64,
    /// API keys: SHA-256 of the key, hex.
    digest: Option<String>,
    /// App passwords: nonce (12 bytes) + ciphertext, hex.
    sealed: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
}

/// What a user sees of a credential.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub label: String,
    pub kind: Kind,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A new credential, with its secret in clear (the only time it exists so).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub id: String,
    pub label: String,
    pub kind: Kind,
    pub secret: String,
    pub created_at: i64,
}

impl Record {
    fn view(&self) -> KeyView {
        KeyView {
            id: self.id.clone(),
            label: self.label.clone(),
            kind: self.kind,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        }
    }
}

#[derive(Clone)]
pub struct AppKeys {
    keys: sled::Tree,
    digests: sled::Tree,
    cipher: ChaCha20Poly1305,
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random secret of `len` characters from a 62-letter alphabet (about 5.95 bits each).
fn random_secret(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Compares without an early exit on the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AppKeys {
    /// `key_file` is `<data_dir>/subsonic.key`, created (0600) on first use.
    pub fn new(db: &Db, key_file: &Path) -> anyhow::Result<Self> {
        let secret = db::load_or_create_secret(key_file)?;
        let key_bytes: [u8; 32] = secret
            .get(..32)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("{} is too short", key_file.display()))?;
        let key = Key::from(key_bytes);
        Ok(Self {
            keys: db.tree(KEYS)?,
            digests: db.tree(KEY_DIGESTS)?,
            cipher: ChaCha20Poly1305::new(&key),
        })
    }

    fn records(&self) -> impl Iterator<Item = AppResult<Record>> + '_ {
        self.keys.iter().values().map(|v| db::decode(&v?))
    }

    pub fn list(&self, user_id: &str) -> AppResult<Vec<KeyView>> {
        let mut out = Vec::new();
        for record in self.records() {
            let record = record?;
            if record.user_id == user_id {
                out.push(record.view());
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn create(&self, user: &User, label: &str, kind: Kind) -> AppResult<Created> {
        let label = clean_text("label", label, MAX_LABEL)?;
        if label.is_empty() || label.contains('\n') {
            return Err(AppError::invalid_field(
                "label",
                "a label is one line of 1 to 64 characters",
            ));
        }
        if self.list(&user.id)?.len() >= MAX_PER_USER {
            return Err(AppError::Conflict(format!(
                "a user has at most {MAX_PER_USER} app credentials; revoke one first"
            )));
        }
        let id = new_id();
        let (secret, digest_hex, sealed) = match kind {
            // 256 bits as hex, like other tokens of the server.
            Kind::ApiKey => {
                let bytes: [u8; 32] = rand::random();
                let secret = hex::encode(bytes);
                let d = digest(&secret);
                (secret, Some(d), None)
            }
            Kind::AppPassword => {
                let secret = random_secret(24);
                let sealed = self.seal(&id, &secret)?;
                (secret, None, Some(sealed))
            }
        };
        let record = Record {
            id: id.clone(),
            user_id: user.id.clone(),
            label: label.clone(),
            kind,
            generation: user.token_generation,
            digest: digest_hex.clone(),
            sealed,
            created_at: now_secs(),
            last_used_at: None,
        };
        db::put(&self.keys, &id, &record)?;
        if let Some(d) = digest_hex {
            self.digests.insert(d.as_bytes(), id.as_bytes())?;
        }
        Ok(Created {
            id,
            label,
            kind,
            secret,
            created_at: record.created_at,
        })
    }

    /// The nonce is random per seal; the record id is bound as associated data, so a sealed
    /// secret copied to another record does not open.
    fn seal(&self, id: &str, secret: &str) -> AppResult<String> {
        let nonce_bytes: [u8; 12] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                chacha20poly1305::aead::Payload {
                    msg: secret.as_bytes(),
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| AppError::internal("sealing an app password"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(hex::encode(out))
    }

    fn open(&self, record: &Record) -> Option<String> {
        let bytes = hex::decode(record.sealed.as_deref()?).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                chacha20poly1305::aead::Payload {
                    msg: ciphertext,
                    aad: record.id.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }

    /// Revokes one of the user's credentials (an administrator may revoke anyone's).
    pub fn revoke(&self, actor: &User, id: &str) -> AppResult<KeyView> {
        let record: Record = db::get(&self.keys, id)?.ok_or(AppError::NotFound("key"))?;
        if record.user_id != actor.id && !actor.is_admin {
            return Err(AppError::NotFound("key"));
        }
        self.remove(&record)?;
        Ok(record.view())
    }

    fn remove(&self, record: &Record) -> AppResult<()> {
        if let Some(d) = &record.digest {
            self.digests.remove(d.as_bytes())?;
        }
        self.keys.remove(record.id.as_bytes())?;
        Ok(())
    }

    /// Drops every credential of a deleted user.
    pub fn forget_user(&self, user_id: &str) -> AppResult<()> {
        let mine: Vec<Record> = self
            .records()
            .filter_map(|r| r.ok())
            .filter(|r| r.user_id == user_id)
            .collect();
        for record in mine {
            self.remove(&record)?;
        }
        Ok(())
    }

    fn still_valid(record: &Record, user: &User) -> bool {
        record.user_id == user.id && record.generation == user.token_generation
    }

    fn touch(&self, record: &Record) {
        let now = now_secs();
        if record
            .last_used_at
            .is_some_and(|t| now - t < TOUCH_EVERY_SECS)
        {
            return;
        }
        let mut updated = record.clone();
        updated.last_used_at = Some(now);
        // Only if it still exists: a revocation in between must win.
        if let (Ok(old), Ok(new)) = (db::encode(record), db::encode(&updated))
            && let Err(e) = self
                .keys
                .compare_and_swap(record.id.as_bytes(), Some(old), Some(new))
        {
            tracing::warn!("recording a credential's use: {e}");
        }
    }

    /// The user an API key belongs to; `lookup_user` reads the account as stored now.
    pub fn by_api_key(
        &self,
        key: &str,
        lookup_user: impl Fn(&str) -> AppResult<Option<User>>,
    ) -> AppResult<Option<User>> {
        let Some(id) = self.digests.get(digest(key).as_bytes())? else {
            return Ok(None);
        };
        let Some(record) = db::get::<Record>(&self.keys, &id)? else {
            return Ok(None);
        };
        let Some(user) = lookup_user(&record.user_id)? else {
            return Ok(None);
        };
        if record.kind != Kind::ApiKey || !Self::still_valid(&record, &user) {
            return Ok(None);
        }
        self.touch(&record);
        Ok(Some(user))
    }

    /// Does `check(secret)` hold for one of the user's app passwords? (`p` compares the secret,
    /// `t`+`s` compares md5(secret + salt).)
    pub fn app_password_matches(
        &self,
        user: &User,
        check: impl Fn(&str) -> bool,
    ) -> AppResult<bool> {
        for record in self.records() {
            let record = record?;
            if record.kind != Kind::AppPassword || !Self::still_valid(&record, user) {
                continue;
            }
            if let Some(secret) = self.open(&record)
                && check(&secret)
            {
                self.touch(&record);
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// `t` for the token scheme: md5(secret + salt), lowercase hex.
pub fn subsonic_token(secret: &str, salt: &str) -> String {
    format!("{:x}", md5::compute(format!("{secret}{salt}").as_bytes()))
}

/// Constant-time comparison of two texts.
pub fn same_text(a: &str, b: &str) -> bool {
    same(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::users::Users;

    fn setup() -> (tempfile::TempDir, AppKeys, Users) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let keys = AppKeys::new(&db, &dir.path().join("subsonic.key")).unwrap();
        (dir, keys, Users::new(&db).unwrap())
    }

    fn raw_db_bytes(dir: &Path) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir.join("db")).unwrap().flatten() {
            if entry.path().is_file() {
                all.extend(std::fs::read(entry.path()).unwrap());
            }
        }
        all
    }

    fn contains(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn api_keys_work_until_revoked_and_are_stored_hashed() {
        let (dir, keys, users) = setup();
        let ann = users.create("ann", None, false).unwrap();
        let created = keys.create(&ann, "Phone", Kind::ApiKey).unwrap();
        assert_eq!(created.secret.len(), 64);
        let found = keys
            .by_api_key(&created.secret, |id| users.get(id))
            .unwrap();
        assert_eq!(found.map(|u| u.id), Some(ann.id.clone()));
        assert!(
            keys.by_api_key("nope", |id| users.get(id))
                .unwrap()
                .is_none()
        );
        let listed = keys.list(&ann.id).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some(), "use is recorded");
        keys.keys.flush().unwrap();
        assert!(!contains(&raw_db_bytes(dir.path()), &created.secret));
        keys.revoke(&ann, &created.id).unwrap();
        assert!(
            keys.by_api_key(&created.secret, |id| users.get(id))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn app_passwords_are_sealed_and_answer_both_schemes() {
        let (dir, keys, users) = setup();
        let ann = users.create("ann", None, false).unwrap();
        let created = keys.create(&ann, "DSub", Kind::AppPassword).unwrap();
        assert!(created.secret.len() >= 20);
        let secret = created.secret.clone();
        assert!(
            keys.app_password_matches(&ann, |s| same_text(s, &secret))
                .unwrap()
        );
        let t = subsonic_token(&secret, "c19b2d");
        assert!(
            keys.app_password_matches(&ann, |s| same_text(&subsonic_token(s, "c19b2d"), &t))
                .unwrap()
        );
        assert!(
            !keys
                .app_password_matches(&ann, |s| same_text(s, "wrong"))
                .unwrap()
        );
        keys.keys.flush().unwrap();
        assert!(
            !contains(&raw_db_bytes(dir.path()), &secret),
            "never in sled in clear"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("subsonic.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_password_change_or_another_user_cannot_use_a_credential() {
        let (_d, keys, users) = setup();
        let ann = users.create("ann", None, false).unwrap();
        let bob = users.create("bob", None, false).unwrap();
        let key = keys.create(&ann, "k", Kind::ApiKey).unwrap();
        let pw = keys.create(&ann, "p", Kind::AppPassword).unwrap();
        assert!(!keys.app_password_matches(&bob, |s| s == pw.secret).unwrap());
        assert!(keys.revoke(&bob, &key.id).is_err(), "not bob's to revoke");
        users.set_password(&ann.id, "hash".into()).unwrap();
        let ann_now = users.get(&ann.id).unwrap().unwrap();
        assert!(
            keys.by_api_key(&key.secret, |id| users.get(id))
                .unwrap()
                .is_none()
        );
        assert!(
            !keys
                .app_password_matches(&ann_now, |s| s == pw.secret)
                .unwrap()
        );
    }

    #[test]
    fn labels_are_checked() {
        let (_d, keys, users) = setup();
        let ann = users.create("ann", None, false).unwrap();
        assert!(keys.create(&ann, "", Kind::ApiKey).is_err());
        assert!(keys.create(&ann, &"x".repeat(65), Kind::ApiKey).is_err());
    }

    #[test]
    fn the_token_is_md5_of_secret_and_salt() {
        // The example from the Subsonic API documentation.
        assert_eq!(
            subsonic_token("sesame", "c19b2d"),
            "26719a1196d2a940705a59634eb18eab"
        );
    }
}
