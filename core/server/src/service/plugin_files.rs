//! Installing and removing plugins: files in the plugins folder, which a running server's
//! folder watcher picks up (load, reload, unload) by itself. A plugin comes as a folder
//! (`plugin.toml` and `<name>.wasm`) or a `.tar.gz` of one; it is checked like `plugin check`
//! before anything in the plugins folder changes, and it replaces an installed plugin of the same
//! name in one rename. Its saved state and settings (in `plugin-state/`) are kept across a
//! reinstall and a removal.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::error::{AppError, AppResult};

/// Largest plugin accepted, unpacked (components are a few MB; the limit stops archive bombs).
const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Files a plugin may have (a manifest, a component, a readme, a licence...).
const MAX_FILES: usize = 32;

/// What was installed.
pub struct Installed {
    pub name: String,
    pub version: String,
    pub report: chillfi_plugin_host::ComponentReport,
    /// True when a plugin of that name was there before.
    pub replaced: bool,
}

/// Installs the plugin at `source` into `plugins_dir` (see the module docs).
pub fn install(source: &Path, plugins_dir: &Path) -> anyhow::Result<Installed> {
    fs::create_dir_all(plugins_dir)
        .with_context(|| format!("creating {}", plugins_dir.display()))?;
    // Unpacked beside its destination (same filesystem: the final move is a rename), in a
    // dot-folder the plugin host does not look at.
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(plugins_dir)
        .with_context(|| format!("writing in {}", plugins_dir.display()))?;
    let unpacked = staging.path().join("plugin");
    fs::create_dir(&unpacked)?;
    let meta = fs::metadata(source).with_context(|| format!("reading {}", source.display()))?;
    if meta.is_dir() {
        copy_folder(source, &unpacked)?;
    } else if is_tar_gz(source) {
        unpack(source, &unpacked)?;
    } else if is_zip(source) {
        unpack_zip(source, &unpacked)?;
    } else {
        bail!(
            "{} is neither a plugin folder nor a .tar.gz or .zip of one",
            source.display()
        );
    }
    let folder = plugin_folder(&unpacked)?;
    let report = chillfi_plugin_host::check(&folder)
        .map_err(|e| anyhow::anyhow!("{} is not a plugin that loads: {e}", source.display()))?;
    let (Some(name), Some(version)) = (report.plugin_name.clone(), report.plugin_version.clone())
    else {
        bail!("{} has no plugin.toml", source.display());
    };
    let target = plugins_dir.join(&name);
    let replaced = target.exists();
    if replaced {
        // Moved aside, not deleted, until the new one is in place.
        let aside = staging.path().join("previous");
        fs::rename(&target, &aside)
            .with_context(|| format!("moving the installed {name} aside"))?;
    }
    fs::rename(&folder, &target)
        .with_context(|| format!("installing into {}", target.display()))?;
    sync_dir(plugins_dir);
    Ok(Installed {
        name,
        version,
        report,
        replaced,
    })
}

/// Removes the installed plugin `name` from `plugins_dir`; one that only ships with ChillFi (in
/// `packaged_dir`) is refused.
pub fn remove(name: &str, plugins_dir: &Path, packaged_dir: Option<&Path>) -> anyhow::Result<()> {
    ensure!(
        chillfi_plugin_host::valid_name(name),
        "{name:?} is not a plugin name (lowercase letters, digits and dashes)"
    );
    let target = plugins_dir.join(name);
    if let Some(shipped) = packaged_dir.map(|d| d.join(name))
        && !target.is_dir()
        && shipped.is_dir()
    {
        bail!(
            "{name} ships with ChillFi ({}) and cannot be removed; disable it instead \
             (the admin screen's Plugins, or plugin:disable)",
            shipped.display()
        );
    }
    ensure!(
        target.is_dir(),
        "no plugin {name:?} is installed in {}",
        plugins_dir.display()
    );
    // Out of the host's sight in one rename, then deleted.
    let trash = tempfile::Builder::new()
        .prefix(".remove-")
        .tempdir_in(plugins_dir)
        .with_context(|| format!("writing in {}", plugins_dir.display()))?;
    fs::rename(&target, trash.path().join(name))
        .with_context(|| format!("removing {}", target.display()))?;
    sync_dir(plugins_dir);
    Ok(())
}

/// Plugin archives uploaded from the admin screen, one chunk after the other, staged in a
/// folder of their own until the last chunk, then installed like `chillfi plugin install`.
/// An upload belongs to the administrator who started it; one left alone for 10 minutes is
/// dropped when the next one starts.
pub struct PluginUploads {
    dir: PathBuf,
    open: Mutex<HashMap<String, Upload>>,
}

struct Upload {
    file: PathBuf,
    /// The uploaded file's name, which messages use (never the staging path).
    name: String,
    size: u64,
    received: u64,
    by: String,
    touched: Instant,
}

/// Bytes per chunk (the last one holds the rest).
pub const UPLOAD_CHUNK: u64 = 1 << 20;
const UPLOAD_IDLE: Duration = Duration::from_secs(600);

impl PluginUploads {
    /// Uploads staged in `dir`; what a previous run left there is removed.
    pub fn new(dir: PathBuf) -> Self {
        let _ = fs::remove_dir_all(&dir);
        Self {
            dir,
            open: Mutex::default(),
        }
    }

    fn uploads(&self) -> std::sync::MutexGuard<'_, HashMap<String, Upload>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts an upload of a `.tar.gz` of `size` bytes; answers its id.
    pub fn start(&self, by: &str, name: &str, size: u64) -> AppResult<String> {
        if !is_tar_gz(Path::new(name)) && !is_zip(Path::new(name)) {
            return Err(AppError::invalid_field(
                "name",
                "a plugin is uploaded as a .tar.gz or .zip of its folder",
            ));
        }
        if size == 0 || size > MAX_BYTES {
            return Err(AppError::invalid_field(
                "size",
                format!("a plugin archive is 1 byte to {} MB", MAX_BYTES >> 20),
            ));
        }
        let mut open = self.uploads();
        open.retain(|_, u| {
            let keep = u.touched.elapsed() < UPLOAD_IDLE;
            if !keep {
                let _ = fs::remove_file(&u.file);
            }
            keep
        });
        fs::create_dir_all(&self.dir).map_err(AppError::internal)?;
        let id = crate::store::db::new_id();
        let ext = if is_zip(Path::new(name)) {
            "zip"
        } else {
            "tar.gz"
        };
        let file = self.dir.join(format!("{id}.{ext}"));
        fs::File::create(&file).map_err(AppError::internal)?;
        open.insert(
            id.clone(),
            Upload {
                file,
                name: name.to_string(),
                size,
                received: 0,
                by: by.to_string(),
                touched: Instant::now(),
            },
        );
        Ok(id)
    }

    /// Appends chunk `index` (they come in order); answers the bytes received so far.
    pub fn chunk(&self, by: &str, id: &str, index: u64, data: &[u8]) -> AppResult<u64> {
        let mut open = self.uploads();
        let upload = open
            .get_mut(id)
            .filter(|u| u.by == by)
            .ok_or(AppError::NotFound("upload"))?;
        let expected = upload.received / UPLOAD_CHUNK;
        if index != expected {
            return Err(AppError::invalid_field(
                "index",
                format!("chunk {expected} comes next"),
            ));
        }
        let want = UPLOAD_CHUNK.min(upload.size - upload.received);
        if data.len() as u64 != want {
            return Err(AppError::invalid_field(
                "data",
                format!("chunk {index} holds {want} bytes"),
            ));
        }
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&upload.file)
            .map_err(AppError::internal)?;
        std::io::Write::write_all(&mut file, data).map_err(AppError::internal)?;
        upload.received += want;
        upload.touched = Instant::now();
        Ok(upload.received)
    }

    /// Installs a complete upload into `plugins_dir` (see [`install`]); the staged archive goes
    /// either way.
    pub fn finish(&self, by: &str, id: &str, plugins_dir: &Path) -> AppResult<Installed> {
        let upload = {
            let mut open = self.uploads();
            match open.get(id) {
                Some(u) if u.by == by && u.received < u.size => {
                    return Err(AppError::Conflict(format!(
                        "{} of {} bytes received",
                        u.received, u.size
                    )));
                }
                Some(u) if u.by == by => open.remove(id),
                _ => None,
            }
        }
        .ok_or(AppError::NotFound("upload"))?;
        let installed = install(&upload.file, plugins_dir);
        let _ = fs::remove_file(&upload.file);
        installed.map_err(|e| {
            let staged = upload.file.display().to_string();
            AppError::invalid(format!("{e:#}").replace(&staged, &upload.name))
        })
    }
}

fn is_zip(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase());
    name.is_some_and(|n| n.ends_with(".zip"))
}

fn is_tar_gz(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase());
    name.is_some_and(|n| n.ends_with(".tar.gz") || n.ends_with(".tgz"))
}

/// The folder holding `plugin.toml`: the unpacked root, or the one folder in it (archives made
/// with `tar czf x.tar.gz name/` have one).
fn plugin_folder(unpacked: &Path) -> anyhow::Result<PathBuf> {
    if unpacked.join("plugin.toml").is_file() {
        return Ok(unpacked.to_path_buf());
    }
    let entries: Vec<PathBuf> = fs::read_dir(unpacked)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    match entries.as_slice() {
        [only] if only.join("plugin.toml").is_file() => Ok(only.clone()),
        _ => bail!("no plugin.toml at the top of the plugin (or of its one folder)"),
    }
}

/// Copies the regular files of a plugin folder (flat: plugins have no subfolders).
fn copy_folder(source: &Path, to: &Path) -> anyhow::Result<()> {
    let mut files = 0;
    let mut bytes = 0u64;
    for entry in fs::read_dir(source).with_context(|| format!("reading {}", source.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = entry.file_name();
        if kind.is_symlink() {
            bail!(
                "{} is a symbolic link: a plugin holds its files themselves",
                entry.path().display()
            );
        }
        if !kind.is_file() {
            continue;
        }
        files += 1;
        bytes += entry.metadata()?.len();
        ensure!(files <= MAX_FILES, "a plugin has at most {MAX_FILES} files");
        ensure!(
            bytes <= MAX_BYTES,
            "a plugin is at most {} MB",
            MAX_BYTES >> 20
        );
        fs::copy(entry.path(), to.join(&name))
            .with_context(|| format!("copying {}", entry.path().display()))?;
    }
    Ok(())
}

/// Unpacks a `.tar.gz`: only regular files and folders, every path relative and inside, within
/// the size and file limits. Anything else refuses the whole archive.
fn unpack(archive: &Path, to: &Path) -> anyhow::Result<()> {
    let file = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = 0;
    let mut bytes = 0u64;
    let damaged =
        |e: std::io::Error| anyhow::anyhow!("{} is not a readable .tar.gz: {e}", archive.display());
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let path = entry.path().map_err(damaged)?.into_owned();
        let safe = !path.as_os_str().is_empty()
            && path
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        ensure!(
            safe,
            "the archive holds {:?}: only paths inside the plugin are allowed",
            path
        );
        let dest = to.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&dest)?;
                continue;
            }
            tar::EntryType::Regular => {}
            // pax/GNU metadata records describe the next entry; they are not files.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            other => bail!(
                "the archive holds {:?} of type {other:?}: only files and folders are allowed",
                path
            ),
        }
        // The header's size is the archive's claim; the copy is bounded by the limit either way.
        extract_file(&mut entry, &dest, &mut files, &mut bytes)?;
    }
    Ok(())
}

/// Writes one archive member to `dest`, counting it against the file and size limits (what
/// comes out, not what the archive claims).
fn extract_file(
    entry: &mut impl Read,
    dest: &Path,
    files: &mut usize,
    bytes: &mut u64,
) -> anyhow::Result<()> {
    *files += 1;
    ensure!(
        *files <= MAX_FILES,
        "a plugin has at most {MAX_FILES} files"
    );
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut out = fs::File::create(dest)?;
    let left = MAX_BYTES - *bytes;
    *bytes += std::io::copy(&mut entry.take(left + 1), &mut out)?;
    ensure!(
        *bytes <= MAX_BYTES,
        "a plugin is at most {} MB unpacked",
        MAX_BYTES >> 20
    );
    Ok(())
}

/// Unpacks a `.zip` under the same rules as [`unpack`]: files and folders only (no symbolic
/// links), every path inside, within the size and file limits (counted as read, not as claimed).
fn unpack_zip(archive: &Path, to: &Path) -> anyhow::Result<()> {
    let file = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let damaged = |e: zip::result::ZipError| {
        anyhow::anyhow!("{} is not a readable .zip: {e}", archive.display())
    };
    let mut zip = zip::ZipArchive::new(file).map_err(damaged)?;
    ensure!(
        zip.len() <= MAX_FILES * 2,
        "a plugin has at most {MAX_FILES} files"
    );
    let mut files = 0;
    let mut bytes = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(damaged)?;
        let Some(path) = entry.enclosed_name() else {
            bail!(
                "the archive holds {:?}: only paths inside the plugin are allowed",
                entry.name()
            );
        };
        ensure!(
            !entry.is_symlink(),
            "the archive holds {:?}, a symbolic link: only files and folders are allowed",
            path
        );
        let dest = to.join(&path);
        if entry.is_dir() {
            fs::create_dir_all(&dest)?;
            continue;
        }
        extract_file(&mut entry, &dest, &mut files, &mut bytes)
            .with_context(|| format!("unpacking {}", archive.display()))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the raw name as a hostile archive would.
            let raw = &mut header.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            tar.append(&header, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        (dir, path)
    }

    fn refused(result: anyhow::Result<()>) -> String {
        format!("{:#}", result.expect_err("refused"))
    }

    #[test]
    fn archives_with_paths_outside_or_too_much_are_refused_and_change_nothing() {
        let plugins = tempfile::tempdir().unwrap();
        for (entries, why) in [
            (vec![("../evil.txt", &b"x"[..])], "inside the plugin"),
            (vec![("/etc/evil", &b"x"[..])], "inside the plugin"),
            (vec![("a/../../evil", &b"x"[..])], "inside the plugin"),
        ] {
            let (_keep, archive) = tar_gz(&entries);
            let err = refused(install(&archive, plugins.path()).map(drop));
            assert!(err.contains(why), "{err}");
        }
        let big = vec![0u8; (MAX_BYTES + 1) as usize];
        let (_keep, archive) = tar_gz(&[("plugin.toml", &big[..])]);
        let err = refused(install(&archive, plugins.path()).map(drop));
        assert!(err.contains("at most 64 MB"), "{err}");
        let (_keep, archive) = tar_gz(&[("readme.txt", b"hello")]);
        let err = refused(install(&archive, plugins.path()).map(drop));
        assert!(err.contains("no plugin.toml"), "{err}");
        // Nothing left behind: no plugin, no staging folder, nothing above.
        assert_eq!(fs::read_dir(plugins.path()).unwrap().count(), 0);
        assert!(!plugins.path().parent().unwrap().join("evil.txt").exists());
    }

    fn zip(build: impl FnOnce(&mut zip::ZipWriter<fs::File>)) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.zip");
        let mut w = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        build(&mut w);
        w.finish().unwrap();
        (dir, path)
    }

    #[test]
    fn hostile_zips_are_refused_and_change_nothing() {
        use std::io::Write;
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let plugins = tempfile::tempdir().unwrap();
        let file = |name: &'static str, data: Vec<u8>| {
            move |w: &mut zip::ZipWriter<fs::File>| {
                w.start_file(name, opts).unwrap();
                w.write_all(&data).unwrap();
            }
        };
        let cases: Vec<((tempfile::TempDir, PathBuf), &str)> = vec![
            (zip(file("../evil.txt", b"x".to_vec())), "inside the plugin"),
            (zip(file("/etc/evil", b"x".to_vec())), "inside the plugin"),
            (
                zip(file("a/../../evil", b"x".to_vec())),
                "inside the plugin",
            ),
            (
                zip(|w| w.add_symlink("plugin.toml", "/etc/passwd", opts).unwrap()),
                "symbolic link",
            ),
            // 65 MB of zeros deflate to about 64 KB: the limit counts what comes out.
            (
                zip(file("plugin.toml", vec![0u8; (MAX_BYTES + 1) as usize])),
                "at most 64 MB unpacked",
            ),
            (zip(file("readme.txt", b"hello".to_vec())), "no plugin.toml"),
        ];
        for ((_keep, archive), why) in cases {
            let err = refused(install(&archive, plugins.path()).map(drop));
            assert!(err.contains(why), "{why}: {err}");
        }
        let elsewhere = tempfile::tempdir().unwrap();
        let damaged = elsewhere.path().join("damaged.zip");
        fs::write(&damaged, b"PK\x03\x04 not really").unwrap();
        let err = refused(install(&damaged, plugins.path()).map(drop));
        assert!(err.contains("not a readable .zip"), "{err}");
        assert_eq!(fs::read_dir(plugins.path()).unwrap().count(), 0);
    }

    #[test]
    fn remove_wants_an_installed_plugin_name() {
        let plugins = tempfile::tempdir().unwrap();
        for name in ["../x", "", "Upper"] {
            assert!(remove(name, plugins.path(), None).is_err(), "{name:?}");
        }
        let err = refused(remove("absent", plugins.path(), None));
        assert!(err.contains("no plugin \"absent\""), "{err}");
    }
}
