//! End-to-end tests on real files generated with the ffmpeg CLI (see chillfi_testkit::media).
//! Outputs are checked with ffprobe, independently of the code under test.

// Test helpers outside #[test] fns are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chillfi_media::{
    ConvertKind, MediaError, Mp3Settings, TargetCodec, TranscodeProfile, convert_to_mp3, probe,
    transcode,
};
use chillfi_testkit::media::{cover_png, ffprobe_json, sine};
use serde_json::Value;

const SECONDS: f64 = 3.0;

const TAGS: &[(&str, &str)] = &[
    ("title", "Blue in Grün"),
    ("artist", "Bill Evans"),
    ("album", "Kind of Test"),
    ("album_artist", "Various Artists"),
    ("track", "7/12"),
    ("disc", "1/2"),
    ("date", "2019-05-01"),
    ("genre", "Jazz"),
];

fn setup() -> tempfile::TempDir {
    chillfi_media::init();
    tempfile::tempdir().unwrap()
}

fn no_cancel() -> AtomicBool {
    AtomicBool::new(false)
}

fn assert_tags(t: &chillfi_media::Tags, what: &str) {
    assert_eq!(t.title.as_deref(), Some("Blue in Grün"), "{what}: {t:?}");
    assert_eq!(t.artist.as_deref(), Some("Bill Evans"), "{what}: {t:?}");
    assert_eq!(t.album.as_deref(), Some("Kind of Test"), "{what}: {t:?}");
    assert_eq!(
        t.album_artist.as_deref(),
        Some("Various Artists"),
        "{what}: {t:?}"
    );
    assert_eq!(
        (t.track, t.track_total),
        (Some(7), Some(12)),
        "{what}: {t:?}"
    );
    assert_eq!((t.disc, t.disc_total), (Some(1), Some(2)), "{what}: {t:?}");
    assert_eq!(t.year, Some(2019), "{what}: {t:?}");
    assert_eq!(t.genre.as_deref(), Some("Jazz"), "{what}: {t:?}");
}

fn empty_or_missing(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|o| o.is_empty())
}

/// The stored MP3 must carry no tags at all: no ID3v2 at the front, no ID3v1 or APE at the end,
/// nothing ffprobe would report.
fn assert_untagged_mp3(path: &Path) -> Value {
    let info = ffprobe_json(path);
    assert_eq!(info["format"]["format_name"], "mp3", "{info}");
    assert!(
        empty_or_missing(&info["format"]["tags"]),
        "format tags: {info}"
    );
    let streams = info["streams"].as_array().unwrap();
    assert_eq!(
        streams.len(),
        1,
        "exactly one (audio) stream, no cover: {info}"
    );
    assert_eq!(streams[0]["codec_name"], "mp3");
    // The only stream-level entry allowed is the encoder name FFmpeg reads back from the
    // Xing/LAME info frame (which is part of the MP3 stream, not a tag, and keeps VBR durations
    // and gapless playback exact).
    if let Some(tags) = streams[0]["tags"].as_object() {
        assert!(tags.keys().all(|k| k == "encoder"), "stream tags: {info}");
    }
    let bytes = std::fs::read(path).unwrap();
    assert!(!bytes.starts_with(b"ID3"), "ID3v2 header present");
    assert!(bytes.len() > 128);
    assert!(
        !bytes[bytes.len() - 128..].starts_with(b"TAG"),
        "ID3v1 trailer present"
    );
    assert!(
        !bytes.windows(8).any(|w| w == b"APETAGEX"),
        "APE tag present"
    );
    info
}

fn duration(info: &Value) -> f64 {
    info["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn audio_stream(info: &Value) -> &Value {
    info["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .unwrap()
}

fn int(v: &Value) -> i64 {
    v.as_str().unwrap().parse().unwrap()
}

/// Generate `format` with tags and cover, probe it, convert it, check the MP3.
fn roundtrip(
    format: &str,
    name: &str,
    settings: &Mp3Settings,
    expect: ConvertKind,
) -> (PathBuf, Value) {
    let dir = setup();
    let src = sine(dir.path(), name, format, SECONDS, TAGS, true);
    let cover = std::fs::read(dir.path().join("cover.png")).unwrap();

    let report = probe(&src).unwrap();
    assert_tags(&report.tags, format);
    let got = report
        .cover
        .as_ref()
        .unwrap_or_else(|| panic!("{format}: no cover"));
    assert_eq!(got.mime, "image/png");
    assert_eq!(got.ext, "png");
    assert!(
        got.data == cover,
        "{format}: cover bytes differ from the embedded PNG"
    );
    assert!(
        (report.duration_ms as f64 / 1000.0 - SECONDS).abs() < 0.1,
        "{format}: probe duration {}",
        report.duration_ms
    );
    assert_eq!(report.sample_rate, 44_100, "{format}");
    assert_eq!(report.channels, 2, "{format}");
    assert!(report.bitrate > 0, "{format}");

    let dst = dir.path().join("out.mp3");
    let conv = convert_to_mp3(&src, &dst, settings, &no_cancel()).unwrap();
    assert_eq!(conv.kind, expect, "{format}");
    assert_eq!(conv.bytes, std::fs::metadata(&dst).unwrap().len());
    assert_eq!(conv.channels, 2);
    assert!(
        (conv.duration_ms as f64 / 1000.0 - SECONDS).abs() < 0.1,
        "{conv:?}"
    );
    let info = assert_untagged_mp3(&dst);
    let d = duration(&info);
    assert!((d - SECONDS).abs() <= 0.1, "{format}: output duration {d}");
    let kept = dir.keep();
    (kept, info)
}

fn cbr320(info: &Value) {
    assert_eq!(int(&audio_stream(info)["bit_rate"]), 320_000, "{info}");
    assert_eq!(audio_stream(info)["sample_rate"], "44100");
}

#[test]
fn flac_converts_to_untagged_cbr320() {
    let (dir, info) = roundtrip(
        "flac",
        "a.flac",
        &Mp3Settings::default(),
        ConvertKind::Encoded,
    );
    cbr320(&info);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn wav_with_id3_chunk_converts() {
    let (dir, info) = roundtrip(
        "wav",
        "a.wav",
        &Mp3Settings::default(),
        ConvertKind::Encoded,
    );
    cbr320(&info);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ogg_vorbis_converts() {
    let (dir, info) = roundtrip(
        "ogg",
        "a.ogg",
        &Mp3Settings::default(),
        ConvertKind::Encoded,
    );
    cbr320(&info);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn m4a_aac_converts() {
    let (dir, info) = roundtrip(
        "m4a",
        "a.m4a",
        &Mp3Settings::default(),
        ConvertKind::Encoded,
    );
    cbr320(&info);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mp3_320_is_remuxed_with_identical_frames() {
    let (dir, info) = roundtrip(
        "mp3",
        "a.mp3",
        &Mp3Settings::default(),
        ConvertKind::Remuxed,
    );
    cbr320(&info);
    let src = ffprobe_json(&dir.join("a.mp3"));
    assert_eq!(
        audio_stream(&src)["nb_read_packets"],
        audio_stream(&info)["nb_read_packets"],
        "remux must copy every audio frame"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mp3_128_is_remuxed_at_threshold_and_reencoded_above_it() {
    let (dir, info) = roundtrip(
        "mp3-128",
        "a.mp3",
        &Mp3Settings::default(),
        ConvertKind::Remuxed,
    );
    assert_eq!(int(&audio_stream(&info)["bit_rate"]), 128_000);
    let _ = std::fs::remove_dir_all(dir);

    let strict = Mp3Settings {
        remux_min_bitrate_kbps: 192,
        ..Mp3Settings::default()
    };
    let (dir, info) = roundtrip("mp3-128", "a.mp3", &strict, ConvertKind::Encoded);
    cbr320(&info);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mp3_vbr_is_remuxed() {
    let (dir, info) = roundtrip(
        "mp3-vbr",
        "a.mp3",
        &Mp3Settings::default(),
        ConvertKind::Remuxed,
    );
    let src = ffprobe_json(&dir.join("a.mp3"));
    assert_eq!(
        audio_stream(&src)["nb_read_packets"],
        audio_stream(&info)["nb_read_packets"]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn vbr_encode_gives_variable_bitrate_without_tags() {
    let dir = setup();
    let src = sine(dir.path(), "a.flac", "flac", SECONDS, TAGS, false);
    let dst = dir.path().join("out.mp3");
    let settings = Mp3Settings {
        vbr_quality: Some(2),
        ..Mp3Settings::default()
    };
    let r = convert_to_mp3(&src, &dst, &settings, &no_cancel()).unwrap();
    assert_eq!(r.kind, ConvertKind::Encoded);
    let info = assert_untagged_mp3(&dst);
    assert!((duration(&info) - SECONDS).abs() <= 0.1);
    // A VBR encode of this signal averages far below the 320k CBR default.
    assert!(r.bitrate > 32_000 && r.bitrate < 250_000, "{r:?}");
    // ...and converting the VBR result again takes the remux path.
    let again = dir.path().join("again.mp3");
    let r2 = convert_to_mp3(&dst, &again, &Mp3Settings::default(), &no_cancel()).unwrap();
    assert_eq!(r2.kind, ConvertKind::Remuxed);
}

#[test]
fn mono_and_odd_rates_are_resampled_for_lame() {
    let dir = setup();
    let src = dir.path().join("odd.wav");
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=300:r=11025:d=2",
            "-ac",
            "1",
            "-c:a",
            "pcm_u8",
        ])
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let dst = dir.path().join("out.mp3");
    let r = convert_to_mp3(&src, &dst, &Mp3Settings::default(), &no_cancel()).unwrap();
    assert_eq!(r.channels, 1);
    let info = assert_untagged_mp3(&dst);
    assert!((duration(&info) - 2.0).abs() <= 0.1, "{info}");
    assert_eq!(audio_stream(&info)["channels"], 1);
    // Stored MP3s use MPEG-1 rates so that 320 kb/s is possible (MPEG-2.5 tops out at 64).
    assert_eq!(r.sample_rate, 44_100);
    assert_eq!(audio_stream(&info)["sample_rate"], "44100");
    assert_eq!(r.bitrate, 320_000);
    assert_eq!(int(&audio_stream(&info)["bit_rate"]), 320_000);
}

#[test]
fn multichannel_wav_without_layout_is_downmixed() {
    let dir = setup();
    let src = dir.path().join("six.wav");
    // 6 channels, WAV without WAVEFORMATEXTENSIBLE mask: FFmpeg reports layout 0.
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=300:d=2",
            "-af",
            "pan=6c|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0",
            "-c:a",
            "pcm_s16le",
            "-rf64",
            "never",
        ])
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let dst = dir.path().join("out.mp3");
    let r = convert_to_mp3(&src, &dst, &Mp3Settings::default(), &no_cancel()).unwrap();
    assert_eq!(r.channels, 2);
    let info = assert_untagged_mp3(&dst);
    assert_eq!(audio_stream(&info)["channels"], 2);
    assert!((duration(&info) - 2.0).abs() <= 0.1);
}

#[test]
fn odd_file_names_are_opened_as_files() {
    let dir = setup();
    let src = sine(
        dir.path(),
        "-rf:x.flac",
        "flac",
        1.0,
        &[("title", "dash")],
        false,
    );
    let r = probe(&src).unwrap();
    assert_eq!(r.tags.title.as_deref(), Some("dash"));
    let dst = dir.path().join("-out:put.mp3");
    convert_to_mp3(&src, &dst, &Mp3Settings::default(), &no_cancel()).unwrap();
    assert_untagged_mp3(&dst);
}

// ---- bad inputs -------------------------------------------------------------------------------

fn expect_unsupported(path: &Path, what: &str) -> String {
    let err = probe(path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, MediaError::UnsupportedFormat(_)),
        "{what}: {err:?}"
    );
    let dst = path.with_extension("converted.mp3");
    let err = convert_to_mp3(path, &dst, &Mp3Settings::default(), &no_cancel()).unwrap_err();
    assert!(
        matches!(err, MediaError::UnsupportedFormat(_)),
        "{what}: {err:?}"
    );
    assert!(!dst.exists(), "no output for rejected input");
    msg
}

#[test]
fn empty_file_is_empty() {
    let dir = setup();
    let p = dir.path().join("empty.mp3");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(probe(&p), Err(MediaError::Empty)));
    let err = convert_to_mp3(
        &p,
        &dir.path().join("o.mp3"),
        &Mp3Settings::default(),
        &no_cancel(),
    )
    .unwrap_err();
    assert!(matches!(err, MediaError::Empty));
    assert_eq!(err.to_string(), "the file is empty");
}

#[test]
fn random_bytes_named_mp3_are_rejected() {
    let dir = setup();
    let p = dir.path().join("noise.mp3");
    // Deterministic pseudo-random bytes (xorshift), 200 KB.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&p, bytes).unwrap();
    match probe(&p) {
        Err(MediaError::UnsupportedFormat(_)) | Err(MediaError::Corrupt(_)) => {}
        other => panic!("random bytes accepted: {other:?}"),
    }
    let dst = dir.path().join("o.mp3");
    match convert_to_mp3(&p, &dst, &Mp3Settings::default(), &no_cancel()) {
        Err(MediaError::UnsupportedFormat(_)) | Err(MediaError::Corrupt(_)) => {}
        other => panic!("random bytes converted: {other:?}"),
    }
    assert!(!dst.exists());
}

#[test]
fn a_big_file_of_zeros_is_refused_without_reading_it_all() {
    let dir = setup();
    let p = dir.path().join("zeros.mp3");
    // Sparse: 1 GiB of zeros on disk costs nothing. FFmpeg's MP3 parser alone would buffer it whole.
    std::fs::File::create(&p).unwrap().set_len(1 << 30).unwrap();
    let started = std::time::Instant::now();
    let msg = expect_unsupported(&p, "unrecognised data");
    assert_eq!(
        msg,
        "not an audio file we accept: detected unrecognised data"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn text_file_is_rejected_as_text() {
    let dir = setup();
    let p = dir.path().join("lyrics.mp3");
    std::fs::write(&p, "These are the lyrics\nof a song\n".repeat(200)).unwrap();
    let msg = expect_unsupported(&p, "text");
    assert_eq!(msg, "not an audio file we accept: detected text");
}

#[test]
fn hls_playlist_disguised_as_mp3_is_not_followed() {
    let dir = setup();
    let target = sine(
        dir.path(),
        "secret.flac",
        "flac",
        2.0,
        &[("title", "secret")],
        false,
    );
    let p = dir.path().join("song.mp3");
    std::fs::write(
        &p,
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\n{}\n#EXT-X-ENDLIST\n",
            target.display()
        ),
    )
    .unwrap();
    // The fixture is a real attack: unrestricted FFmpeg follows it into the other file.
    let unrestricted = ffprobe_json(&p);
    assert_eq!(
        unrestricted["format"]["format_name"], "hls",
        "{unrestricted}"
    );
    assert!(duration(&unrestricted) > 1.5);

    let msg = expect_unsupported(&p, "hls");
    assert_eq!(msg, "not an audio file we accept: detected hls playlist");
}

#[test]
fn ffconcat_disguised_as_mp3_is_not_followed() {
    let dir = setup();
    sine(dir.path(), "secret.flac", "flac", 2.0, &[], false);
    let p = dir.path().join("song.mp3");
    std::fs::write(&p, "ffconcat version 1.0\nfile secret.flac\n").unwrap();
    let unrestricted = ffprobe_json(&p);
    assert_eq!(
        unrestricted["format"]["format_name"], "concat",
        "{unrestricted}"
    );

    let msg = expect_unsupported(&p, "ffconcat");
    assert!(msg.contains("ffconcat"), "{msg}");
}

#[test]
fn image_is_rejected() {
    let dir = setup();
    let png = cover_png(dir.path());
    let p = dir.path().join("cover.flac");
    std::fs::copy(png, &p).unwrap();
    let msg = expect_unsupported(&p, "png");
    assert!(msg.ends_with("png image"), "{msg}");
}

fn truncated_case(format: &str) {
    let dir = setup();
    let src = sine(
        dir.path(),
        &format!("full.{format}"),
        format,
        4.0,
        TAGS,
        true,
    );
    let bytes = std::fs::read(&src).unwrap();
    for (i, cut) in [bytes.len() / 2, bytes.len() / 5, 200, 40]
        .into_iter()
        .enumerate()
    {
        let p = dir.path().join(format!("cut{i}.{format}"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let _ = probe(&p); // may succeed or fail, must not panic
        let dst = dir.path().join(format!("cut{i}.out.mp3"));
        let started = Instant::now();
        match convert_to_mp3(&p, &dst, &Mp3Settings::default(), &no_cancel()) {
            Ok(r) => {
                assert!(
                    r.duration_ms > 0 && r.duration_ms < 4000,
                    "{format} cut {cut}: {r:?}"
                );
                assert_untagged_mp3(&dst);
            }
            Err(MediaError::Corrupt(_)) => assert!(!dst.exists()),
            Err(e) => panic!("{format} cut at {cut}: unexpected {e:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(20), "took too long");
    }
}

#[test]
fn truncated_flac_converts_what_is_there_or_is_corrupt() {
    truncated_case("flac");
}

#[test]
fn truncated_mp3_converts_what_is_there_or_is_corrupt() {
    truncated_case("mp3");
}

#[test]
fn half_a_flac_still_gives_the_first_half() {
    let dir = setup();
    let src = sine(dir.path(), "full.flac", "flac", 4.0, &[], false);
    let bytes = std::fs::read(&src).unwrap();
    let p = dir.path().join("half.flac");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let dst = dir.path().join("half.mp3");
    let r = convert_to_mp3(&p, &dst, &Mp3Settings::default(), &no_cancel()).unwrap();
    assert!(r.duration_ms > 1500 && r.duration_ms < 2500, "{r:?}");
}

#[test]
fn huge_tag_is_truncated() {
    let dir = setup();
    let long = "ä".repeat(50_000); // 100 KB of UTF-8
    let src = sine(
        dir.path(),
        "a.flac",
        "flac",
        1.0,
        &[("title", &long), ("artist", "ok")],
        false,
    );
    let r = probe(&src).unwrap();
    let title = r.tags.title.unwrap();
    assert_eq!(title.chars().count(), chillfi_media::MAX_TAG_CHARS);
    assert!(title.chars().all(|c| c == 'ä'));
    assert_eq!(r.tags.artist.as_deref(), Some("ok"));
    let dst = dir.path().join("o.mp3");
    convert_to_mp3(&src, &dst, &Mp3Settings::default(), &no_cancel()).unwrap();
    assert_untagged_mp3(&dst);
}

/// An ID3v2.4 tag whose TIT2 claims UTF-8 but holds Latin-1 and junk bytes.
fn id3_with_bad_utf8() -> Vec<u8> {
    let text: &[u8] = b"\x03Caf\xe9 \xff\xfe";
    let mut frame = b"TIT2".to_vec();
    frame.extend_from_slice(&syncsafe(text.len() as u32));
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(text);
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend_from_slice(&syncsafe(frame.len() as u32));
    tag.extend_from_slice(&frame);
    tag
}

fn syncsafe(n: u32) -> [u8; 4] {
    [
        (n >> 21 & 0x7f) as u8,
        (n >> 14 & 0x7f) as u8,
        (n >> 7 & 0x7f) as u8,
        (n & 0x7f) as u8,
    ]
}

#[test]
fn non_utf8_tag_bytes_are_replaced_not_fatal() {
    let dir = setup();
    let plain = sine(dir.path(), "plain.mp3", "mp3-128", 1.0, &[], false);
    let audio = std::fs::read(&plain).unwrap();
    let mut bytes = id3_with_bad_utf8();
    // Skip the tiny ID3 header ffmpeg wrote, if any, so ours is the only one.
    let start = if audio.starts_with(b"ID3") {
        10 + audio[6..10]
            .iter()
            .fold(0usize, |a, b| (a << 7) | usize::from(b & 0x7f))
    } else {
        0
    };
    bytes.extend_from_slice(&audio[start..]);
    let p = dir.path().join("bad.mp3");
    std::fs::write(&p, bytes).unwrap();
    let r = probe(&p).unwrap();
    let title = r.tags.title.unwrap();
    assert!(title.starts_with("Caf"), "{title:?}");
    assert!(title.contains('\u{fffd}'), "{title:?}");
    let dst = dir.path().join("o.mp3");
    convert_to_mp3(&p, &dst, &Mp3Settings::default(), &no_cancel()).unwrap();
    assert_untagged_mp3(&dst);
}

#[test]
fn file_without_audio_is_no_audio_stream() {
    let dir = setup();
    let p = dir.path().join("video.m4a");
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=32x32:d=1",
            "-c:v",
            "mpeg4",
            "-f",
            "mp4",
        ])
        .arg(&p)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(matches!(probe(&p), Err(MediaError::NoAudioStream)));
}

// ---- transcode ----------------------------------------------------------------------------------

#[test]
fn transcode_to_opus_96k() {
    let dir = setup();
    let src = sine(dir.path(), "a.flac", "flac", 6.0, TAGS, true);
    let dst = dir.path().join("a.opus");
    let profile = TranscodeProfile {
        codec: TargetCodec::Opus,
        bitrate_kbps: 96,
        sample_rate: None,
        channels: None,
    };
    let r = transcode(&src, &dst, &profile, &no_cancel()).unwrap();
    assert_eq!(r.sample_rate, 48_000);
    let info = ffprobe_json(&dst);
    assert_eq!(info["format"]["format_name"], "ogg");
    let a = audio_stream(&info);
    assert_eq!(a["codec_name"], "opus");
    assert_eq!(a["channels"], 2);
    assert_eq!(
        info["streams"].as_array().unwrap().len(),
        1,
        "no cover stream"
    );
    assert!((duration(&info) - 6.0).abs() <= 0.1, "{info}");
    let br = int(&info["format"]["bit_rate"]) as f64;
    assert!((br - 96_000.0).abs() / 96_000.0 < 0.15, "bitrate {br}");
    assert!(empty_or_missing(&info["format"]["tags"]), "{info}");
    assert!(empty_or_missing(&a["tags"]), "{info}");
}

#[test]
fn transcode_to_aac_adts_and_mp3() {
    let dir = setup();
    let src = sine(dir.path(), "a.flac", "flac", 4.0, TAGS, false);

    let aac = dir.path().join("a.aac");
    let p = TranscodeProfile {
        codec: TargetCodec::Aac,
        bitrate_kbps: 128,
        sample_rate: Some(44_100),
        channels: Some(1),
    };
    let r = transcode(&src, &aac, &p, &no_cancel()).unwrap();
    assert_eq!(
        (r.kind, r.channels, r.sample_rate),
        (ConvertKind::Encoded, 1, 44_100)
    );
    let info = ffprobe_json(&aac);
    assert_eq!(info["format"]["format_name"], "aac");
    assert_eq!(audio_stream(&info)["codec_name"], "aac");
    assert_eq!(audio_stream(&info)["channels"], 1);
    assert!(empty_or_missing(&info["format"]["tags"]));

    let mp3 = dir.path().join("a.mp3");
    let p = TranscodeProfile {
        codec: TargetCodec::Mp3,
        bitrate_kbps: 128,
        sample_rate: Some(22_050),
        channels: None,
    };
    let r = transcode(&src, &mp3, &p, &no_cancel()).unwrap();
    assert_eq!((r.sample_rate, r.bitrate), (22_050, 128_000));
    let info = assert_untagged_mp3(&mp3);
    assert_eq!(int(&audio_stream(&info)["bit_rate"]), 128_000);
    assert_eq!(audio_stream(&info)["sample_rate"], "22050");
    assert!((duration(&info) - 4.0).abs() <= 0.1);

    // 320 kb/s does not exist at 22.05 kHz (MPEG-2): the report says what LAME really wrote.
    let capped = dir.path().join("capped.mp3");
    let p = TranscodeProfile {
        codec: TargetCodec::Mp3,
        bitrate_kbps: 320,
        sample_rate: Some(22_050),
        channels: None,
    };
    let r = transcode(&src, &capped, &p, &no_cancel()).unwrap();
    let info = assert_untagged_mp3(&capped);
    assert_eq!(i64::from(r.bitrate), int(&audio_stream(&info)["bit_rate"]));
    assert!(r.bitrate <= 160_000, "{r:?}");
}

// ---- cancel -------------------------------------------------------------------------------------

#[test]
fn cancel_before_start_writes_nothing() {
    let dir = setup();
    let src = sine(dir.path(), "a.flac", "flac", 2.0, &[], false);
    let dst = dir.path().join("o.mp3");
    let cancel = AtomicBool::new(true);
    let err = convert_to_mp3(&src, &dst, &Mp3Settings::default(), &cancel).unwrap_err();
    assert!(matches!(err, MediaError::Cancelled), "{err:?}");
    assert!(!dst.exists());
}

#[test]
fn cancel_stops_a_long_conversion_quickly() {
    let dir = setup();
    // 5 minutes of audio: seconds of encoding work, far more than the 300 ms before cancelling.
    let src = sine(dir.path(), "long.wav", "wav", 300.0, &[], false);
    let dst = dir.path().join("o.mp3");
    let cancel = Arc::new(AtomicBool::new(false));
    let c2 = cancel.clone();
    let (s2, d2) = (src.clone(), dst.clone());
    let worker = std::thread::spawn(move || {
        let r = convert_to_mp3(&s2, &d2, &Mp3Settings::default(), &c2);
        (r, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(300));
    let cancelled_at = Instant::now();
    cancel.store(true, Ordering::Relaxed);
    let (r, finished_at) = worker.join().unwrap();
    assert!(matches!(r, Err(MediaError::Cancelled)), "{r:?}");
    let lag = finished_at.duration_since(cancelled_at);
    assert!(lag < Duration::from_millis(500), "took {lag:?} to stop");
    assert!(!dst.exists(), "partial output removed");
}

/// The remux fast path (no FFmpeg): tags at both ends and stray bytes around the frames go,
/// the frames (with the LAME info frame) stay byte for byte.
#[test]
fn plain_mp3_frames_are_copied_with_every_tag_and_stray_byte_dropped() {
    let dir = setup();
    let clean = sine(dir.path(), "clean.mp3", "mp3", SECONDS, TAGS, true);
    let bytes = std::fs::read(&clean).unwrap();
    assert!(bytes.starts_with(b"ID3"));
    let id3_len = 10
        + bytes[6..10]
            .iter()
            .fold(0usize, |acc, b| (acc << 7) | usize::from(b & 0x7f));
    let frames = &bytes[id3_len..];

    // The same file with stray bytes before the first frame and after the last one, then an
    // APEv2 tag (header and footer) and an ID3v1 tag.
    let mut messy = bytes[..id3_len].to_vec();
    messy.extend((0..300u32).map(|i| if i % 7 == 0 { 0xff } else { i as u8 }));
    messy.extend_from_slice(frames);
    messy.extend_from_slice(&[0u8; 57]);
    // Its binary item holds real frames: only knowing where the tag starts keeps them out.
    messy.extend(ape_tag(
        &[("Title", "Blue in Grün"), ("Artist", "Bill Evans")],
        &frames[..4000],
    ));
    let mut id3v1 = b"TAG".to_vec();
    id3v1.extend_from_slice(&[b'x'; 125]);
    messy.extend(id3v1);
    let messy_path = dir.path().join("messy.mp3");
    std::fs::write(&messy_path, &messy).unwrap();

    for src in [&clean, &messy_path] {
        let dst = dir.path().join("out.mp3");
        let report =
            chillfi_media::copy_mp3_frames(src, &dst, &Mp3Settings::default(), &no_cancel())
                .unwrap()
                .unwrap_or_else(|| panic!("{}: not copied", src.display()));
        assert_eq!(report.kind, ConvertKind::Remuxed);
        assert_eq!(
            (report.bitrate, report.sample_rate, report.channels),
            (320_000, 44_100, 2)
        );
        assert!(
            (report.duration_ms as f64 / 1000.0 - SECONDS).abs() < 0.1,
            "{report:?}"
        );
        let out = std::fs::read(&dst).unwrap();
        assert_eq!(report.bytes, out.len() as u64);
        assert!(
            out == frames,
            "{}: the output is not the frames of the source",
            src.display()
        );
        let info = assert_untagged_mp3(&dst);
        assert_eq!(
            audio_stream(&ffprobe_json(&clean))["nb_read_packets"],
            audio_stream(&info)["nb_read_packets"]
        );
    }

    // Not for the fast path: a FLAC, and a 128k MP3 that these settings re-encode. Nothing is
    // written then.
    let strict = Mp3Settings {
        remux_min_bitrate_kbps: 192,
        ..Mp3Settings::default()
    };
    let flac = sine(dir.path(), "a.flac", "flac", SECONDS, TAGS, false);
    let low = sine(dir.path(), "low.mp3", "mp3-128", SECONDS, TAGS, false);
    for (src, settings) in [(&flac, &Mp3Settings::default()), (&low, &strict)] {
        let dst = dir.path().join("none.mp3");
        let copied = chillfi_media::copy_mp3_frames(src, &dst, settings, &no_cancel()).unwrap();
        assert!(copied.is_none(), "{}: {copied:?}", src.display());
        assert!(!dst.exists());
    }
}

/// An APEv2 tag with a header and a footer: text items and one binary item.
fn ape_tag(items: &[(&str, &str)], binary: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let binary_flag = 1u32 << 1;
    let all = items.iter().map(|(k, v)| (*k, v.as_bytes(), 0u32)).chain([(
        "Cover Art (Front)",
        binary,
        binary_flag,
    )]);
    for (key, value, flags) in all {
        body.extend((value.len() as u32).to_le_bytes());
        body.extend(flags.to_le_bytes());
        body.extend(key.as_bytes());
        body.push(0);
        body.extend(value);
    }
    let frame = |flags: u32| {
        let mut f = b"APETAGEX".to_vec();
        f.extend(2000u32.to_le_bytes());
        f.extend((body.len() as u32 + 32).to_le_bytes());
        f.extend((items.len() as u32 + 1).to_le_bytes());
        f.extend(flags.to_le_bytes());
        f.extend([0u8; 8]);
        f
    };
    let mut tag = frame(1 << 31 | 1 << 29);
    tag.extend_from_slice(&body);
    tag.extend(frame(1 << 31));
    tag
}

/// MusicBrainz ids as Picard writes them: Vorbis comments in a FLAC, TXXX frames in an MP3.
#[test]
fn musicbrainz_ids_are_read_from_flac_and_mp3() {
    let dir = setup();
    let recording = "6a0ab9e8-8b2f-4c3e-9d1a-0123456789ab";
    let release = "f27ec8db-af05-4f36-916e-3d57f91ecf5e";
    let flac = sine(
        dir.path(),
        "mb.flac",
        "flac",
        1.0,
        &[
            ("MUSICBRAINZ_TRACKID", recording),
            ("MUSICBRAINZ_ALBUMID", release),
        ],
        false,
    );
    let ids = probe(&flac).unwrap().tags.musicbrainz;
    assert_eq!(ids.recording_id.as_deref(), Some(recording));
    assert_eq!(ids.release_id.as_deref(), Some(release));
    let mp3 = sine(
        dir.path(),
        "mb.mp3",
        "mp3",
        1.0,
        &[
            ("MusicBrainz Album Id", release),
            ("MusicBrainz Artist Id", recording),
        ],
        false,
    );
    let ids = probe(&mp3).unwrap().tags.musicbrainz;
    assert_eq!(ids.release_id.as_deref(), Some(release));
    assert_eq!(ids.artist_id.as_deref(), Some(recording));
}
