//! Generated test media (ffmpeg CLI). Written by the media crate's author.
//!
//! Real files made at test time with the `ffmpeg` command (Debian package `ffmpeg`), so tests
//! exercise real containers and real tag layouts without checking binary fixtures into git.
//! Every function panics with a clear message if `ffmpeg`/`ffprobe` is missing or fails.
//!
//! ```no_run
//! let dir = tempfile::tempdir().unwrap();
//! let song = chillfi_testkit::media::sine(
//!     dir.path(), "song.flac", "flac", 2.0,
//!     &[("title", "Hello"), ("artist", "Me"), ("track", "7/12")], true,
//! );
//! let info = chillfi_testkit::media::ffprobe_json(&song);
//! assert_eq!(info["format"]["format_name"], "flac");
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// Formats [`sine`] can write, with what they produce.
pub const FORMATS: &[(&str, &str)] = &[
    ("flac", "FLAC in .flac (Vorbis comments, PICTURE block)"),
    (
        "wav",
        "PCM s16le WAV; tags and cover in an ID3v2 'id3 ' chunk",
    ),
    ("aiff", "PCM AIFF, tags only"),
    (
        "ogg",
        "Vorbis q4 in Ogg (Vorbis comments, METADATA_BLOCK_PICTURE)",
    ),
    ("opus", "Opus 96k in Ogg"),
    ("m4a", "AAC-LC 192k in MP4 (iTunes atoms, covr)"),
    ("mp3", "MP3 CBR 320k (ID3v2.3 + APIC)"),
    ("mp3-128", "MP3 CBR 128k (ID3v2.3 + APIC)"),
    ("mp3-vbr", "MP3 VBR -q:a 2 (ID3v2.3 + APIC)"),
];

/// Panics unless the `ffmpeg` and `ffprobe` commands work.
pub fn require_ffmpeg() {
    for tool in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(tool)
            .arg("-version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            ok,
            "`{tool}` not found: these tests generate media with the ffmpeg CLI \
             (install it with `apt-get install ffmpeg`)"
        );
    }
}

fn run(tool: &str, args: &[String]) -> Vec<u8> {
    require_ffmpeg();
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn ffmpeg(args: &[&str]) {
    let mut all: Vec<String> = ["-hide_banner", "-nostdin", "-v", "error", "-y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    all.extend(args.iter().map(|s| s.to_string()));
    run("ffmpeg", &all);
}

/// A 64x64 PNG (solid orange) at `dir/cover.png`, for use as cover art.
pub fn cover_png(dir: &Path) -> PathBuf {
    let path = dir.join("cover.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=orange:s=64x64:d=1",
        "-frames:v",
        "1",
        path.to_str().expect("utf-8 dir"),
    ]);
    path
}

/// A 64x64 JPEG (solid teal) at `dir/cover.jpg`.
pub fn cover_jpeg(dir: &Path) -> PathBuf {
    let path = dir.join("cover.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=teal:s=64x64:d=1",
        "-frames:v",
        "1",
        path.to_str().expect("utf-8 dir"),
    ]);
    path
}

/// Writes `seconds` of a stereo 44.1 kHz test signal (440 Hz + 3 kHz left, 660 Hz right: a
/// little spectral variety so VBR encoders really vary) to `dir/name` in `format` (one of
/// [`FORMATS`]; the container is chosen by `format`, not by `name`, so `name` may be anything,
/// e.g. `"song.mp3"` for a FLAC in disguise).
///
/// `tags` are FFmpeg's generic keys: `title`, `artist`, `album`, `album_artist`, `track`
/// (`"7/12"`), `disc` (`"1/2"`), `date`, `genre`, ... FFmpeg maps them to each container's own
/// (TPE2, ALBUMARTIST, aART, ...). With `with_cover`, [`cover_png`]'s image is embedded as the
/// front cover (not supported for `aiff`/`opus`: panics).
pub fn sine(
    dir: &Path,
    name: &str,
    format: &str,
    seconds: f64,
    tags: &[(&str, &str)],
    with_cover: bool,
) -> PathBuf {
    let out = dir.join(name);
    let out_s = out.to_str().expect("utf-8 path").to_owned();
    let source = format!(
        "aevalsrc=0.4*sin(2*PI*440*t)+0.1*sin(2*PI*3000*t)|0.4*sin(2*PI*660*t):s=44100:d={seconds}"
    );
    let (codec, muxer): (&[&str], &str) = match format {
        "flac" => (&["-c:a", "flac"], "flac"),
        "wav" => (&["-c:a", "pcm_s16le", "-fflags", "+bitexact"], "wav"),
        "aiff" => (&["-c:a", "pcm_s16be"], "aiff"),
        "ogg" => (&["-c:a", "libvorbis", "-q:a", "4"], "ogg"),
        "opus" => (&["-c:a", "libopus", "-b:a", "96k"], "ogg"),
        "m4a" => (&["-c:a", "aac", "-b:a", "192k"], "ipod"),
        "mp3" => (
            &["-c:a", "libmp3lame", "-b:a", "320k", "-id3v2_version", "3"],
            "mp3",
        ),
        "mp3-128" => (
            &["-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "3"],
            "mp3",
        ),
        "mp3-vbr" => (
            &["-c:a", "libmp3lame", "-q:a", "2", "-id3v2_version", "3"],
            "mp3",
        ),
        other => panic!("testkit::media::sine: unknown format {other:?}; known: {FORMATS:?}"),
    };
    let embeds_cover = matches!(muxer, "flac" | "mp3" | "ipod");
    assert!(
        !with_cover || embeds_cover || matches!(format, "ogg" | "wav"),
        "testkit::media::sine: no cover support for {format}"
    );

    let mut args: Vec<String> = vec!["-f".into(), "lavfi".into(), "-i".into(), source];
    let cover = if with_cover {
        Some(cover_png(dir))
    } else {
        None
    };
    if let (Some(cover), true) = (&cover, embeds_cover) {
        args.extend(["-i".into(), cover.to_str().expect("utf-8").into()]);
        args.extend(
            [
                "-map",
                "0:a",
                "-map",
                "1:v",
                "-c:v",
                "copy",
                "-disposition:v",
                "attached_pic",
            ]
            .map(String::from),
        );
        args.extend(["-metadata:s:v", "comment=Cover (front)"].map(String::from));
    }
    args.extend(codec.iter().map(|s| s.to_string()));
    let tags_in_file = format != "wav"; // WAV tags go into the ID3 chunk below
    if tags_in_file {
        for (k, v) in tags {
            args.extend(["-metadata".into(), format!("{k}={v}")]);
        }
    }
    if let (Some(cover), "ogg") = (&cover, format) {
        // Vorbis comments carry pictures as a base64 FLAC PICTURE block.
        let block = flac_picture_block(&std::fs::read(cover).expect("read cover"), "image/png");
        args.extend([
            "-metadata".into(),
            format!("METADATA_BLOCK_PICTURE={}", base64(&block)),
        ]);
    }
    args.extend(["-f".into(), muxer.into(), out_s.clone()]);
    let mut all: Vec<String> = ["-hide_banner", "-nostdin", "-v", "error", "-y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    all.extend(args);
    run("ffmpeg", &all);

    if format == "wav" && (!tags.is_empty() || with_cover) {
        let id3 = id3v2_tag(dir, tags, cover.as_deref());
        append_riff_chunk(&out, b"id3 ", &id3);
    }
    out
}

/// An ID3v2.3 tag (with APIC if `cover`) made by muxing a tiny MP3 and cutting its header off.
fn id3v2_tag(dir: &Path, tags: &[(&str, &str)], cover: Option<&Path>) -> Vec<u8> {
    let tmp = dir.join(".testkit-id3.mp3");
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=44100:cl=mono:d=0.1",
    ]
    .map(String::from)
    .to_vec();
    if let Some(cover) = cover {
        args.extend(["-i".into(), cover.to_str().expect("utf-8").into()]);
        args.extend(
            [
                "-map",
                "0:a",
                "-map",
                "1:v",
                "-c:v",
                "copy",
                "-disposition:v",
                "attached_pic",
            ]
            .map(String::from),
        );
    }
    for (k, v) in tags {
        args.extend(["-metadata".into(), format!("{k}={v}")]);
    }
    args.extend(["-c:a", "libmp3lame", "-id3v2_version", "3", "-f", "mp3"].map(String::from));
    args.push(tmp.to_str().expect("utf-8").into());
    run("ffmpeg", &args);
    let bytes = std::fs::read(&tmp).expect("read id3 temp");
    let _ = std::fs::remove_file(&tmp);
    assert!(
        bytes.starts_with(b"ID3") && bytes.len() > 10,
        "no ID3v2 header produced"
    );
    let size = bytes[6..10]
        .iter()
        .fold(0usize, |acc, b| (acc << 7) | usize::from(b & 0x7f));
    bytes[..10 + size].to_vec()
}

/// Appends a RIFF chunk to a WAV file and fixes the RIFF size.
fn append_riff_chunk(path: &Path, id: &[u8; 4], data: &[u8]) {
    let mut wav = std::fs::read(path).expect("read wav");
    assert!(wav.starts_with(b"RIFF"), "not a RIFF file");
    wav.extend_from_slice(id);
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(data);
    if data.len() % 2 == 1 {
        wav.push(0);
    }
    let riff_size = (wav.len() - 8) as u32;
    wav[4..8].copy_from_slice(&riff_size.to_le_bytes());
    std::fs::write(path, wav).expect("write wav");
}

/// A FLAC PICTURE metadata block body (type 3 = front cover), as Vorbis comments embed it.
fn flac_picture_block(image: &[u8], mime: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&3u32.to_be_bytes());
    b.extend_from_slice(&(mime.len() as u32).to_be_bytes());
    b.extend_from_slice(mime.as_bytes());
    b.extend_from_slice(&0u32.to_be_bytes()); // description
    for v in [64u32, 64, 24, 0] {
        b.extend_from_slice(&v.to_be_bytes()); // width, height, depth, colours
    }
    b.extend_from_slice(&(image.len() as u32).to_be_bytes());
    b.extend_from_slice(image);
    b
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// `ffprobe -show_format -show_streams -count_packets` as JSON.
///
/// Useful fields: `format.format_name`, `format.duration` (string, seconds), `format.bit_rate`,
/// `format.tags` (absent when there are none), `streams[i].codec_name`, `.sample_rate`,
/// `.channels`, `.bit_rate`, `.nb_read_packets`, `.disposition.attached_pic`, `.tags`.
pub fn ffprobe_json(path: &Path) -> serde_json::Value {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-count_packets",
            path.to_str().expect("utf-8 path"),
        ]
        .map(String::from),
    );
    serde_json::from_slice(&out).expect("ffprobe printed invalid JSON")
}

/// `format.duration` of [`ffprobe_json`] in seconds.
pub fn ffprobe_duration(path: &Path) -> f64 {
    let v = ffprobe_json(path);
    v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration for {}: {v}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
