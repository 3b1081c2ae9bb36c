//! Bus events → Socket.IO pushes: which rooms hear what (docs/protocol.md lists the events).
//! The only place that knows room names besides session attach/detach in `mod.rs`.

use futures_util::FutureExt;
use serde::Serialize;
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::socket::Sid;

use crate::bus::{Bus, Event};
use crate::store::favourites::ItemKind;
use crate::store::playlists::Playlist;

/// Room of every signed-in socket: library broadcasts go there.
pub const LIBRARY_ROOM: &str = "library";

pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Pushes every bus event to the sockets that should hear it.
pub fn subscribe(bus: &Bus, io: SocketIo) {
    bus.subscribe(move |event| push(&io, event));
}

fn push(io: &SocketIo, event: &Event) {
    match event {
        Event::SongAdded { song, version } => emit(
            io,
            vec![LIBRARY_ROOM.into()],
            None,
            "song:added",
            &json!({ "song": song, "version": version }),
        ),
        Event::SongUpdated { song, version } => emit(
            io,
            vec![LIBRARY_ROOM.into()],
            None,
            "song:updated",
            &json!({ "song": song, "version": version }),
        ),
        Event::SongDeleted { song_id, version } => emit(
            io,
            vec![LIBRARY_ROOM.into()],
            None,
            "song:deleted",
            &json!({ "songId": song_id, "version": version }),
        ),
        Event::PlaylistChanged {
            before,
            after,
            view,
        } => {
            // A playlist that stopped being public is withdrawn from everyone who can no
            // longer see it.
            if before.is_public && !after.is_public {
                let mut keep = audience(after);
                keep.retain(|r| r != LIBRARY_ROOM);
                emit_except(
                    io,
                    vec![LIBRARY_ROOM.into()],
                    keep,
                    "playlist:deleted",
                    &json!({ "playlistId": after.id }),
                );
            }
            emit(
                io,
                audience(after),
                None,
                "playlist:updated",
                &json!({ "playlist": view }),
            );
        }
        Event::PlaylistDeleted { playlist } => emit(
            io,
            audience(playlist),
            None,
            "playlist:deleted",
            &json!({ "playlistId": playlist.id }),
        ),
        Event::PlaylistShared { view, by, with } => emit(
            io,
            with.iter().map(|u| user_room(u)).collect(),
            None,
            "playlist:shared",
            &json!({ "playlist": view, "by": by }),
        ),
        Event::UploadProgress { user_id, progress } => emit(
            io,
            vec![user_room(user_id)],
            None,
            "song:uploadProgress",
            progress,
        ),
        Event::UploadResult { user_id, result } => emit(
            io,
            vec![user_room(user_id)],
            None,
            "song:uploadResult",
            result,
        ),
        Event::Marked {
            user_id,
            kind,
            id,
            marks,
        } => {
            let (event, id_field) = match kind {
                ItemKind::Song => ("song:marked", "songId"),
                ItemKind::Album => ("album:marked", "albumId"),
                ItemKind::Artist => ("artist:marked", "artistId"),
            };
            emit(
                io,
                vec![user_room(user_id)],
                None,
                event,
                &json!({ id_field: id, "starred": marks.starred, "rating": marks.rating }),
            )
        }
        Event::QueueUpdated {
            user_id,
            queue,
            origin,
        } => emit(
            io,
            vec![user_room(user_id)],
            origin.as_deref(),
            "player:queueUpdated",
            &json!({ "queue": queue }),
        ),
    }
}

/// The rooms of everyone a playlist is pushed to: owner, users it is shared with, and every
/// signed-in socket when it is public.
fn audience(playlist: &Playlist) -> Vec<String> {
    let mut rooms = vec![user_room(&playlist.owner_id)];
    rooms.extend(playlist.shared_with.iter().map(|u| user_room(u)));
    if playlist.is_public {
        rooms.push(LIBRARY_ROOM.to_string());
    }
    rooms
}

/// Sends one event to the sockets in any of `rooms` (each socket once), except the socket
/// `origin` (the one whose request caused it: its ack already told it).
fn emit(
    io: &SocketIo,
    rooms: Vec<String>,
    origin: Option<&str>,
    event: &str,
    data: &impl Serialize,
) {
    let Some(ns) = io.of("/") else { return };
    let op = ns.to(rooms);
    let sent = match origin.and_then(|id| id.parse::<Sid>().ok()) {
        Some(sid) => op.except(sid).emit(event, data).now_or_never(),
        None => op.emit(event, data).now_or_never(),
    };
    report(event, sent);
}

fn emit_except(
    io: &SocketIo,
    rooms: Vec<String>,
    except: Vec<String>,
    event: &str,
    data: &impl Serialize,
) {
    let Some(ns) = io.of("/") else { return };
    report(
        event,
        ns.to(rooms).except(except).emit(event, data).now_or_never(),
    );
}

/// socketioxide's broadcast is a future (adapters may be remote); the in-process adapter
/// completes it on the first poll, which keeps event order.
fn report<E: std::fmt::Display>(event: &str, sent: Option<Result<(), E>>) {
    match sent {
        Some(Ok(())) => {}
        Some(Err(e)) => tracing::warn!(event, "broadcast failed: {e}"),
        None => tracing::warn!(event, "broadcast did not complete at once; dropped"),
    }
}
