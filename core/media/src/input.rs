//! Opening untrusted input files safely (see the crate docs for why).

use std::io::Read;
use std::path::{Path, PathBuf};

use ffmpeg_next::format::context::Input;
use ffmpeg_next::{Dictionary, Packet, media};

use crate::MediaError;

/// The FFmpeg demuxers we accept: containers that hold audio and never reference other files.
/// Matching is on FFmpeg's demuxer names (`mov` covers mp4/m4a, `matroska` covers mka/webm).
/// Playlists (hls, concat), images, video-only and text formats are all left out on purpose.
pub const AUDIO_DEMUXERS: &[&str] = &[
    "mp3", "flac", "wav", "w64", "ogg", "mov", "aiff", "ape", "wv", "matroska", "asf", "aac",
    "caf", "tta", "mpc", "mpc8", "dsf", "tak", "ac3", "eac3",
];

/// Below this FFmpeg probe score (AVPROBE_SCORE_RETRY) the demuxer was only a guess, typically
/// from the file name's extension: random bytes named `.mp3` get score 1. Real files score higher.
const MIN_PROBE_SCORE: i32 = 25;

/// Consecutive unreadable packets after which a file is declared corrupt instead of retried
/// (FFmpeg resyncs past bad data, but a file made only of bad data must not spin forever).
const MAX_BAD_PACKETS: u32 = 1000;

/// Turns a path into an absolute `file:` URL, so that a name like `-x.mp3` or `a:b.mp3` is never
/// read as an option or a protocol.
pub(crate) fn file_url(path: &Path) -> Result<String, MediaError> {
    let abs: PathBuf = std::path::absolute(path)?;
    let s = abs.to_str().ok_or_else(|| {
        MediaError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "file name is not valid UTF-8",
        ))
    })?;
    if s.contains('\0') {
        return Err(MediaError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "file name contains a NUL byte",
        )));
    }
    Ok(format!("file:{s}"))
}

/// Opens `path` with the demuxer and protocol whitelists. Errors are already user-facing.
pub(crate) fn open(path: &Path) -> Result<Input, MediaError> {
    crate::init();
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(MediaError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    if meta.len() == 0 {
        return Err(MediaError::Empty);
    }
    // FFmpeg's MPEG audio parser buffers everything it cannot frame: a file of zeros named
    // .mp3 would be read whole into memory before FFmpeg gives up. Compressed audio always has
    // a container signature or frame-sync-like bytes near the start; without either, stop here.
    let window = read_prefix(path, 1024 * 1024);
    if !has_audio_magic(&window)
        && !window
            .windows(2)
            .any(|w| w[0] == 0xff && w[1] & 0xe0 == 0xe0)
    {
        let head = &window[..window.len().min(4096)];
        return Err(MediaError::UnsupportedFormat(sniff(head).to_string()));
    }
    let url = file_url(path)?;
    let mut opts = Dictionary::new();
    opts.set("format_whitelist", &AUDIO_DEMUXERS.join(","));
    opts.set("protocol_whitelist", "file");
    // mov can follow external data references; it is off by default, keep it off explicitly.
    opts.set("enable_drefs", "0");
    let input = match ffmpeg_next::format::input_with_dictionary(&url, opts) {
        Ok(input) => input,
        Err(e) => return Err(open_error(path, e)),
    };
    if input.probe_score() < MIN_PROBE_SCORE {
        let head = read_head(path);
        // A few KiB of a real MP3 (say, an upload cut short) score as low as noise does; only
        // its first bytes tell them apart.
        if input.format().name() == "mp3" && looks_like_mp3_start(&head) {
            return Err(MediaError::Corrupt(
                "only a fragment of an MP3 stream is there".into(),
            ));
        }
        return Err(MediaError::UnsupportedFormat(sniff(&head).to_string()));
    }
    Ok(input)
}

fn open_error(path: &Path, e: ffmpeg_next::Error) -> MediaError {
    use ffmpeg_next::Error as E;
    match e {
        // EINVAL: FFmpeg recognised the content but the demuxer is not on the whitelist.
        // InvalidData: no demuxer recognised it at all.
        // (A whitelisted demuxer may also fail with either on a damaged header: then the file
        // starts like an audio file.)
        E::Other { errno: 22 } | E::InvalidData => {
            let head = read_head(path);
            if has_audio_magic(&head) {
                MediaError::Corrupt("the file is too short or its header is damaged".into())
            } else {
                MediaError::UnsupportedFormat(sniff(&head).to_string())
            }
        }
        E::Eof => MediaError::Corrupt("the file ends before any audio".into()),
        E::Other { errno: 5 } => {
            MediaError::Corrupt("the file is too short or its header is damaged".into())
        }
        E::Other { errno } if errno == 13 || errno == 1 => MediaError::Io(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            e.to_string(),
        )),
        E::Other { errno: 2 } => MediaError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            e.to_string(),
        )),
        // A whitelisted demuxer that chokes on the header: the file claims a format it is not.
        other => MediaError::Corrupt(other.to_string()),
    }
}

/// The audio stream to use: FFmpeg's "best" audio stream, never an attached picture.
pub(crate) fn audio_stream(input: &Input) -> Result<usize, MediaError> {
    let attached = ffmpeg_next::format::stream::Disposition::ATTACHED_PIC;
    let best = input
        .streams()
        .best(media::Type::Audio)
        .filter(|s| !s.disposition().contains(attached))
        .map(|s| s.index());
    best.or_else(|| {
        input
            .streams()
            .find(|s| s.parameters().medium() == media::Type::Audio)
            .map(|s| s.index())
    })
    .ok_or(MediaError::NoAudioStream)
}

/// Reads the next packet; `Ok(None)` at the end. Skips isolated unreadable packets (FFmpeg
/// resyncs) but gives up with [`MediaError::Corrupt`] on a long run of them.
pub(crate) fn next_packet(input: &mut Input) -> Result<Option<Packet>, MediaError> {
    let mut bad = 0;
    loop {
        let mut packet = Packet::empty();
        match packet.read(input) {
            Ok(()) => return Ok(Some(packet)),
            Err(ffmpeg_next::Error::Eof) => return Ok(None),
            Err(ffmpeg_next::Error::InvalidData) => {
                bad += 1;
                if bad > MAX_BAD_PACKETS {
                    return Err(MediaError::Corrupt("no readable audio frames".into()));
                }
            }
            Err(e) => return Err(MediaError::Corrupt(e.to_string())),
        }
    }
}

fn read_head(path: &Path) -> Vec<u8> {
    read_prefix(path, 4096)
}

fn read_prefix(path: &Path, len: u64) -> Vec<u8> {
    let mut head = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(len).read_to_end(&mut head);
    }
    head
}

/// Starts with the signature of one of the accepted audio containers.
fn has_audio_magic(h: &[u8]) -> bool {
    let at = |offset: usize, magic: &[u8]| h.get(offset..offset + magic.len()) == Some(magic);
    looks_like_mp3_start(h)
        || at(0, b"fLaC")
        || at(0, b"OggS")
        || (at(0, b"RIFF") && at(8, b"WAVE"))
        || (at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")))
        || at(4, b"ftyp")
        || at(0, b"MAC ")
        || at(0, b"wvpk")
        || at(0, b"caff")
}

/// An ID3v2 header, or a plausible MPEG audio frame header, at the very start.
fn looks_like_mp3_start(h: &[u8]) -> bool {
    h.starts_with(b"ID3")
        || (h.len() >= 4
            && h[0] == 0xff
            && h[1] & 0xe0 == 0xe0
            && (h[1] >> 1) & 3 != 0 // layer
            && (h[1] >> 3) & 3 != 1 // version
            && !matches!(h[2] >> 4, 0 | 15) // bitrate index
            && (h[2] >> 2) & 3 != 3) // sample rate index
}

pub(crate) fn sniff(head: &[u8]) -> &'static str {
    let starts = |m: &[u8]| head.starts_with(m);
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let lower = trimmed
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    if lower.starts_with("#extm3u") {
        "hls playlist"
    } else if lower.starts_with("ffconcat") {
        "ffconcat playlist"
    } else if lower.starts_with("[playlist]") {
        "pls playlist"
    } else if lower.starts_with("<?xml")
        || lower.starts_with("<!doctype")
        || lower.starts_with("<html")
    {
        "xml/html document"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "png image"
    } else if starts(b"\xff\xd8\xff") {
        "jpeg image"
    } else if starts(b"GIF8") {
        "gif image"
    } else if starts(b"%PDF") {
        "pdf document"
    } else if starts(b"PK\x03\x04") {
        "zip archive"
    } else if starts(b"\x1a\x45\xdf\xa3") {
        "damaged matroska/webm"
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"AVI " {
        "avi video"
    } else if head.len() >= 377 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47 {
        "mpeg-ts video"
    } else if !head.is_empty()
        && std::str::from_utf8(head).is_ok()
        && head
            .iter()
            .all(|&b| b >= 0x20 || b == b'\n' || b == b'\r' || b == b'\t')
    {
        "text"
    } else {
        "unrecognised data"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_names_what_users_upload_by_mistake() {
        assert_eq!(sniff(b"#EXTM3U\n#EXTINF:1,\nx.flac\n"), "hls playlist");
        assert_eq!(sniff(b"\xef\xbb\xbf#EXTM3U\n"), "hls playlist");
        assert_eq!(
            sniff(b"ffconcat version 1.0\nfile a.flac\n"),
            "ffconcat playlist"
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), "png image");
        assert_eq!(sniff(b"hello world\n"), "text");
        assert_eq!(sniff(b"\x00\x01\x02\xff\xfe"), "unrecognised data");
    }

    #[test]
    fn file_url_is_absolute_and_prefixed() {
        let url = file_url(Path::new("-weird:name.mp3")).unwrap();
        assert!(url.starts_with("file:/"), "{url}");
        assert!(url.ends_with("/-weird:name.mp3"), "{url}");
    }
}
