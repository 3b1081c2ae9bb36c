//! User accounts and one-time reset tokens.
//! Invariants: usernames are unique case-insensitively; a reset token is stored only as its
//! SHA-256 and works once; bumping `token_generation` revokes every JWT of that user.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::store::db::{self, Db, now_secs};

const USERS: &str = "users";
const USERNAMES: &str = "usernames";
const RESET_TOKENS: &str = "reset_tokens";
const REVOKED_TOKENS: &str = "revoked_tokens";

pub const MAX_DISPLAY_NAME: usize = 64;
pub const MAX_BIO: usize = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub is_admin: bool,
    /// argon2id PHC string; `None` until the user sets a password with a reset token.
    pub password_hash: Option<String>,
    pub token_generation: u64,
    pub created_at: i64,
}

/// What clients see of a user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub is_admin: bool,
    pub has_password: bool,
    pub created_at: i64,
}

impl User {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            bio: self.bio.clone(),
            is_admin: self.is_admin,
            has_password: self.password_hash.is_some(),
            created_at: self.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ResetRecord {
    user_id: String,
    expires_at: i64,
}

#[derive(Clone)]
pub struct Users {
    users: sled::Tree,
    names: sled::Tree,
    resets: sled::Tree,
    revoked: sled::Tree,
}

pub fn validate_username(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 32 {
        return Err(AppError::invalid_field(
            "username",
            "a username has 1 to 32 characters",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(AppError::invalid_field(
            "username",
            "a username may contain letters, digits, '.', '_' and '-' only",
        ));
    }
    Ok(name.to_string())
}

/// Trims and checks free text a user types: no control characters, bounded length.
pub fn clean_text(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    let value = value.trim();
    if value.chars().count() > max_chars {
        return Err(AppError::invalid_field(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid_field(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(value.to_string())
}

fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Users {
    pub fn new(db: &Db) -> AppResult<Self> {
        Ok(Self {
            users: db.tree(USERS)?,
            names: db.tree(USERNAMES)?,
            resets: db.tree(RESET_TOKENS)?,
            revoked: db.tree(REVOKED_TOKENS)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn get(&self, id: &str) -> AppResult<Option<User>> {
        db::get(&self.users, id)
    }

    pub fn require(&self, id: &str) -> AppResult<User> {
        self.get(id)?.ok_or(AppError::NotFound("user"))
    }

    pub fn by_name(&self, username: &str) -> AppResult<Option<User>> {
        match self.names.get(username.trim().to_lowercase())? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn list(&self) -> AppResult<Vec<User>> {
        let mut users = self
            .users
            .iter()
            .values()
            .map(|v| db::decode::<User>(&v?))
            .collect::<AppResult<Vec<_>>>()?;
        users.sort_by_key(|u| u.username.to_lowercase());
        Ok(users)
    }

    /// Creates a user. `password_hash` is already argon2id.
    pub fn create(
        &self,
        username: &str,
        password_hash: Option<String>,
        is_admin: bool,
    ) -> AppResult<User> {
        let username = validate_username(username)?;
        let user = User {
            id: db::new_id(),
            display_name: username.clone(),
            username: username.clone(),
            bio: String::new(),
            is_admin,
            password_hash,
            token_generation: 0,
            created_at: now_secs(),
        };
        let key = username.to_lowercase();
        let record = db::encode(&user)?;
        let result = (&self.names, &self.users).transaction(|(names, users)| {
            if names.get(&key)?.is_some() {
                return sled::transaction::abort(AppError::Conflict(format!(
                    "the username '{username}' is taken"
                )));
            }
            names.insert(key.as_bytes(), user.id.as_bytes())?;
            users.insert(user.id.as_bytes(), record.clone())?;
            Ok(())
        });
        result?;
        Ok(user)
    }

    fn update(&self, id: &str, change: impl Fn(&mut User)) -> AppResult<User> {
        let mut updated = None;
        self.users.fetch_and_update(id, |old| {
            let mut user: User = db::decode(old?).ok()?;
            change(&mut user);
            let bytes = db::encode(&user).ok();
            updated = Some(user);
            bytes
        })?;
        updated.ok_or(AppError::NotFound("user"))
    }

    /// Sets the password and revokes every token the user had.
    pub fn set_password(&self, id: &str, password_hash: String) -> AppResult<User> {
        let user = self.update(id, |u| {
            u.password_hash = Some(password_hash.clone());
            u.token_generation += 1;
        })?;
        self.drop_reset_tokens_of(id)?;
        Ok(user)
    }

    /// Clears the password (an admin reset) and revokes every token the user had.
    pub fn clear_password(&self, id: &str) -> AppResult<User> {
        self.update(id, |u| {
            u.password_hash = None;
            u.token_generation += 1;
        })
    }

    pub fn revoke_all_tokens(&self, id: &str) -> AppResult<User> {
        self.update(id, |u| u.token_generation += 1)
    }

    pub fn update_profile(
        &self,
        id: &str,
        display_name: Option<String>,
        bio: Option<String>,
    ) -> AppResult<User> {
        self.update(id, |u| {
            if let Some(name) = &display_name {
                u.display_name = name.clone();
            }
            if let Some(bio) = &bio {
                u.bio = bio.clone();
            }
        })
    }

    pub fn delete(&self, id: &str) -> AppResult<User> {
        let user = self.require(id)?;
        (&self.names, &self.users).transaction(|(names, users)| {
            names.remove(user.username.to_lowercase().as_bytes())?;
            users.remove(user.id.as_bytes())?;
            Ok::<_, sled::transaction::ConflictableTransactionError<AppError>>(())
        })?;
        self.drop_reset_tokens_of(id)?;
        Ok(user)
    }

    /// Issues a fresh one-time reset token (128 bits of CSPRNG output) and returns it in clear,
    /// the only time it exists in clear. Earlier tokens of that user stop working.
    pub fn issue_reset_token(&self, id: &str, ttl_hours: u64) -> AppResult<(String, i64)> {
        self.require(id)?;
        self.drop_reset_tokens_of(id)?;
        let bytes: [u8; 16] = rand::random();
        let token = hex::encode(bytes);
        let expires_at = now_secs() + (ttl_hours as i64) * 3600;
        db::put(
            &self.resets,
            token_digest(&token),
            &ResetRecord {
                user_id: id.to_string(),
                expires_at,
            },
        )?;
        Ok((token, expires_at))
    }

    /// Consumes a reset token; returns the user it belongs to. Unknown, used and expired tokens
    /// are indistinguishable to the caller.
    pub fn consume_reset_token(&self, token: &str) -> AppResult<User> {
        let invalid = || AppError::invalid_field("resetToken", "this reset token is not valid");
        let Some(raw) = self.resets.remove(token_digest(token.trim()))? else {
            return Err(invalid());
        };
        let record: ResetRecord = db::decode(&raw)?;
        if record.expires_at < now_secs() {
            return Err(invalid());
        }
        self.get(&record.user_id)?.ok_or_else(invalid)
    }

    fn drop_reset_tokens_of(&self, id: &str) -> AppResult<()> {
        for entry in self.resets.iter() {
            let (key, value) = entry?;
            let record: ResetRecord = db::decode(&value)?;
            if record.user_id == id || record.expires_at < now_secs() {
                self.resets.remove(key)?;
            }
        }
        Ok(())
    }

    /// Revokes one token (by its id) until it would have expired anyway.
    pub fn revoke_token(&self, jti: &str, expires_at: i64) -> AppResult<()> {
        db::put(&self.revoked, jti, &expires_at)?;
        // Keep the list short: forget revocations of tokens that have expired by now.
        let now = now_secs();
        for entry in self.revoked.iter() {
            let (key, value) = entry?;
            if db::decode::<i64>(&value)? < now {
                self.revoked.remove(key)?;
            }
        }
        Ok(())
    }

    pub fn is_token_revoked(&self, jti: &str) -> AppResult<bool> {
        Ok(self.revoked.contains_key(jti)?)
    }
}

use sled::Transactional;

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> (tempfile::TempDir, Users) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        (dir, Users::new(&db).unwrap())
    }

    #[test]
    fn usernames_are_unique_ignoring_case() {
        let (_d, users) = users();
        users.create("Alice", None, false).unwrap();
        let err = users.create("alice", None, false).unwrap_err();
        assert!(matches!(err, AppError::Conflict(_)));
        assert_eq!(users.by_name("ALICE").unwrap().unwrap().username, "Alice");
    }

    #[test]
    fn reset_tokens_are_single_use_and_stored_hashed() {
        let (_d, users) = users();
        let user = users.create("bob", None, false).unwrap();
        let (token, _) = users.issue_reset_token(&user.id, 72).unwrap();
        assert_eq!(token.len(), 32, "128 bits as hex");
        for entry in users.resets.iter() {
            let (key, value) = entry.unwrap();
            assert_ne!(key.as_ref(), token.as_bytes());
            assert!(!String::from_utf8_lossy(&value).contains(&token));
        }
        assert_eq!(users.consume_reset_token(&token).unwrap().id, user.id);
        assert!(
            users.consume_reset_token(&token).is_err(),
            "second use fails"
        );
    }

    #[test]
    fn a_new_reset_token_replaces_the_old_one() {
        let (_d, users) = users();
        let user = users.create("carol", None, false).unwrap();
        let (first, _) = users.issue_reset_token(&user.id, 72).unwrap();
        let (second, _) = users.issue_reset_token(&user.id, 72).unwrap();
        assert!(users.consume_reset_token(&first).is_err());
        assert!(users.consume_reset_token(&second).is_ok());
    }

    #[test]
    fn setting_a_password_bumps_the_generation() {
        let (_d, users) = users();
        let user = users.create("dave", None, false).unwrap();
        let after = users.set_password(&user.id, "hash".into()).unwrap();
        assert_eq!(after.token_generation, user.token_generation + 1);
    }

    #[test]
    fn bad_usernames_and_text_are_refused() {
        assert!(validate_username("").is_err());
        assert!(validate_username("a b").is_err());
        assert!(validate_username("<script>").is_err());
        assert!(validate_username(&"x".repeat(33)).is_err());
        assert!(clean_text("bio", "hi\u{7}", 10).is_err());
        assert_eq!(clean_text("bio", "  hi  ", 10).unwrap(), "hi");
    }
}
