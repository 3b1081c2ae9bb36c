//! A real S3 server (SeaweedFS) for tests. Written by the storage crate's author.
//!
//! [`S3Server::start`] runs `weed mini` (one process: master, volume, filer, S3 gateway) on
//! free ports in a fresh temp directory, with random credentials so that request signatures
//! and presigned URLs are really verified. Startup takes about a second; each test can have
//! its own server. Dropping the server kills it and removes its data.
//!
//! The `weed` binary comes from `$WEED_BIN`, else `weed` on `PATH`, else
//! `/var/tmp/chillfi-tools/venv/bin/weed` (what `.ci/install-s3.sh` installs). Without it,
//! `start` panics: storage tests never skip silently.
//!
//! ```no_run
//! let s3 = chillfi_testkit::s3::S3Server::start();
//! // point the client at s3.endpoint with s3.access_key / s3.secret_key / s3.region
//! ```

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// Where `.ci/install-s3.sh` installs `weed`.
pub const DEFAULT_WEED: &str = "/var/tmp/chillfi-tools/venv/bin/weed";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Drop waits after SIGTERM before SIGKILL (weed itself needs 3-8 s to exit cleanly).
const TERM_GRACE: Duration = Duration::from_millis(300);
/// Services whose gRPC port weed also exposes as `/tmp/seaweedfs-<svc>-grpc-<port>.sock`.
const GRPC_SOCKET_SERVICES: &[&str] = &["master", "volume", "filer", "s3", "admin"];

/// A running SeaweedFS with its S3 gateway on `endpoint`.
pub struct S3Server {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// Any region is accepted; this is the one to sign with.
    pub region: String,
    /// The S3 port.
    pub port: u16,
    /// How long `start` took until the S3 gateway answered.
    pub startup: Duration,
    child: Option<Child>,
    ports: Vec<u16>,
    dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server and waits until its S3 gateway is healthy.
    /// Panics (with the weed log) if that fails, or if `weed` is not installed.
    pub fn start() -> S3Server {
        let weed = weed_binary();
        let mut failures = Vec::new();
        // A "free" port can be taken by someone else before weed binds it: retry with new ones.
        for _ in 0..3 {
            match try_start(&weed) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "SeaweedFS ({}) did not start:\n{}",
            weed.display(),
            failures.join("\n--- next attempt ---\n")
        );
    }

    /// The weed log so far (stdout and stderr).
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
        remove_grpc_sockets(&self.ports);
        release_ports(&self.ports);
    }
}

/// The `weed` binary to use; panics with install instructions when there is none.
pub fn weed_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WEED_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "WEED_BIN={} does not exist: run .ci/install-s3.sh",
            path.display()
        );
        return path;
    }
    if let Some(path) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("weed"))
        .find(|p| p.is_file())
    {
        return path;
    }
    let default = PathBuf::from(DEFAULT_WEED);
    assert!(
        default.is_file(),
        "SeaweedFS `weed` not found (WEED_BIN, PATH, {DEFAULT_WEED}): run .ci/install-s3.sh"
    );
    default
}

fn try_start(weed: &Path) -> Result<S3Server, String> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("chillfi-weed-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let tmp = dir.path().join("tmp");
    fs::create_dir(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let log_path = dir.path().join("weed.log");
    let log = File::create(&log_path).map_err(|e| format!("cannot create the log: {e}"))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("cannot clone the log handle: {e}"))?;

    let ports = reserve_ports();
    let [
        s3,
        s3_grpc,
        master,
        master_grpc,
        volume,
        volume_grpc,
        filer,
        filer_grpc,
        admin,
        admin_grpc,
    ] = ports[..]
    else {
        unreachable!("reserve_ports returns 10 ports")
    };
    let access_key = format!("AK{}", random_hex()).to_uppercase();
    let secret_key = format!("{}{}", random_hex(), random_hex());

    let d = dir.path().display();
    let args = vec![
        "mini".to_string(),
        format!("-dir={d}"),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        "-webdav=false".into(),
        "-admin.ui=false".into(),
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
        "-master.telemetry=false".into(),
        format!("-s3.port={s3}"),
        format!("-s3.port.grpc={s3_grpc}"),
        format!("-master.port={master}"),
        format!("-master.port.grpc={master_grpc}"),
        format!("-volume.port={volume}"),
        format!("-volume.port.grpc={volume_grpc}"),
        format!("-filer.port={filer}"),
        format!("-filer.port.grpc={filer_grpc}"),
        format!("-admin.port={admin}"),
        // weed's built-in worker dials the admin at http port + 10000 whatever this says.
        format!("-admin.port.grpc={admin_grpc}"),
        format!("-filer.localSocket={d}/filer.sock"),
        format!("-s3.localSocket={d}/s3.sock"),
    ];
    // Kill weed if this test process dies without running Drop (e.g. SIGKILL, abort).
    let setpriv = Path::new("/usr/bin/setpriv");
    let mut cmd = if setpriv.is_file() {
        let mut c = Command::new(setpriv);
        c.arg("--pdeathsig").arg("KILL").arg("--").arg(weed);
        c
    } else {
        Command::new(weed)
    };
    cmd.args(&args)
        .env("AWS_ACCESS_KEY_ID", &access_key)
        .env("AWS_SECRET_ACCESS_KEY", &secret_key)
        // glog writes its files under TMPDIR: keep them in the server's dir.
        .env("TMPDIR", &tmp)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let child = spawn_from_long_lived_thread(cmd)
        .map_err(|e| format!("cannot run {}: {e}", weed.display()))?;

    // From here on, Drop cleans up whatever happens.
    let mut server = S3Server {
        endpoint: format!("http://127.0.0.1:{s3}"),
        access_key,
        secret_key,
        region: "us-east-1".to_string(),
        port: s3,
        startup: Duration::ZERO,
        child: Some(child),
        ports,
        dir,
    };
    let deadline = started + READY_TIMEOUT;
    loop {
        if let Some(child) = server.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!(
                "weed exited early ({status}); args {args:?}; log:\n{}",
                tail(&server.log())
            ));
        }
        if http_status(s3, "/healthz") == Some(200) {
            server.startup = started.elapsed();
            return Ok(server);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "S3 gateway on port {s3} not healthy after {READY_TIMEOUT:?}; args {args:?}; log:\n{}",
                tail(&server.log())
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Spawns `cmd` from a thread that lives as long as the process. The parent-death signal set by
/// `setpriv --pdeathsig` fires when the spawning *thread* exits: spawned from a test's (or
/// tokio's blocking pool's) thread, weed could be killed in the middle of a test.
fn spawn_from_long_lived_thread(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("chillfi-testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("cannot start the testkit's spawner thread");
        tx
    });
    let gone = || std::io::Error::other("the testkit's spawner thread is gone");
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner.send((cmd, reply_tx)).map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())?
}

/// Status code of `GET path` on 127.0.0.1:port, if it answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn terminate(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// weed leaves `/tmp/seaweedfs-<svc>-grpc-<port>.sock` behind when killed.
fn remove_grpc_sockets(ports: &[u16]) {
    use std::os::unix::fs::FileTypeExt;
    for port in ports {
        for svc in GRPC_SOCKET_SERVICES {
            let path = PathBuf::from(format!("/tmp/seaweedfs-{svc}-grpc-{port}.sock"));
            if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Ports handed out to servers of this process that are still alive.
static RESERVED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Ten distinct free ports; the last one is the ninth plus 10 000 (see `-admin.port.grpc`).
fn reserve_ports() -> Vec<u16> {
    let mut guard = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    let reserved = guard.get_or_insert_with(HashSet::new);
    let mut ports = Vec::with_capacity(10);
    let mut tries = 0;
    while ports.len() < 10 {
        tries += 1;
        assert!(tries < 10_000, "cannot find 10 free ports on 127.0.0.1");
        let port = crate::free_port();
        if reserved.contains(&port) || ports.contains(&port) {
            continue;
        }
        if ports.len() == 8 {
            // The admin port: its +10 000 companion must be free too.
            let Some(companion) = port.checked_add(10_000) else {
                continue;
            };
            if reserved.contains(&companion)
                || ports.contains(&companion)
                || std::net::TcpListener::bind(("127.0.0.1", companion)).is_err()
            {
                continue;
            }
            ports.push(port);
            ports.push(companion);
        } else {
            ports.push(port);
        }
    }
    reserved.extend(ports.iter().copied());
    ports
}

fn release_ports(ports: &[u16]) {
    let mut guard = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(reserved) = guard.as_mut() {
        for port in ports {
            reserved.remove(port);
        }
    }
}

fn read_log(dir: &Path) -> String {
    fs::read(dir.join("weed.log"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(no weed log: {e})"))
}

/// The end of a log, at most ~8 KB.
fn tail(log: &str) -> &str {
    let mut start = log.len().saturating_sub(8 * 1024);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// 16 hex digits that differ between calls and processes (std only; not for cryptography).
fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    format!("{:016x}", h.finish())
}
