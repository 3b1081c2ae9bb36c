"""Every supported Subsonic method, driven by py-opensonic (an independent client library)
against the real server, with an API key, with an app password through t+s, and with p=enc:."""

import json
import struct
import subprocess

import pytest
from libopensonic import errors


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise ValueError("not a JPEG marker")
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise ValueError("no SOF marker")


def playable_seconds(mp3):
    """How long the bytes play, decoded by ffmpeg (8 kHz mono 16-bit: 16000 bytes a second)."""
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-f", "mp3", "-i", "pipe:0", "-f", "s16le",
                          "-ac", "1", "-ar", "8000", "pipe:1"], input=mp3, capture_output=True,
                         check=True, timeout=60).stdout
    return len(pcm) / 16000


def library(c):
    songs = c.search3("", artist_count=0, album_count=0, song_count=500).song
    by_title = {s.title: s for s in songs}
    assert set(by_title) == {"Alpha One", "Beta Two", "Gamma Three"}
    return by_title


def test_system_and_browse_methods(env):
    c = env.api_key()
    assert c.ping()
    lic = c.get_license()
    assert lic["license"]["valid"] is True
    assert c.token_info().username == "admin"
    names = {e.name for e in c.get_open_subsonic_extensions()}
    assert {"apiKeyAuthentication", "formPost", "songLyrics", "transcodeOffset"} <= names
    # py-opensonic 10.4.1 reads musicFolders as a list, against the spec's
    # {musicFolders: {musicFolder: [...]}}: checked raw.
    status, _, body = env.server.get("getMusicFolders", {"apiKey": env.keys["admin_api"], "f": "json"})
    folders = json.loads(body)["subsonic-response"]["musicFolders"]["musicFolder"]
    assert status == 200 and folders == [{"id": 1, "name": "Music"}]

    songs = library(c)
    alpha = songs["Alpha One"]
    assert alpha.artist == "Band A" and alpha.album == "First Album"
    assert alpha.year == 2020 and alpha.track == 1 and alpha.genre == "Rock"
    assert alpha.content_type == "audio/mpeg" and alpha.suffix == "mp3"
    assert alpha.duration == 3 and alpha.cover_art
    assert songs["Gamma Three"].cover_art is None

    artists = c.get_artists()
    letters = {i.name: [a.name for a in i.artist] for i in artists.index}
    assert letters == {"B": ["Band A"], "S": ["Solo B"]}
    indexes = c.get_indexes()
    assert {a.name for i in indexes.index for a in i.artist} == {"Band A", "Solo B"}

    artist = c.get_artist(alpha.artist_id)
    assert artist.name == "Band A" and artist.album_count == 1
    assert [a.name for a in artist.album] == ["First Album"]
    album = c.get_album(alpha.album_id)
    assert [s.title for s in album.song] == ["Alpha One", "Beta Two"]
    assert album.song_count == 2 and album.duration == 6 and album.year == 2020
    assert album.genre == "Rock" and album.cover_art == alpha.cover_art
    assert c.get_song(alpha.id).title == "Alpha One"
    # The recording's MusicBrainz id from the file's tags (Picard's MUSICBRAINZ_TRACKID).
    status, _, body = env.server.get("getSong", {"id": alpha.id, "apiKey": env.keys["admin_api"], "f": "json"})
    assert json.loads(body)["subsonic-response"]["song"]["musicBrainzId"] == "6a0ab9e8-8b2f-4c3e-9d1a-0123456789ab"
    status, _, body = env.server.get("getSong", {"id": songs["Beta Two"].id, "apiKey": env.keys["admin_api"], "f": "json"})
    assert "musicBrainzId" not in json.loads(body)["subsonic-response"]["song"]

    # The folder view for folder-based clients: root -> artists -> albums -> songs.
    root = c.get_music_directory("1")
    assert {d.title for d in root.child} == {"Band A", "Solo B"}
    band = c.get_music_directory(alpha.artist_id)
    assert [d.title for d in band.child] == ["First Album"] and band.child[0].is_dir
    folder = c.get_music_directory(alpha.album_id)
    assert [s.title for s in folder.child] == ["Alpha One", "Beta Two"]

    info = c.get_artist_info2(alpha.artist_id)
    assert info is not None
    assert c.get_album_info2(alpha.album_id) is not None

    # Lyrics from the files' tags: LRC becomes timed lines, plain text stays unsynced.
    [timed] = c.get_lyrics_by_song_id(alpha.id)
    assert timed.synced and timed.display_title == "Alpha One"
    assert [(l.start, l.value) for l in timed.line] == [(500, "Hello there"), (1800, "Goodbye now")]
    beta = songs["Beta Two"]
    [plain] = c.get_lyrics_by_song_id(beta.id)
    assert not plain.synced and [l.value for l in plain.line] == ["First line", "Second line"]
    gamma = songs["Gamma Three"]
    assert not c.get_lyrics_by_song_id(gamma.id)
    classic = c.get_lyrics(artist="band a", title="alpha one")
    assert classic.value == "Hello there\nGoodbye now" and classic.title == "Alpha One"
    assert c.get_scan_status().count == 3
    assert c.start_scan().count == 3
    me = c.get_user("admin")
    assert me.username == "admin" and me.admin_role
    assert {u.username for u in c.get_users()} == {"admin", "alice"}


def test_lists_and_search(env):
    c = env.token_auth()
    songs = library(c)
    genres = {g.value: (g.song_count, g.album_count) for g in c.get_genres()}
    assert genres == {"Rock": (2, 1), "Jazz": (1, 1)}

    newest = c.get_album_list2("newest", size=10)
    assert {a.name for a in newest} == {"First Album", "Second Album"}
    by_name = c.get_album_list2("alphabeticalByName")
    assert [a.name for a in by_name] == ["First Album", "Second Album"]
    assert [a.name for a in c.get_album_list2("alphabeticalByName", size=1, offset=1)] == ["Second Album"]
    assert [a.name for a in c.get_album_list2("byYear", from_year=1990, to_year=2000)] == ["Second Album"]
    assert [a.name for a in c.get_album_list2("byGenre", genre="Rock")] == ["First Album"]
    assert len(c.get_album_list2("random", size=5)) == 2
    assert [a.name for a in c.get_album_list("alphabeticalByArtist")] == ["First Album", "Second Album"]

    assert len(c.get_random_songs(size=10)) == 3
    assert {s.title for s in c.get_random_songs(size=10, genre="Jazz")} == {"Gamma Three"}
    assert {s.title for s in c.get_songs_by_genre("Rock")} == {"Alpha One", "Beta Two"}

    found = c.search3("alpha")
    assert [s.title for s in found.song] == ["Alpha One"]
    assert c.search3("band").artist[0].name == "Band A"
    assert c.search3("second").album[0].name == "Second Album"
    # An empty query pages through the whole library in a fixed order (Symfonium's sync).
    page1 = c.search3("", artist_count=0, album_count=0, song_count=2, song_offset=0).song
    page2 = c.search3("", artist_count=0, album_count=0, song_count=2, song_offset=2).song
    assert len(page1) == 2 and len(page2) == 1
    assert {s.id for s in page1} | {s.id for s in page2} == {s.id for s in songs.values()}
    assert [s.title for s in c.search2("gamma").song] == ["Gamma Three"]

    top = c.get_top_songs("Band A")
    assert {s.title for s in top} == {"Alpha One", "Beta Two"}
    similar = c.get_similar_songs2(songs["Alpha One"].id)
    assert {s.title for s in similar} == {"Beta Two"}


def test_stream_download_and_cover_art(env):
    c = env.enc_auth()
    songs = library(c)
    alpha = songs["Alpha One"]
    status, headers, raw = c.binary("stream", alpha.id)
    assert status == 200 and headers["Content-Type"] == "audio/mpeg"
    assert int(headers["Content-Length"]) == len(raw) == alpha.size
    status, _, same = c.binary("download", alpha.id)
    assert status == 200 and same == raw
    status, headers, part = c.binary("stream", alpha.id, byte_range="bytes=100-199")
    assert status == 206 and part == raw[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(raw)}"

    status, headers, opus = c.binary("stream", alpha.id, tformat="opus", max_bit_rate=64)
    assert status == 200 and headers["Content-Type"] == "audio/ogg" and opus[:4] == b"OggS"
    status, headers, small = c.binary("stream", alpha.id, tformat="mp3", max_bit_rate=32)
    assert status == 200 and headers["Content-Type"] == "audio/mpeg"
    assert 0 < len(small) < len(raw)
    # The variant is cached: asking again gives the same bytes.
    assert c.binary("stream", alpha.id, tformat="mp3", max_bit_rate=32)[2] == small

    # timeOffset (transcodeOffset): the MP3 starts at a frame about that far in, on stored files
    # and MP3 transcodes alike; the rest plays for what is left of the song.
    for full, kwargs in ((raw, {}), (small, {"tformat": "mp3", "max_bit_rate": 32})):
        status, headers, tail = c.binary("stream", alpha.id, time_offset=1, **kwargs)
        assert status == 200 and headers["Content-Type"] == "audio/mpeg"
        assert int(headers["Content-Length"]) == len(tail) and full.endswith(tail)
        assert tail[0] == 0xFF and tail[1] & 0xE6 == 0xE2, "starts on a frame header"
        assert abs(playable_seconds(tail) - 2.0) < 0.3
    _, _, nothing = c.binary("stream", alpha.id, time_offset=60)
    assert nothing == b""

    status, headers, original = c.binary("get_cover_art", alpha.cover_art)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert original[:8] == b"\x89PNG\r\n\x1a\n"
    status, headers, resized = c.binary("get_cover_art", alpha.cover_art, size=300)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert jpeg_size(resized) == (300, 200)
    assert c.binary("get_cover_art", alpha.cover_art, size=300)[2] == resized, "cached"
    # Album and song ids lead to the same picture.
    assert c.binary("get_cover_art", alpha.album_id, size=300)[2] == resized
    assert c.binary("get_cover_art", alpha.id)[2] == original


def test_stars_ratings_scrobbles_and_queue(env):
    c = env.api_key("alice")
    songs = library(c)
    alpha, gamma = songs["Alpha One"], songs["Gamma Three"]
    assert c.star(sids=[alpha.id], album_ids=[gamma.album_id], artist_ids=[alpha.artist_id])
    starred = c.get_starred2()
    assert [s.title for s in starred.song] == ["Alpha One"]
    assert [a.name for a in starred.album] == ["Second Album"]
    assert [a.name for a in starred.artist] == ["Band A"]
    assert c.get_song(alpha.id).starred
    assert [s.title for s in c.get_starred().song] == ["Alpha One"]
    assert [a.name for a in c.get_album_list2("starred")] == ["Second Album"]
    # Stars are per user.
    assert env.api_key("admin").get_starred2().song in (None, [])
    assert c.unstar(sids=[alpha.id])
    assert c.get_starred2().song in (None, [])

    assert c.set_rating(alpha.id, 4)
    assert c.get_song(alpha.id).user_rating == 4
    assert c.set_rating(alpha.id, 0)
    assert c.get_song(alpha.id).user_rating is None

    assert c.scrobble(gamma.id, submission=False)
    playing = c.get_now_playing()
    assert [(e.title, e.username) for e in playing] == [("Gamma Three", "alice")]
    assert c.scrobble(gamma.id)
    assert c.get_song(gamma.id).play_count == 1
    assert [a.name for a in c.get_album_list2("recent")] == ["Second Album"]
    assert [a.name for a in c.get_album_list2("frequent")] == ["Second Album"]

    assert c.save_play_queue([alpha.id, gamma.id], current=gamma.id, position=1500)
    queue = c.get_play_queue()
    assert [e.id for e in queue.entry] == [alpha.id, gamma.id]
    assert queue.current == gamma.id and queue.position == 1500


def test_playlists(env):
    admin = env.api_key("admin")
    alice = env.token_auth("alice")
    songs = library(admin)
    alpha, beta, gamma = songs["Alpha One"], songs["Beta Two"], songs["Gamma Three"]
    assert admin.create_playlist(name="Road trip", song_ids=[alpha.id, beta.id])
    [listed] = admin.get_playlists()
    pid = listed.id
    created = admin.get_playlist(pid)
    assert created.name == "Road trip" and [e.id for e in created.entry] == [alpha.id, beta.id]
    assert [p.name for p in admin.get_playlists()] == ["Road trip"]
    assert admin.update_playlist(pid, name="Road trip 2", song_ids_to_add=[gamma.id],
                                 song_indices_to_remove=[0])
    got = admin.get_playlist(pid)
    assert got.name == "Road trip 2" and [e.id for e in got.entry] == [beta.id, gamma.id]
    assert got.owner == "admin" and got.song_count == 2

    # Private: alice neither sees nor reads nor changes it.
    assert alice.get_playlists() in (None, [])
    with pytest.raises(errors.DataNotFoundError):
        alice.get_playlist(pid)
    with pytest.raises(errors.DataNotFoundError):
        alice.delete_playlist(pid)

    assert admin.create_playlist(playlist_id=pid, song_ids=[gamma.id])
    assert [e.id for e in admin.get_playlist(pid).entry] == [gamma.id]
    assert admin.delete_playlist(pid)
    with pytest.raises(errors.DataNotFoundError):
        admin.get_playlist(pid)
