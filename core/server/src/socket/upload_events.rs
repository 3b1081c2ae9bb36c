//! `song:upload*` events: chunked uploads into the ingest pipeline.

use serde::Deserialize;
use serde_json::Value;
use socketioxide::extract::SocketRef;

use super::{Access, Ctx, on};
use crate::app::App;
use crate::error::AppResult;
use crate::service::ingest::upload::InitFile;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Init {
    files: Vec<InitFile>,
    chunk_size: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    upload_id: String,
    file_id: String,
    index: u64,
    data: bytes::Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    upload_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Control {
    upload_id: String,
    file_id: Option<String>,
    action: String,
}

pub fn register(app: &App, socket: &SocketRef) {
    on(app, socket, "song:uploadInit", Access::User, init);
    on(app, socket, "song:uploadChunk", Access::User, chunk);
    on(app, socket, "song:uploadStatus", Access::User, status);
    on(app, socket, "song:uploadControl", Access::User, control);
}

async fn init(ctx: Ctx, p: Init) -> AppResult<Value> {
    let user = ctx.user()?;
    let used = ctx.app.songs.bytes_of_user(&user.id)?;
    ctx.app
        .uploads
        .init(&user.id, p.files, p.chunk_size, used)
        .await
}

async fn chunk(ctx: Ctx, p: Chunk) -> AppResult<Value> {
    let user = ctx.user()?;
    ctx.app
        .uploads
        .chunk(&user.id, &p.upload_id, &p.file_id, p.index, p.data)
        .await
}

async fn status(ctx: Ctx, p: Status) -> AppResult<Value> {
    ctx.app.uploads.status(&ctx.user()?.id, &p.upload_id)
}

async fn control(ctx: Ctx, p: Control) -> AppResult<Value> {
    ctx.app.uploads.control(
        &ctx.user()?.id,
        &p.upload_id,
        p.file_id.as_deref(),
        &p.action,
    )
}
