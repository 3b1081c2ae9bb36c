//! `server:*`, `auth:*` and `user:*` events: sign-in, tokens, passwords and accounts.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;

use super::{Access, Ctx, attach_session, detach_session, disconnect_user, on};
use crate::app::{App, AppState};
use crate::error::{AppError, AppResult};
use crate::service::auth::hash_password;
use crate::store::users::{MAX_BIO, MAX_DISPLAY_NAME, User, clean_text};

/// Accepts any payload, including none, for events that take no arguments.
pub struct NoPayload;

impl<'de> Deserialize<'de> for NoPayload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(NoPayload)
    }
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct Setup {
    code: String,
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UseResetToken {
    reset_token: String,
    new_password: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Logout {
    everywhere: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateUser {
    username: String,
    password: Option<String>,
    #[serde(default)]
    is_admin: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRef {
    user_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetPassword {
    user_id: String,
    password: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ProfileQuery {
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileUpdate {
    display_name: Option<String>,
    bio: Option<String>,
}

pub fn register(app: &App, socket: &SocketRef) {
    on(app, socket, "server:info", Access::Anyone, server_info);
    on(app, socket, "auth:login", Access::Anyone, login);
    on(app, socket, "auth:setup", Access::Anyone, setup);
    on(
        app,
        socket,
        "auth:useResetToken",
        Access::Anyone,
        use_reset_token,
    );
    on(app, socket, "auth:refresh", Access::User, refresh);
    on(app, socket, "auth:logout", Access::User, logout);
    on(
        app,
        socket,
        "auth:changePassword",
        Access::User,
        change_password,
    );
    on(app, socket, "auth:createUser", Access::Admin, create_user);
    on(
        app,
        socket,
        "auth:resetPassword",
        Access::Admin,
        reset_password,
    );
    on(app, socket, "auth:setPassword", Access::Admin, set_password);
    on(app, socket, "user:list", Access::Admin, list_users);
    on(app, socket, "user:delete", Access::Admin, delete_user);
    on(app, socket, "user:profile", Access::User, profile);
    on(app, socket, "user:update", Access::User, update_profile);
}

async fn server_info(ctx: Ctx, _: NoPayload) -> AppResult<Value> {
    Ok(json!({
        "name": "ChillFi",
        "version": AppState::version(),
        "hasUsers": !ctx.app.users.is_empty(),
        "needsSetup": ctx.app.first_run.is_open(&ctx.app.users),
        "user": ctx.user.as_ref().map(User::view),
    }))
}

/// Signs this socket in and answers like `auth:login`.
fn sign_in(ctx: &Ctx, user: &User, token: &crate::service::auth::IssuedToken) -> AppResult<Value> {
    let (_, claims) = ctx.app.auth.verify(&ctx.app.users, &token.token)?;
    detach_session(&ctx.socket);
    attach_session(&ctx.socket, user, &claims);
    Ok(json!({ "token": token.token, "expiresAt": token.expires_at, "user": user.view() }))
}

async fn login(ctx: Ctx, p: Login) -> AppResult<Value> {
    let (user, token) = ctx
        .app
        .auth
        .login(&ctx.app.users, &p.username, p.password, ctx.client_ip())
        .await?;
    sign_in(&ctx, &user, &token)
}

async fn setup(ctx: Ctx, p: Setup) -> AppResult<Value> {
    let (user, token) = ctx
        .app
        .first_run
        .complete(
            &ctx.app.auth,
            &ctx.app.users,
            &p.code,
            &p.username,
            p.password,
            ctx.client_ip(),
        )
        .await?;
    sign_in(&ctx, &user, &token)
}

async fn use_reset_token(ctx: Ctx, p: UseResetToken) -> AppResult<Value> {
    ctx.app
        .auth
        .check_password_rules("newPassword", &p.new_password)?;
    let user = ctx.app.users.consume_reset_token(&p.reset_token)?;
    let hash = hash_password(p.new_password).await?;
    let user = ctx.app.users.set_password(&user.id, hash)?;
    disconnect_user(&ctx.app, &user.id, None, Some(&ctx.socket));
    let token = ctx.app.auth.issue(&user)?;
    sign_in(&ctx, &user, &token)
}

async fn refresh(ctx: Ctx, _: NoPayload) -> AppResult<Value> {
    let user = ctx.user()?;
    let token = ctx.app.auth.issue(user)?;
    sign_in(&ctx, user, &token)
}

async fn logout(ctx: Ctx, p: Logout) -> AppResult<Value> {
    let user = ctx.user()?;
    let session = ctx
        .socket
        .extensions
        .get::<super::Session>()
        .ok_or(AppError::Unauthenticated)?;
    if p.everywhere {
        ctx.app.users.revoke_all_tokens(&user.id)?;
        disconnect_user(&ctx.app, &user.id, None, Some(&ctx.socket));
    } else {
        ctx.app
            .users
            .revoke_token(&session.jti, session.expires_at)?;
        disconnect_user(&ctx.app, &user.id, Some(&session.jti), Some(&ctx.socket));
    }
    detach_session(&ctx.socket);
    Ok(json!({}))
}

async fn change_password(ctx: Ctx, p: ChangePassword) -> AppResult<Value> {
    let user = ctx.user()?.clone();
    ctx.app
        .auth
        .check_password_rules("newPassword", &p.new_password)?;
    ctx.app
        .auth
        .verify_user_password(&user, p.current_password)
        .await?;
    let hash = hash_password(p.new_password).await?;
    let user = ctx.app.users.set_password(&user.id, hash)?;
    disconnect_user(&ctx.app, &user.id, None, Some(&ctx.socket));
    let token = ctx.app.auth.issue(&user)?;
    sign_in(&ctx, &user, &token)
}

async fn create_user(ctx: Ctx, p: CreateUser) -> AppResult<Value> {
    let password = p.password.filter(|pw| !pw.is_empty());
    let hash = match &password {
        Some(pw) => {
            ctx.app.auth.check_password_rules("password", pw)?;
            Some(hash_password(pw.clone()).await?)
        }
        None => None,
    };
    let user = ctx.app.users.create(&p.username, hash, p.is_admin)?;
    let mut answer = json!({ "user": user.view() });
    if password.is_none() {
        let ttl = ctx.app.auth.config().reset_token_ttl_hours;
        let (token, expires_at) = ctx.app.users.issue_reset_token(&user.id, ttl)?;
        answer["resetToken"] = json!(token);
        answer["resetTokenExpiresAt"] = json!(expires_at);
    }
    tracing::info!(username = %user.username, admin = user.is_admin, "user created");
    Ok(answer)
}

async fn reset_password(ctx: Ctx, p: UserRef) -> AppResult<Value> {
    let target = ctx.app.users.require(&p.user_id)?;
    let token = reset_user(&ctx.app, &target)?;
    Ok(json!({ "resetToken": token.0, "expiresAt": token.1 }))
}

/// Revokes every token of the user, clears the password and issues a reset token.
pub fn reset_user(app: &App, target: &User) -> AppResult<(String, i64)> {
    app.users.clear_password(&target.id)?;
    disconnect_user(app, &target.id, None, None);
    app.users
        .issue_reset_token(&target.id, app.auth.config().reset_token_ttl_hours)
}

async fn set_password(ctx: Ctx, p: SetPassword) -> AppResult<Value> {
    ctx.app.auth.check_password_rules("password", &p.password)?;
    ctx.app.users.require(&p.user_id)?;
    let hash = hash_password(p.password).await?;
    let user = ctx.app.users.set_password(&p.user_id, hash)?;
    disconnect_user(&ctx.app, &user.id, None, None);
    Ok(json!({ "user": user.view() }))
}

async fn list_users(ctx: Ctx, _: NoPayload) -> AppResult<Value> {
    let users: Vec<_> = ctx.app.users.list()?.iter().map(User::view).collect();
    Ok(json!({ "items": users }))
}

async fn delete_user(ctx: Ctx, p: UserRef) -> AppResult<Value> {
    let me = ctx.user()?;
    if me.id == p.user_id {
        return Err(AppError::invalid_field(
            "userId",
            "you cannot delete your own account",
        ));
    }
    let user = ctx.app.users.delete(&p.user_id)?;
    disconnect_user(&ctx.app, &user.id, None, None);
    // Their songs stay in the library (the family still listens); their queue and history go.
    ctx.app.player.forget_user(&user.id)?;
    ctx.app.app_keys.forget_user(&user.id)?;
    ctx.app.favourites.forget_user(&user.id)?;
    ctx.app.now_playing.forget(&user.id);
    tracing::info!(username = %user.username, "user deleted");
    Ok(json!({ "userId": user.id }))
}

async fn profile(ctx: Ctx, p: ProfileQuery) -> AppResult<Value> {
    let me = ctx.user()?;
    match p.user_id.filter(|id| *id != me.id) {
        None => Ok(json!({ "user": me.view() })),
        Some(id) => {
            let other = ctx.app.users.require(&id)?;
            // Other people see the public part of a profile only.
            Ok(json!({ "user": {
                "id": other.id, "username": other.username,
                "displayName": other.display_name, "bio": other.bio,
            }}))
        }
    }
}

async fn update_profile(ctx: Ctx, p: ProfileUpdate) -> AppResult<Value> {
    let me = ctx.user()?;
    let display_name = p
        .display_name
        .map(|n| clean_text("displayName", &n, MAX_DISPLAY_NAME))
        .transpose()?;
    if display_name.as_deref() == Some("") {
        return Err(AppError::invalid_field(
            "displayName",
            "a display name cannot be empty",
        ));
    }
    let bio = p.bio.map(|b| clean_text("bio", &b, MAX_BIO)).transpose()?;
    let user = ctx.app.users.update_profile(&me.id, display_name, bio)?;
    Ok(json!({ "user": user.view() }))
}
