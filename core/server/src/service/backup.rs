//! `chillfi backup` / `restore`: one tar archive holding the metadata (every sled tree, dumped
//! while the server runs), the secret files, the plugins' stored state and, on request, the local
//! blob folder; `manifest.json` comes last, with counts and the SHA-256 of every member.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::store::db::{Db, now_secs};

const FORMAT: u32 = 1;
const METADATA: &str = "metadata.dump";
const MANIFEST: &str = "manifest.json";
/// Files of the data dir that are secrets: without them old tokens and app keys stop working.
const SECRETS: &[&str] = &["jwt.secret", "subsonic.key"];

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    pub version: String,
    pub created_at: i64,
    pub with_blobs: bool,
    /// Entries per sled tree.
    pub trees: Vec<(String, u64)>,
    pub files: Vec<Member>,
}

#[derive(Serialize, Deserialize)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Writes the archive to `out`; returns its manifest.
pub fn write(cfg: &Config, db: &Db, with_blobs: bool, out: impl Write) -> AppResult<Manifest> {
    let mut tar = tar::Builder::new(out);
    let mut files = Vec::new();
    let mut metadata = Vec::new();
    let trees = db.dump(&mut metadata)?;
    append(&mut tar, &mut files, METADATA, &metadata)?;
    drop(metadata);
    for name in SECRETS {
        let path = cfg.data_dir.join(name);
        if path.exists() {
            append(&mut tar, &mut files, name, &read(&path)?)?;
        }
    }
    let mut folders = vec![("plugin-state", cfg.data_dir.join("plugin-state"))];
    if with_blobs {
        folders.push(("blobs", cfg.data_dir.join("blobs")));
    }
    for (name, dir) in folders {
        let mut found = Vec::new();
        walk(&dir, &mut found)
            .map_err(|e| AppError::internal(format!("reading {}: {e}", dir.display())))?;
        found.sort();
        for path in found {
            let Ok(rel) = path.strip_prefix(&dir) else {
                continue;
            };
            let member = format!("{name}/{}", rel.to_string_lossy());
            append(&mut tar, &mut files, &member, &read(&path)?)?;
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: now_secs(),
        with_blobs,
        trees,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(AppError::internal)?;
    let mut ignored = Vec::new();
    append(&mut tar, &mut ignored, MANIFEST, &json)?;
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| AppError::internal(format!("writing the backup: {e}")))?;
    Ok(manifest)
}

/// Brings a backup back into `data_dir`, which must be empty or missing. On any failure what it
/// wrote there is removed again.
pub fn restore(archive: impl Read, data_dir: &Path) -> AppResult<Manifest> {
    if data_dir.exists()
        && std::fs::read_dir(data_dir)
            .map_err(AppError::internal)?
            .next()
            .is_some()
    {
        return Err(AppError::invalid(format!(
            "{} is not empty: restore into a new or empty directory (the server stopped)",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(AppError::internal)?;
    let result = unpack(archive, data_dir);
    if result.is_err() {
        clear(data_dir);
    }
    result
}

fn unpack(archive: impl Read, data_dir: &Path) -> AppResult<Manifest> {
    let damaged = |what: String| AppError::invalid(format!("the backup is damaged: {what}"));
    let mut tar = tar::Archive::new(archive);
    let mut seen: Vec<(String, u64, String)> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    let entries = tar.entries().map_err(|e| damaged(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| damaged(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| damaged(e.to_string()))?;
        if name == MANIFEST {
            manifest = Some(serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?);
            continue;
        }
        let target =
            safe_join(data_dir, &name).ok_or_else(|| damaged(format!("unsafe path {name}")))?;
        seen.push((
            name,
            bytes.len() as u64,
            hex::encode(Sha256::digest(&bytes)),
        ));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(AppError::internal)?;
        }
        write_private(&target, &bytes)?;
    }
    let manifest = manifest.ok_or_else(|| damaged("no manifest.json".into()))?;
    if manifest.format != FORMAT {
        return Err(AppError::invalid(format!(
            "backup format {} is not one this version reads ({FORMAT})",
            manifest.format
        )));
    }
    for member in &manifest.files {
        let ok = seen.iter().any(|(p, size, sum)| {
            *p == member.path && *size == member.size && *sum == member.sha256
        });
        if !ok {
            return Err(damaged(format!(
                "{} is missing or differs from its checksum",
                member.path
            )));
        }
    }
    if seen.len() != manifest.files.len() {
        return Err(damaged("it holds files its manifest does not list".into()));
    }
    let dump = data_dir.join(METADATA);
    let db = Db::open(&data_dir.join("db")).map_err(|e| AppError::internal(format!("{e:#}")))?;
    let mut file = std::fs::File::open(&dump).map_err(AppError::internal)?;
    db.load(&mut std::io::BufReader::new(&mut file))?;
    drop(db);
    std::fs::remove_file(&dump).map_err(AppError::internal)?;
    Ok(manifest)
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    files: &mut Vec<Member>,
    path: &str,
    bytes: &[u8],
) -> AppResult<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(now_secs().max(0) as u64);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes)
        .map_err(|e| AppError::internal(format!("writing the backup: {e}")))?;
    files.push(Member {
        path: path.to_string(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    });
    Ok(())
}

fn read(path: &Path) -> AppResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| AppError::internal(format!("reading {}: {e}", path.display())))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// `dir/name` when `name` is a plain relative path (no `..`, no root): a backup cannot write
/// outside the directory it is restored into.
fn safe_join(dir: &Path, name: &str) -> Option<PathBuf> {
    use std::path::Component;
    let rel = Path::new(name);
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(rel))
}

fn write_private(path: &Path, bytes: &[u8]) -> AppResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| AppError::internal(format!("writing {}: {e}", path.display())))
}

fn clear(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}
