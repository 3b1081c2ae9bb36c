"""The wire: XML (namespace, root attributes, well-formed per xmllint), JSON, JSONP, GET and
POST, `.view`; credentials refused with the spec's codes; throttling; secrets kept out of logs."""

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

NS = "{http://subsonic.org/restapi}"


def xmllint_ok(body):
    r = subprocess.run(["xmllint", "--noout", "-"], input=body, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()


def root_of(body):
    xmllint_ok(body)
    root = ET.fromstring(body)
    assert root.tag == f"{NS}subsonic-response"
    assert root.get("version") == "1.16.1"
    assert root.get("type") == "chillfi"
    assert root.get("openSubsonic") == "true"
    assert root.get("serverVersion")
    return root


def auth(env, who="admin"):
    return {"apiKey": env.keys[f"{who}_api"], "c": "pytest", "v": "1.16.1"}


def error_of(env, method, params, post=False):
    status, _, body = env.server.get(method, {**params, "f": "json"}, post=post)
    res = json.loads(body)["subsonic-response"]
    assert res["status"] == "failed", res
    assert res["type"] == "chillfi" and res["openSubsonic"] is True
    return status, res["error"]["code"], res["error"]["message"]


def test_xml_answers_are_namespaced_and_well_formed(env):
    s = env.server
    for method, extra in [("ping", {}), ("getArtists", {}), ("getGenres", {}),
                          ("search3", {"query": ""}), ("getMusicFolders", {}),
                          ("getAlbumList2", {"type": "newest"}), ("getStarred2", {})]:
        for suffix in ("", ".view"):
            status, headers, body = s.get(method + suffix, {**auth(env), **extra})
            assert status == 200 and headers["Content-Type"].startswith("application/xml")
            root = root_of(body)
            assert root.get("status") == "ok", body
    _, _, body = s.get("getMusicFolders", auth(env))
    folder = root_of(body).find(f"{NS}musicFolders/{NS}musicFolder")
    assert folder.get("id") == "1", "an integer id"
    _, _, body = s.get("search3", {**auth(env), "query": ""})
    songs = root_of(body).findall(f"{NS}searchResult3/{NS}song")
    assert {e.get("title") for e in songs} == {"Alpha One", "Beta Two", "Gamma Three"}
    # Errors are XML too, with HTTP 200.
    status, _, body = s.get("getSong", {**auth(env), "id": "nope"})
    assert status == 200
    err = root_of(body).find(f"{NS}error")
    assert root_of(body).get("status") == "failed" and err.get("code") == "70"


def test_json_jsonp_and_post_forms(env):
    s = env.server
    status, headers, body = s.get("ping", {**auth(env), "f": "json"})
    assert headers["Content-Type"].startswith("application/json")
    res = json.loads(body)["subsonic-response"]
    assert res == {"status": "ok", "version": "1.16.1", "type": "chillfi",
                   "serverVersion": res["serverVersion"], "openSubsonic": True}
    _, headers, body = s.get("ping", {**auth(env), "f": "jsonp", "callback": "cb_1"})
    assert headers["Content-Type"].startswith("application/javascript")
    text = body.decode()
    assert text.startswith("cb_1(") and text.endswith(");")
    assert json.loads(text[5:-2])["subsonic-response"]["status"] == "ok"
    # A callback that is not a plain name is not echoed: plain JSON instead.
    _, _, body = s.get("ping", {**auth(env), "f": "jsonp", "callback": "alert(1)//"})
    assert json.loads(body)["subsonic-response"]["status"] == "ok"
    # Credentials and parameters in a POST form body (the formPost extension).
    status, _, body = s.get("search3", {**auth(env), "f": "json", "query": "gamma"}, post=True)
    res = json.loads(body)["subsonic-response"]
    assert [x["title"] for x in res["searchResult3"]["song"]] == ["Gamma Three"]
    # getOpenSubsonicExtensions answers without credentials.
    _, _, body = s.get("getOpenSubsonicExtensions", {"f": "json"})
    exts = json.loads(body)["subsonic-response"]["openSubsonicExtensions"]
    assert {"name": "apiKeyAuthentication", "versions": [1]} in exts


def test_refused_credentials_and_permissions(env):
    # The account password is never accepted, and the message says what to do instead.
    status, code, message = error_of(env, "ping", {"u": "alice", "p": "alice-pass-1"})
    assert (status, code) == (200, 40) and "app password" in message
    assert error_of(env, "ping", {"u": "alice", "p": "enc:" + b"alice-pass-1".hex()})[1] == 40
    assert error_of(env, "ping", {"u": "alice", "p": "wrong"})[1:] == (40, "wrong username or password")
    assert error_of(env, "ping", {"u": "nobody", "t": "abc", "s": "x"})[1] == 40
    assert error_of(env, "ping", {"apiKey": env.keys["alice_api"], "u": "alice"})[1] == 43
    assert error_of(env, "ping", {"apiKey": "not-a-key"})[1] == 44
    assert error_of(env, "ping", {})[1] == 10
    # Another user's app password does not work for alice.
    assert error_of(env, "ping", {"u": "alice", "p": env.keys["admin_pw"]})[1] == 40

    alice = auth(env, "alice")
    assert error_of(env, "getUsers", alice)[1] == 50
    assert error_of(env, "getUser", {**alice, "username": "admin"})[1] == 50
    assert error_of(env, "getSong", {**alice, "id": "0000"})[1] == 70
    assert error_of(env, "getAlbum", {**alice, "id": "0000"})[1] == 70
    assert error_of(env, "star", {**alice, "id": "0000"})[1] == 70
    assert error_of(env, "getSong", alice)[1] == 10
    code, message = error_of(env, "getPodcasts", alice)[1:]
    assert code == 0 and "not implemented" in message
    assert error_of(env, "setRating", {**alice, "id": "x", "rating": "9"})[1] == 0


def test_failed_attempts_are_throttled_with_429(env):
    # The default throttle (shared with the web sign-in) allows a handful of failures per user.
    codes = []
    for _ in range(30):
        status, headers, body = env.server.get("ping", {"u": "alice", "t": "0" * 32, "s": "salt", "f": "json"})
        codes.append(status)
        if status == 429:
            assert int(headers["Retry-After"]) >= 1
            assert json.loads(body)["subsonic-response"]["error"]["code"] == 40
            break
    assert codes[-1] == 429 and codes[0] == 200, codes
    # The right app password is refused too while the throttle holds.
    status, _, _ = env.server.get("ping", {"u": "alice", "p": env.keys["alice_pw"], "f": "json"})
    assert status == 429
    # API keys of other users still work.
    status, _, body = env.server.get("ping", {**auth(env), "f": "json"})
    assert status == 200 and json.loads(body)["subsonic-response"]["status"] == "ok"


def test_secrets_never_reach_the_log(env):
    keys = env.keys
    env.server.get("ping", {"apiKey": keys["admin_api"]})
    env.server.get("ping", {"u": "admin", "p": keys["admin_pw"]})
    env.server.get("ping", {"u": "admin", "p": "enc:" + keys["admin_pw"].encode().hex()})
    env.server.get("ping", {"u": "admin", "t": "deadbeefdeadbeef", "s": "saltsalt99"})
    logs = env.server.read_logs()
    assert "/rest/ping" in logs, "requests are logged"
    for secret in (keys["admin_api"], keys["admin_pw"], keys["admin_pw"].encode().hex(),
                   "deadbeefdeadbeef", "saltsalt99"):
        assert secret not in logs
