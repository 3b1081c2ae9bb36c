//! Passwords (argon2id), session tokens (JWT HS256 bound to the user's token generation and
//! revocable one by one), and login throttling shared by the HTTP and Socket.IO doors.
//! Invariant: the signing key lives only in `<data_dir>/jwt.secret` (mode 0600) and in memory.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::error::{AppError, AppResult};
use crate::store::db::{new_id, now_secs};
use crate::store::users::{User, Users};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// The user's token generation when issued; a bump revokes the token.
    pub generation: u64,
    /// Token id, for revoking one token (logout on one device).
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: i64,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    cfg: AuthConfig,
    limiter: LoginLimiter,
    /// A real argon2id hash of a random password: checked when the username does not exist so
    /// both cases cost the same time.
    dummy_hash: String,
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane); the library default.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// A hash no password matches, with the real parameters so checking against it costs the
/// same; random salt and output instead of hashing at start-up (that took 50 ms and 19 MiB).
fn dummy_hash() -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
    let (salt, output): ([u8; 16], [u8; 32]) = (rand::random(), rand::random());
    let p = Params::default();
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        p.m_cost(),
        p.t_cost(),
        p.p_cost(),
        b64(&salt),
        b64(&output)
    )
}

pub fn hash_password_blocking(password: &str) -> AppResult<String> {
    // The salt comes from the OS CSPRNG inside `hash_password`.
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("hashing a password: {e}")))
}

fn verify_password_blocking(password: &str, hash: &str) -> bool {
    argon2().verify_password(password.as_bytes(), hash).is_ok()
}

pub async fn hash_password(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(AppError::internal)?
}

pub use crate::store::db::load_or_create_secret;

impl Auth {
    pub fn new(secret: &[u8], cfg: AuthConfig) -> AppResult<Self> {
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            limiter: LoginLimiter::new(&cfg),
            dummy_hash: dummy_hash(),
            cfg,
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    pub fn issue(&self, user: &User) -> AppResult<IssuedToken> {
        let iat = now_secs();
        let exp = iat + (self.cfg.token_ttl_hours as i64) * 3600;
        let claims = Claims {
            sub: user.id.clone(),
            generation: user.token_generation,
            jti: new_id(),
            iat,
            exp,
        };
        let token = jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.encoding,
        )
        .map_err(|e| AppError::internal(format!("signing a token: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_at: exp,
        })
    }

    /// Checks signature (HS256 only), expiry, and that the token was not revoked since.
    pub fn verify(&self, users: &Users, token: &str) -> AppResult<(User, Claims)> {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| AppError::Unauthenticated)?
            .claims;
        let user = users.get(&claims.sub)?.ok_or(AppError::Unauthenticated)?;
        if user.token_generation != claims.generation || users.is_token_revoked(&claims.jti)? {
            return Err(AppError::Unauthenticated);
        }
        Ok((user, claims))
    }

    pub fn check_password_rules(&self, field: &str, password: &str) -> AppResult<()> {
        let len = password.chars().count();
        if len < self.cfg.min_password_len {
            return Err(AppError::invalid_field(
                field,
                format!(
                    "a password needs at least {} characters",
                    self.cfg.min_password_len
                ),
            ));
        }
        if len > 1024 {
            return Err(AppError::invalid_field(
                field,
                "a password has at most 1024 characters",
            ));
        }
        Ok(())
    }

    /// The whole login: throttling, constant-cost checking, token issue.
    pub async fn login(
        self: &Arc<Self>,
        users: &Users,
        username: &str,
        password: String,
        ip: Option<IpAddr>,
    ) -> AppResult<(User, IssuedToken)> {
        let name_key = username.trim().to_lowercase();
        self.limiter.check(Some(&name_key), ip)?;
        let user = users.by_name(&name_key)?;
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| self.dummy_hash.clone());
        let matches =
            tokio::task::spawn_blocking(move || verify_password_blocking(&password, &hash))
                .await
                .map_err(AppError::internal)?;
        match user {
            Some(user) if matches && user.password_hash.is_some() => {
                self.limiter.success(&name_key);
                let token = self.issue(&user)?;
                Ok((user, token))
            }
            _ => {
                self.limiter.failure(Some(&name_key), ip);
                Err(AppError::WrongCredentials)
            }
        }
    }

    /// Checks a password for an already identified user (password change), throttled like login.
    pub async fn verify_user_password(&self, user: &User, password: String) -> AppResult<()> {
        let key = user.username.to_lowercase();
        self.limiter.check(Some(&key), None)?;
        let hash = user
            .password_hash
            .clone()
            .unwrap_or_else(|| self.dummy_hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password_blocking(&password, &hash))
            .await
            .map_err(AppError::internal)?;
        if ok && user.password_hash.is_some() {
            Ok(())
        } else {
            self.limiter.failure(Some(&key), None);
            Err(AppError::invalid_field(
                "currentPassword",
                "the current password is wrong",
            ))
        }
    }
}

/// The login throttle for other doors (the Subsonic API): `name` is the lowercased username
/// when the request names one; API keys count against the client address only.
impl Auth {
    pub fn throttle_check(&self, name: Option<&str>, ip: Option<IpAddr>) -> AppResult<()> {
        self.limiter.check(name, ip)
    }

    pub fn throttle_failure(&self, name: Option<&str>, ip: Option<IpAddr>) {
        self.limiter.failure(name, ip)
    }

    pub fn throttle_success(&self, name: &str) {
        self.limiter.success(name)
    }

    /// Is this the account password? Only asked after a failed app-credential check, to say
    /// why it failed; costs one argon2id verification.
    pub async fn is_account_password(&self, user: &User, password: String) -> bool {
        let Some(hash) = user.password_hash.clone() else {
            return false;
        };
        tokio::task::spawn_blocking(move || verify_password_blocking(&password, &hash))
            .await
            .unwrap_or(false)
    }
}

/// Sliding-window counters of failed logins per username and per client address.
struct LoginLimiter {
    per_user: u32,
    per_ip: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    fn new(cfg: &AuthConfig) -> Self {
        Self {
            per_user: cfg.login_attempts_per_user,
            per_ip: cfg.login_attempts_per_ip,
            window: Duration::from_secs(cfg.login_window_secs),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(name: Option<&str>, ip: Option<IpAddr>) -> Vec<(String, bool)> {
        let mut keys: Vec<(String, bool)> = name
            .map(|n| (format!("user:{n}"), true))
            .into_iter()
            .collect();
        if let Some(ip) = ip {
            keys.push((format!("ip:{ip}"), false));
        }
        keys
    }

    fn check(&self, name: Option<&str>, ip: Option<IpAddr>) -> AppResult<()> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, is_user) in Self::keys(name, ip) {
            let limit = if is_user { self.per_user } else { self.per_ip } as usize;
            if let Some(times) = map.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.window)
                {
                    times.pop_front();
                }
                if times.len() >= limit {
                    let oldest = times.front().copied().unwrap_or(now);
                    let wait = self.window.saturating_sub(now.duration_since(oldest));
                    return Err(AppError::RateLimited {
                        retry_after_secs: wait.as_secs().max(1),
                    });
                }
            }
        }
        Ok(())
    }

    fn failure(&self, name: Option<&str>, ip: Option<IpAddr>) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a flood of random usernames.
        if map.len() > 100_000 {
            map.clear();
        }
        for (key, _) in Self::keys(name, ip) {
            map.entry(key).or_default().push_back(Instant::now());
        }
    }

    fn success(&self, name: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("user:{name}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::Db;

    fn setup() -> (tempfile::TempDir, Arc<Auth>, Users) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let users = Users::new(&db).unwrap();
        let secret = load_or_create_secret(&dir.path().join("jwt.secret")).unwrap();
        let cfg = AuthConfig {
            login_attempts_per_user: 3,
            ..AuthConfig::default()
        };
        (dir, Arc::new(Auth::new(&secret, cfg).unwrap()), users)
    }

    #[test]
    fn secret_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.secret");
        let first = load_or_create_secret(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        assert_eq!(first.len(), 64);
    }

    #[test]
    fn the_unknown_user_hash_costs_a_real_check_and_matches_nothing() {
        let real = hash_password_blocking("x").unwrap();
        let dummy = dummy_hash();
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(&dummy), params(&real), "same algorithm and cost");
        let parsed = argon2::PasswordHash::new(&dummy).expect("a well-formed PHC string");
        assert_eq!(parsed.hash.map(|h| h.len()), Some(32));
        assert!(!verify_password_blocking("", &dummy));
    }

    #[test]
    fn hashes_are_argon2id() {
        let hash = hash_password_blocking("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password_blocking("correct horse", &hash));
        assert!(!verify_password_blocking("wrong horse", &hash));
    }

    #[tokio::test]
    async fn login_then_revocation() {
        let (_d, auth, users) = setup();
        let hash = hash_password("pa55word!".into()).await.unwrap();
        users.create("erin", Some(hash), false).unwrap();
        let (user, issued) = auth
            .login(&users, "Erin", "pa55word!".into(), None)
            .await
            .unwrap();
        let (_, claims) = auth.verify(&users, &issued.token).unwrap();
        assert_eq!(claims.sub, user.id);
        assert_eq!(claims.exp - claims.iat, 7 * 24 * 3600);

        users.revoke_token(&claims.jti, claims.exp).unwrap();
        assert!(
            auth.verify(&users, &issued.token).is_err(),
            "one token revoked"
        );

        let (_, second) = auth
            .login(&users, "erin", "pa55word!".into(), None)
            .await
            .unwrap();
        assert!(auth.verify(&users, &second.token).is_ok());
        users.revoke_all_tokens(&user.id).unwrap();
        assert!(
            auth.verify(&users, &second.token).is_err(),
            "generation bump revokes all"
        );
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_user_look_the_same_and_get_throttled() {
        let (_d, auth, users) = setup();
        let hash = hash_password("pa55word!".into()).await.unwrap();
        users.create("frank", Some(hash), false).unwrap();
        let wrong = auth
            .login(&users, "frank", "nope".into(), None)
            .await
            .unwrap_err();
        let unknown = auth
            .login(&users, "nobody", "nope".into(), None)
            .await
            .unwrap_err();
        assert_eq!(wrong.to_string(), unknown.to_string());
        assert!(matches!(wrong, AppError::WrongCredentials), "{wrong:?}");
        assert_eq!(wrong.http_status(), http::StatusCode::UNAUTHORIZED);
        for _ in 0..2 {
            let _ = auth.login(&users, "frank", "nope".into(), None).await;
        }
        let err = auth
            .login(&users, "frank", "pa55word!".into(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::RateLimited { .. }), "{err:?}");
    }

    #[test]
    fn tampered_and_unsigned_tokens_are_rejected() {
        use base64::Engine;
        let (_d, auth, users) = setup();
        let user = users.create("gina", Some("x".into()), false).unwrap();
        let issued = auth.issue(&user).unwrap();
        let mut parts: Vec<String> = issued.token.split('.').map(str::to_string).collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
        claims["generation"] = serde_json::json!(user.token_generation);
        claims["exp"] = serde_json::json!(claims["exp"].as_i64().unwrap() + 1);
        parts[1] = b64.encode(claims.to_string());
        assert!(
            auth.verify(&users, &parts.join(".")).is_err(),
            "tampered payload"
        );
        let none_header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert!(auth.verify(&users, &unsigned).is_err(), "alg none");
    }
}
