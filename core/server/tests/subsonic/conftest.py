"""Starts the real chillfi binary for each test (own temp data dir, free port, local storage),
with a small library imported from media made by ffmpeg, and users with app credentials made by
the CLI. Mirrors core/server/tests/socket/harness.mjs."""

import asyncio
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from libopensonic._async.connection import AsyncConnection

REPO = Path(__file__).resolve().parents[4]
BIN = os.environ.get("TEST_CHILLFI_BIN") or str(
    Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "chillfi"
)

ADMIN = ("admin", "admin-pass-1")
ALICE = ("alice", "alice-pass-1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(data_dir, *args):
    return subprocess.run(
        [BIN, "--data-dir", str(data_dir), *args],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout


def ffmpeg(out, *args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out)], check=True, timeout=120)
    return out


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """Three songs made once per session (read-only): two on one album with a 600x400 PNG
    cover (the first with timed LRC lyrics, the second with plain ones), one on another album
    without a cover or lyrics."""
    d = tmp_path_factory.mktemp("media")
    cover = ffmpeg(d / "cover.png", "-f", "lavfi", "-i", "testsrc=s=600x400", "-frames:v", "1")

    def song(name, freq, title, artist, album, genre, year, track, with_cover, lyrics=None,
             recording=None):
        args = ["-f", "lavfi", "-i", f"sine=f={freq}:d=3"]
        if with_cover:
            args += ["-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:v", "png",
                     "-disposition:v", "attached_pic"]
        args += ["-metadata", f"title={title}", "-metadata", f"artist={artist}",
                 "-metadata", f"album={album}", "-metadata", f"album_artist={artist}",
                 "-metadata", f"genre={genre}", "-metadata", f"date={year}",
                 "-metadata", f"track={track}", "-c:a", "flac"]
        if lyrics:
            args += ["-metadata", f"lyrics={lyrics}"]
        if recording:
            args += ["-metadata", f"MUSICBRAINZ_TRACKID={recording}"]
        return ffmpeg(d / name, *args)

    song("a.flac", 440, "Alpha One", "Band A", "First Album", "Rock", 2020, 1, True,
         lyrics="[ar:Band A]\n[00:00.50]Hello there\n[00:01.80]Goodbye now",
         recording="6a0ab9e8-8b2f-4c3e-9d1a-0123456789ab")
    song("b.flac", 550, "Beta Two", "Band A", "First Album", "Rock", 2020, 2, True,
         lyrics="First line\nSecond line")
    song("c.flac", 660, "Gamma Three", "Solo B", "Second Album", "Jazz", 1999, 1, False)
    return d


class Server:
    def __init__(self, data_dir):
        self.data_dir = Path(data_dir)
        self.logs = ""
        self.proc = None

    def start(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CHILLFI_LOG__LEVEL": "info"}
        self.log_file = open(self.data_dir / "server.log", "w")
        self.proc = subprocess.Popen(
            [BIN, "--data-dir", str(self.data_dir), "serve", "--listen", f"127.0.0.1:{self.port}"],
            env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chillfi exited early:\n{self.read_logs()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"chillfi did not become ready:\n{self.read_logs()}")

    def read_logs(self):
        return (self.data_dir / "server.log").read_text(errors="replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log_file", None):
            self.log_file.close()

    def get(self, method, params=None, post=False, headers=None):
        """A raw request: (status, headers, body bytes)."""
        query = urllib.parse.urlencode(params or {}, doseq=True)
        url = f"{self.url}/rest/{method}"
        if post:
            req = urllib.request.Request(url, data=query.encode(), headers={
                "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        else:
            req = urllib.request.Request(f"{url}?{query}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()


def make_key(data_dir, user, label, app_password=False):
    args = ["user", "key", user, "--label", label]
    if app_password:
        args.append("--app-password")
    out = cli(data_dir, *args)
    return out.strip().splitlines()[-1].strip()


class Client:
    """py-opensonic's AsyncConnection on a private loop; binary answers read inside it."""

    def __init__(self, server, **auth):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.conn = AsyncConnection("http://127.0.0.1", port=server.port, server_path="",
                                    app_name="pytest", **auth)

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def __getattr__(self, name):
        method = getattr(self.conn, name)
        return lambda *a, **kw: self.run(method(*a, **kw))

    def binary(self, name, *args, **kwargs):
        async def go():
            res = await getattr(self.conn, name)(*args, **kwargs)
            body = await res.read()
            return res.status, dict(res.headers), body
        return self.run(go())

    def close(self):
        self.run(self.conn.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class Env:
    def __init__(self, server, keys):
        self.server = server
        self.keys = keys
        self.clients = []

    def client(self, **auth):
        c = Client(self.server, **auth)
        self.clients.append(c)
        return c

    def api_key(self, who="admin"):
        return self.client(api_key=self.keys[f"{who}_api"])

    def token_auth(self, who="admin"):
        return self.client(username=who, password=self.keys[f"{who}_pw"])

    def enc_auth(self, who="admin"):
        return self.client(username=who, password=self.keys[f"{who}_pw"], legacy_auth=True)


@pytest.fixture
def env(tmp_path, media):
    data = tmp_path / "data"
    data.mkdir()
    for name, pw in (ADMIN, ALICE):
        pw_file = tmp_path / f"pw-{name}"
        pw_file.write_text(pw + "\n")
        args = ["user", "add", name, "--password-file", str(pw_file)]
        if name == "admin":
            args.append("--admin")
        cli(data, *args)
    inbox = tmp_path / "import"
    shutil.copytree(media, inbox)
    (inbox / "cover.png").unlink()
    cli(data, "import", str(inbox), "--owner", "admin")
    keys = {
        "admin_api": make_key(data, "admin", "pytest api"),
        "admin_pw": make_key(data, "admin", "pytest pw", app_password=True),
        "alice_api": make_key(data, "alice", "alice api"),
        "alice_pw": make_key(data, "alice", "alice pw", app_password=True),
    }
    server = Server(data).start()
    e = Env(server, keys)
    try:
        yield e
    finally:
        for c in e.clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing must not hide the test's own failure
                pass
        server.stop()


def secret_like(text):
    return bool(re.fullmatch(r"[0-9a-zA-Z]{20,}", text))
