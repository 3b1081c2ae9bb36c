//! The command line: argument parsing and the administration commands.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{self, Stores};
use crate::bus::Bus;
use crate::config::{Config, Sources};
use crate::control::{self, Request, client::Sent};
use crate::service::admin::{self, Admin};
use crate::service::{self, ingest};
use crate::store::{db, songs};

#[derive(Parser)]
#[command(
    name = "chillfi",
    version,
    about = "ChillFi: a self-hosted music server"
)]
struct Cli {
    /// Configuration file (default: /etc/chillfi/config.toml when it exists).
    #[arg(long, global = true, value_name = "PATH", env = "CHILLFI_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, secrets, blobs, inbox); overrides the configuration.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// ADDR:PORT to listen on; overrides the configuration.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// Log as JSON lines instead of human-readable text.
        #[arg(long)]
        log_json: bool,
    },
    /// Manage users (through the running server, or directly when none runs).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Import every audio file under DIR once (the files are left in place); a running server
    /// does the work and reports each file.
    Import {
        dir: PathBuf,
        /// Username credited with the songs (default: the first administrator).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Write a backup of the metadata, the secrets and the plugins' state (and with
    /// --with-blobs the local blob folder) to FILE, while the server runs or not.
    Backup {
        file: PathBuf,
        #[arg(long)]
        with_blobs: bool,
    },
    /// Restore a backup into --data-dir, which must be new or empty (no server on it).
    Restore { file: PathBuf },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Inspect plugins: the installed ones, or a component before installing it.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Benchmarks only: adds COUNT synthetic songs that all share the stored file MP3.
    #[command(hide = true)]
    SeedLibrary {
        count: usize,
        #[arg(long, value_name = "FILE")]
        mp3: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. Without --password-file, prints a one-time reset token to hand over.
    Add {
        name: String,
        #[arg(long)]
        admin: bool,
        /// File whose first line is the password (keeps it out of the shell history).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Clear a user's password, sign them out everywhere and print a new reset token.
    Reset { name: String },
    /// List users.
    List,
    /// Create a Subsonic API credential for a user and print it (shown this once): an API key,
    /// or with --app-password an app password for apps that only know username + password.
    Key {
        name: String,
        #[arg(long)]
        label: String,
        #[arg(long)]
        app_password: bool,
    },
    /// List a user's Subsonic app credentials (ids, labels, last use; never the secrets).
    Keys { name: String },
    /// Revoke one of a user's Subsonic app credentials by id (`user keys NAME` lists them).
    RevokeKey { name: String, id: String },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// List the plugins in the configured plugins folder with their state.
    List,
    /// Load a plugin folder (plugin.toml + component) or a .wasm component without installing
    /// it, and report its world, WIT version and kind. Exits nonzero when it cannot be loaded.
    Check { path: PathBuf },
    /// Install a plugin folder or a .tar.gz of one into the plugins folder (checked first; an
    /// installed plugin of that name is replaced). A running server loads it by itself.
    Install { path: PathBuf },
    /// Remove an installed plugin from the plugins folder (its saved settings are kept).
    Remove { name: String },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets masked.
    Check,
}

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chillfi: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen, .. } => listen.clone(),
        _ => None,
    };
    let sources = Sources {
        file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        listen,
    };
    let cfg = Config::load(&sources)?;
    match cli.command {
        Command::Serve { log_json, .. } => {
            crate::logging::init(&cfg, log_json);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(crate::serve::serve(cfg))
        }
        Command::User { command } => user_command(&cfg, command),
        Command::Import { dir, owner } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(import(cfg, dir, owner)),
        Command::SeedLibrary { count, mp3 } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(seed_library(cfg, count, mp3)),
        Command::Plugin { command } => plugin_command(&cfg, command),
        Command::Backup { file, with_blobs } => backup(&cfg, &file, with_blobs),
        Command::Restore { file } => {
            let archive = std::fs::File::open(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let manifest =
                service::backup::restore(std::io::BufReader::new(archive), &cfg.data_dir)?;
            println!(
                "restored {} files and {} database trees from {} (made by ChillFi {}) into {}",
                manifest.files.len(),
                manifest.trees.len(),
                file.display(),
                manifest.version,
                cfg.data_dir.display()
            );
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            print!("{}", cfg.to_masked_toml());
            eprintln!("configuration is valid");
            Ok(())
        }
    }
}

/// Synthetic metadata over one real blob, so list/search/play benchmarks see a big library.
async fn seed_library(cfg: Config, count: usize, mp3: PathBuf) -> anyhow::Result<()> {
    use sha2::Digest;
    require_data_dir(&cfg)?;
    let stores = Stores::open(&cfg)?;
    let owner = stores
        .users
        .list()?
        .into_iter()
        .next()
        .context("create a user first")?;
    let bytes = std::fs::read(&mp3).with_context(|| format!("reading {}", mp3.display()))?;
    let hash = hex::encode(sha2::Sha256::digest(&bytes));
    let blobs = app::open_blob_store(&cfg).await?;
    blobs
        .put_file(&songs::song_blob_key(&hash), &mp3, "audio/mpeg")
        .await
        .map_err(|e| anyhow::anyhow!("storing the blob: {e:?}"))?;
    const WORDS: &[&str] = &[
        "love", "night", "blue", "river", "fire", "dream", "city", "heart", "rain", "gold",
        "summer", "ghost", "light", "road", "ocean", "wild", "echo", "velvet", "stone", "Café",
    ];
    let word = |n: usize| WORDS[n % WORDS.len()];
    let now = db::now_secs();
    for i in 0..count {
        let artist = format!("{} {}", word(i / 7), word(i / 151 + 3));
        let album = format!("{} {} {}", word(i / 13), word(i / 17 + 5), i / 12);
        let song = songs::Song {
            id: db::new_id(),
            title: format!("{} {} {i}", word(i), word(i / 3 + 1)),
            album_id: songs::album_id(&artist, &album),
            artist_id: songs::artist_id(&artist),
            artist: artist.clone(),
            album,
            album_artist: artist,
            track: Some((i % 12 + 1) as u32),
            track_total: Some(12),
            disc: None,
            disc_total: None,
            year: Some(1960 + (i % 60) as i32),
            genre: word(i / 5).into(),
            duration_ms: 180_000 + (i % 120) as u64 * 1000,
            bitrate: 320_000,
            sample_rate: 44_100,
            channels: 2,
            source_hash: hex::encode(sha2::Sha256::digest(format!("seed {i}"))),
            hash: hash.clone(),
            size_bytes: bytes.len() as u64,
            cover_key: None,
            uploader_id: owner.id.clone(),
            original_name: format!("seed-{i}.mp3"),
            conversion: "remuxed".into(),
            created_at: now - (count - i) as i64,
            updated_at: now,
            music_brainz: Default::default(),
        };
        let _duplicate = stores.songs.insert(&song)?;
    }
    stores.close(&cfg)?;
    eprintln!("{} songs in the library", stores.songs.count());
    Ok(())
}

async fn import(cfg: Config, dir: PathBuf, owner: Option<String>) -> anyhow::Result<()> {
    require_data_dir(&cfg)?;
    // The server reads the folder itself: give it a path that means the same there.
    let dir = std::path::absolute(&dir).with_context(|| format!("reading {}", dir.display()))?;
    let request = Request::Import {
        dir: dir.clone(),
        owner: owner.clone(),
    };
    if let Sent::Done = send_to_server(&cfg, &request)? {
        return Ok(());
    }
    let stores = open_stores(&cfg)?;
    let owner = admin_of(&stores, &cfg).import_owner(owner.as_deref())?;
    let blobs = app::open_blob_store(&cfg).await?;
    // Nobody listens during an import: what the pipeline announces goes nowhere.
    let bus = Bus::new();
    // Enrichers run on imports too (no folder watching: the import is over soon).
    let plugins = app::open_plugin_host(&cfg);
    let ingest = ingest::Ingest::new(&cfg, &stores.db, stores.songs.clone(), blobs, bus, plugins)?;
    ingest.recover().await?;
    let out: ingest::import::Output = std::sync::Arc::new(|line: String| println!("{line}"));
    // Ctrl-C: the files not finished are cancelled, the summary still printed.
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let failed = ingest::import::import_dir(&ingest, &dir, &owner.id, out, stop).await?;
    stores.close(&cfg)?;
    anyhow::ensure!(failed == 0, "{failed} file(s) could not be imported");
    Ok(())
}

/// Written next to FILE and renamed at the end: a failed backup leaves no half archive.
fn backup(cfg: &Config, file: &std::path::Path, with_blobs: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    require_data_dir(cfg)?;
    let partial = file.with_extension("partial");
    let mut out = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?,
    );
    let request = Request::Backup { with_blobs };
    let result = (|| -> anyhow::Result<()> {
        let sent = control::client::send_to(
            &control::socket_path(&cfg.data_dir),
            &request,
            Some(&mut out),
        )?;
        if let Sent::NoServer = sent {
            let stores = open_stores(cfg)?;
            service::backup::write(cfg, &stores.db, with_blobs, &mut out)?;
            stores.close(cfg)?;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            std::fs::rename(&partial, file)
                .with_context(|| format!("renaming {}", partial.display()))?;
            println!("backup written to {}", file.display());
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn send_to_server(cfg: &Config, request: &Request) -> anyhow::Result<Sent> {
    control::client::send(&control::socket_path(&cfg.data_dir), request)
}

/// The database, when no server answered on the control socket.
fn open_stores(cfg: &Config) -> anyhow::Result<Stores> {
    Stores::open(cfg).map_err(|e| {
        anyhow::anyhow!(
            "the database in {} is in use by another process, and no server answers on {} \
             (is a server of another version running, or one still starting?): {e}",
            cfg.db_dir().display(),
            control::socket_path(&cfg.data_dir).display()
        )
    })
}

fn admin_of<'a>(stores: &'a Stores, cfg: &'a Config) -> Admin<'a> {
    Admin {
        users: &stores.users,
        app_keys: &stores.app_keys,
        auth: &cfg.auth,
    }
}

fn print_lines(lines: Vec<String>) {
    for line in lines {
        println!("{line}");
    }
}

fn plugin_command(cfg: &Config, command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Check { path } => {
            let report = chillfi_plugin_host::check(&path)
                .map_err(|e| anyhow::anyhow!("{} cannot be loaded: {e}", path.display()))?;
            if let (Some(name), Some(version)) = (&report.plugin_name, &report.plugin_version) {
                println!("plugin:  {name} {version}");
            }
            println!("world:   {}", report.world);
            println!("wit:     {}", report.package_version);
            println!("kind:    {}", report.kind);
            println!("size:    {} bytes", report.size_bytes);
            println!("imports: {}", report.imports.join(", "));
            println!("exports: {}", report.exports.join(", "));
            println!("ok: {} loads", path.display());
            Ok(())
        }
        PluginCommand::Install { path } => {
            let dir = cfg.plugins_dir();
            let installed = service::plugin_files::install(&path, &dir)?;
            println!(
                "{} {} {} ({}, {}) into {}",
                if installed.replaced {
                    "replaced"
                } else {
                    "installed"
                },
                installed.name,
                installed.version,
                installed.report.kind,
                installed.report.world,
                dir.display()
            );
            println!(
                "a running server loads it within seconds: `chillfi plugin list` shows its state"
            );
            Ok(())
        }
        PluginCommand::Remove { name } => {
            let dir = cfg.plugins_dir();
            service::plugin_files::remove(&name, &dir, cfg.packaged_plugins_dir().as_deref())?;
            println!("removed {name} from {}", dir.display());
            Ok(())
        }
        PluginCommand::List => {
            require_data_dir(cfg)?;
            if let Sent::Done = send_to_server(cfg, &Request::PluginList)? {
                return Ok(());
            }
            anyhow::ensure!(
                cfg.plugins.enabled,
                "plugins are turned off in the configuration ([plugins] enabled = false)"
            );
            let host = chillfi_plugin_host::PluginHost::new(cfg.plugin_host_config())
                .context("loading the plugins")?;
            print_lines(admin::plugin_list(&host, &cfg.plugins_dir()));
            Ok(())
        }
    }
}

/// Administration commands work on an existing data dir; refusing the implicit default when it
/// is absent avoids silently creating `./chillfi-data` next to wherever the admin stands.
fn require_data_dir(cfg: &Config) -> anyhow::Result<()> {
    let default = Config::default().data_dir;
    anyhow::ensure!(
        cfg.data_dir != default || cfg.db_dir().exists(),
        "no ChillFi data in {}: pass --data-dir (the package uses /var/lib/chillfi) or start the server once",
        cfg.data_dir.display()
    );
    Ok(())
}

fn user_command(cfg: &Config, command: UserCommand) -> anyhow::Result<()> {
    require_data_dir(cfg)?;
    let request = match command {
        UserCommand::Add {
            name,
            admin,
            password_file,
        } => {
            let password = match password_file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Some(text.lines().next().unwrap_or_default().to_string())
                }
                None => None,
            };
            Request::UserAdd {
                name,
                admin,
                password,
            }
        }
        UserCommand::Reset { name } => Request::UserReset { name },
        UserCommand::List => Request::UserList,
        UserCommand::Key {
            name,
            label,
            app_password,
        } => Request::KeyCreate {
            name,
            label,
            app_password,
        },
        UserCommand::Keys { name } => Request::KeyList { name },
        UserCommand::RevokeKey { name, id } => Request::KeyRevoke { name, id },
    };
    if let Sent::Done = send_to_server(cfg, &request)? {
        return Ok(());
    }
    let stores = open_stores(cfg)?;
    let admin = admin_of(&stores, cfg);
    let lines = match request {
        Request::UserAdd {
            name,
            admin: is_admin,
            password,
        } => admin.user_add(&name, is_admin, password.as_deref())?,
        Request::UserReset { name } => admin.user_reset(&name)?,
        Request::UserList => admin.user_list()?,
        Request::KeyCreate {
            name,
            label,
            app_password,
        } => admin.key_create(&name, &label, app_password)?,
        Request::KeyList { name } => admin.key_list(&name)?,
        Request::KeyRevoke { name, id } => admin.key_revoke(&name, &id)?,
        Request::PluginList | Request::Import { .. } | Request::Backup { .. } => Vec::new(),
    };
    print_lines(lines);
    stores.close(cfg)?;
    Ok(())
}
