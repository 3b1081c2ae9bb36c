//! The administration commands of `chillfi user …` and `chillfi plugin list`, as text for the
//! owner's terminal. One implementation for both ways the CLI reaches the data: over the running
//! server's control socket (control/), or by opening the database itself when no server runs.

use crate::config::AuthConfig;
use crate::error::{AppError, AppResult};
use crate::service::auth::hash_password_blocking;
use crate::store::app_keys::{AppKeys, Kind};
use crate::store::db;
use crate::store::users::{User, Users};

pub struct Admin<'a> {
    pub users: &'a Users,
    pub app_keys: &'a AppKeys,
    pub auth: &'a AuthConfig,
}

impl Admin<'_> {
    /// Hashes with argon2id: call off the async runtime.
    pub fn user_add(
        &self,
        name: &str,
        admin: bool,
        password: Option<&str>,
    ) -> AppResult<Vec<String>> {
        let hash = match password {
            Some(password) => {
                if password.chars().count() < self.auth.min_password_len {
                    return Err(AppError::invalid_field(
                        "password",
                        format!(
                            "the password is shorter than {} characters",
                            self.auth.min_password_len
                        ),
                    ));
                }
                Some(hash_password_blocking(password)?)
            }
            None => None,
        };
        let has_password = hash.is_some();
        let user = self.users.create(name, hash, admin)?;
        let mut out = vec![format!(
            "created {} '{}' (id {})",
            if admin { "administrator" } else { "user" },
            user.username,
            user.id
        )];
        if !has_password {
            let (token, expires) = self
                .users
                .issue_reset_token(&user.id, self.auth.reset_token_ttl_hours)?;
            out.push(format!(
                "reset token (give it to {}; valid {} h, once): {token}",
                user.username,
                (expires - db::now_secs()) / 3600
            ));
        }
        Ok(out)
    }

    /// Clears the password (which ends every session: a running server drops those sockets at
    /// its next session sweep) and issues a reset token.
    pub fn user_reset(&self, name: &str) -> AppResult<Vec<String>> {
        let user = self.user(name)?;
        self.users.clear_password(&user.id)?;
        let (token, _) = self
            .users
            .issue_reset_token(&user.id, self.auth.reset_token_ttl_hours)?;
        Ok(vec![
            format!(
                "password cleared and every session of '{}' signed out",
                user.username
            ),
            format!(
                "reset token (valid {} h, once): {token}",
                self.auth.reset_token_ttl_hours
            ),
        ])
    }

    pub fn user_list(&self) -> AppResult<Vec<String>> {
        Ok(self
            .users
            .list()?
            .into_iter()
            .map(|user| {
                format!(
                    "{}\t{}\t{}\t{}",
                    user.id,
                    user.username,
                    if user.is_admin { "admin" } else { "user" },
                    if user.password_hash.is_some() {
                        "password set"
                    } else {
                        "awaiting reset token"
                    }
                )
            })
            .collect())
    }

    pub fn key_create(
        &self,
        name: &str,
        label: &str,
        app_password: bool,
    ) -> AppResult<Vec<String>> {
        let user = self.user(name)?;
        let kind = if app_password {
            Kind::AppPassword
        } else {
            Kind::ApiKey
        };
        let created = self.app_keys.create(&user, label, kind)?;
        let what = if app_password {
            "app password"
        } else {
            "API key"
        };
        Ok(vec![
            format!(
                "{what} '{}' for {} (id {}; shown this once):",
                created.label, user.username, created.id
            ),
            created.secret,
        ])
    }

    pub fn key_list(&self, name: &str) -> AppResult<Vec<String>> {
        let user = self.user(name)?;
        let keys = self.app_keys.list(&user.id)?;
        if keys.is_empty() {
            return Ok(vec![format!("{} has no app credentials", user.username)]);
        }
        Ok(keys
            .into_iter()
            .map(|k| {
                let kind = match k.kind {
                    Kind::ApiKey => "api-key",
                    Kind::AppPassword => "app-password",
                };
                let used = k
                    .last_used_at
                    .map_or_else(|| "never used".to_string(), |t| format!("last used {t}"));
                format!("{}\t{kind}\t{}\t{used}", k.id, k.label)
            })
            .collect())
    }

    /// Revokes one credential of `name` by id (as that user would).
    pub fn key_revoke(&self, name: &str, id: &str) -> AppResult<Vec<String>> {
        let user = self.user(name)?;
        let key = self.app_keys.revoke(&user, id)?;
        Ok(vec![format!(
            "revoked '{}' of {}: apps using it are signed out",
            key.label, user.username
        )])
    }

    /// The owner credited with imported songs: `name`, or the first administrator.
    pub fn import_owner(&self, name: Option<&str>) -> AppResult<User> {
        match name {
            Some(name) => self.user(name),
            None => self
                .users
                .list()?
                .into_iter()
                .filter(|u| u.is_admin)
                .min_by_key(|u| u.created_at)
                .ok_or_else(|| {
                    AppError::invalid(
                        "no administrator yet: create one first (the web UI's setup, or `chillfi user add NAME --admin`), or pass --owner",
                    )
                }),
        }
    }

    fn user(&self, name: &str) -> AppResult<User> {
        self.users
            .by_name(name)?
            .ok_or_else(|| AppError::invalid_field("name", format!("no user named '{name}'")))
    }
}

/// `chillfi plugin list`.
pub fn plugin_list(host: &chillfi_plugin_host::PluginHost, dir: &std::path::Path) -> Vec<String> {
    let plugins = host.list();
    let mut out = vec![format!("plugins folder: {}", dir.display())];
    if plugins.is_empty() {
        out.push("(no plugins installed)".into());
    }
    for p in plugins {
        let kind = p.kind.map(|k| k.as_str()).unwrap_or("?");
        let version = if p.version.is_empty() {
            "?"
        } else {
            &p.version
        };
        let shipped = if p.packaged {
            "\t(ships with ChillFi)"
        } else {
            ""
        };
        out.push(format!(
            "{}\t{version}\t{kind}\t{}{shipped}",
            p.name, p.state
        ));
        if let Some(e) = &p.last_error {
            out.push(format!("\t{e}"));
        }
    }
    out
}
