//! # chillfi-media
//!
//! The only crate in ChillFi that links FFmpeg (through `ffmpeg-next`). Everything the server
//! needs from audio files goes through the synchronous entry points here:
//!
//! * [`probe`]: what a file is (container, codec, duration, bitrate, tags, cover art);
//! * [`convert_to_mp3`]: the library's storage format (an MP3 with **no tags at all**: tags live
//!   in ChillFi's database, so the stored bytes stay identical when a user edits metadata);
//! * [`copy_mp3_frames`]: the remux fast path of [`convert_to_mp3`], in plain Rust;
//! * [`transcode`]: on-the-fly variants for streaming (MP3, Opus in Ogg, AAC in ADTS);
//! * [`init`]: once per process.
//!
//! The functions block; the server calls them inside `spawn_blocking`. None of them holds a whole
//! file in memory: packets are streamed from the input to the output one at a time.
//!
//! ## Why the input is locked down
//! Uploaded files are hostile input. FFmpeg's default probing picks a demuxer by content, and some
//! demuxers (HLS, concat, ...) are *playlists* that make FFmpeg open other files or URLs: a
//! "song.mp3" that is really an `#EXTM3U` playlist would make the server read (and convert into
//! the user's library) any local file it can reach. So every input is opened with
//! `format_whitelist` (real audio containers only, see [`AUDIO_DEMUXERS`]) and
//! `protocol_whitelist=file`, by an absolute `file:` URL (a file name starting with `-` or
//! containing `:` is never taken for an option or a protocol). Anything else is rejected as
//! [`MediaError::UnsupportedFormat`] before a single packet is read.
//!
//! ## Why unsafe is not needed
//! All FFmpeg access goes through `ffmpeg-next`'s safe wrappers. Its metadata iterator hands out
//! `&str`s without checking UTF-8; we only ever look at their bytes and convert them with
//! `String::from_utf8_lossy`, so malformed tags become U+FFFD instead of a panic.

mod cover;
mod error;
mod input;
mod mp3_copy;
mod pipeline;
mod probe;
mod tags;

use std::path::Path;
use std::sync::Once;
use std::sync::atomic::AtomicBool;

pub use cover::{MAX_COVER_SIDE, reencode_cover};
pub use error::MediaError;
pub use input::AUDIO_DEMUXERS;
pub use probe::{image_kind, probe};
pub use tags::{MAX_LYRICS_CHARS, MAX_TAG_CHARS, MusicBrainzIds, Tags, musicbrainz_id};

/// Largest cover image [`probe`] returns; bigger pictures are ignored (they are almost always
/// mistakes, and the UI only needs a thumbnail-sized image).
pub const MAX_COVER_BYTES: usize = 16 * 1024 * 1024;

/// Initialises FFmpeg once per process and silences its logging (FFmpeg prints to stderr by
/// default, which would flood the server's logs with per-file warnings about broken frames).
/// Set `FFMPEG_LOG_LEVEL=error|warning|info|debug` to see FFmpeg's own messages when debugging.
///
/// Calling it more than once is harmless; the other functions call it themselves too.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // ffmpeg_next::init only registers devices on FFmpeg >= 4; it cannot fail in a way we
        // could act on, and every later call reports its own errors.
        let _ = ffmpeg_next::init();
        use ffmpeg_next::util::log::{Level, set_level};
        let level = match std::env::var("FFMPEG_LOG_LEVEL").as_deref() {
            Ok("error") => Level::Error,
            Ok("warning") => Level::Warning,
            Ok("info") => Level::Info,
            Ok("debug") => Level::Debug,
            _ => Level::Quiet,
        };
        set_level(level);
    });
}

/// Embedded cover art, as found in the file (never re-encoded).
#[derive(Clone, PartialEq, Eq)]
pub struct Cover {
    /// The image file's bytes.
    pub data: Vec<u8>,
    /// `image/jpeg` or `image/png` (detected from the bytes, not from what the file claims).
    pub mime: &'static str,
    /// `jpg` or `png`.
    pub ext: &'static str,
}

impl std::fmt::Debug for Cover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cover")
            .field("bytes", &self.data.len())
            .field("mime", &self.mime)
            .finish()
    }
}

/// What [`probe`] found out about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// FFmpeg's demuxer name, e.g. `mp3`, `flac`, `ogg`, `wav`, `mov,mp4,m4a,3gp,3g2,mj2`.
    pub format: String,
    /// Codec of the audio stream, e.g. `mp3`, `flac`, `vorbis`, `aac`, `pcm_s16le`.
    pub codec: String,
    /// Duration in milliseconds (0 when the container does not say and it cannot be estimated).
    pub duration_ms: u64,
    /// Audio bitrate in bits per second (cover art excluded where it can be told apart).
    pub bitrate: u32,
    pub sample_rate: u32,
    pub channels: u16,
    pub tags: Tags,
    pub cover: Option<Cover>,
}

/// Settings for [`convert_to_mp3`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mp3Settings {
    /// Constant bitrate used when `vbr_quality` is `None`. Default 320.
    pub bitrate_kbps: u32,
    /// libmp3lame VBR quality 0 (best) ..= 9; when set, VBR is used instead of CBR.
    pub vbr_quality: Option<u8>,
    /// An MP3 source at or above this bitrate (or any VBR MP3) is remuxed: its audio frames are
    /// copied as they are, because re-encoding lossy audio only loses quality. Default 128.
    pub remux_min_bitrate_kbps: u32,
}

impl Default for Mp3Settings {
    fn default() -> Self {
        Mp3Settings {
            bitrate_kbps: 320,
            vbr_quality: None,
            remux_min_bitrate_kbps: 128,
        }
    }
}

/// How [`convert_to_mp3`] produced its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertKind {
    /// MP3 frames copied unchanged into a fresh, tag-free MP3 file.
    Remuxed,
    /// Decoded and encoded again.
    Encoded,
}

/// What was written by [`convert_to_mp3`] or [`transcode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertReport {
    pub kind: ConvertKind,
    /// Duration of the audio written, in milliseconds.
    pub duration_ms: u64,
    /// Bits per second: the nominal bitrate for CBR encodes, otherwise the average over the
    /// whole output file.
    pub bitrate: u32,
    pub sample_rate: u32,
    pub channels: u16,
    /// Size of the output file.
    pub bytes: u64,
}

/// Converts any accepted audio file to a tag-free MP3 at `dst` (a temporary path the caller
/// owns; it is created or truncated, and removed again if the conversion fails).
///
/// MP3 sources at or above `settings.remux_min_bitrate_kbps` (and VBR MP3s) are remuxed; all
/// others are decoded, resampled to what libmp3lame supports and encoded (CBR
/// `settings.bitrate_kbps`, or VBR with `settings.vbr_quality`). `cancel` is checked between
/// packets; once it is true the function returns [`MediaError::Cancelled`] promptly.
pub fn convert_to_mp3(
    src: &Path,
    dst: &Path,
    settings: &Mp3Settings,
    cancel: &AtomicBool,
) -> Result<ConvertReport, MediaError> {
    pipeline::cleanup_on_error(dst, pipeline::convert_to_mp3(src, dst, settings, cancel))
}

/// The remux fast path of [`convert_to_mp3`] alone, without FFmpeg: when `src` is a plain MP3
/// (layer III frames, tags and a little junk around them) that `settings` say to remux, copies
/// its frames to `dst` and reports it. `Ok(None)` when it is not, or should be encoded; nothing
/// is written then and [`convert_to_mp3`] does the whole job. Cheap to try on any file: the
/// server starts it while it still hashes and probes.
pub fn copy_mp3_frames(
    src: &Path,
    dst: &Path,
    settings: &Mp3Settings,
    cancel: &AtomicBool,
) -> Result<Option<ConvertReport>, MediaError> {
    let copied = mp3_copy::remux(src, dst, settings, cancel);
    if copied.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    copied
}

/// Codec of a streaming variant made by [`transcode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetCodec {
    /// MP3 (libmp3lame, CBR), in a raw `.mp3` stream without tags. MIME `audio/mpeg`.
    Mp3,
    /// Opus (libopus, always 48 kHz) in an Ogg container. MIME `audio/ogg`.
    Opus,
    /// AAC-LC (FFmpeg's native encoder) in ADTS (`.aac`). ADTS rather than MP4 because it is
    /// written front to back (no index to patch at the end), so it can be streamed while it is
    /// being made, and every browser that plays AAC plays ADTS. MIME `audio/aac`.
    Aac,
}

impl TargetCodec {
    /// The MIME type to serve the variant with.
    pub fn mime(self) -> &'static str {
        match self {
            TargetCodec::Mp3 => "audio/mpeg",
            TargetCodec::Opus => "audio/ogg",
            TargetCodec::Aac => "audio/aac",
        }
    }

    /// The usual file extension of the variant.
    pub fn ext(self) -> &'static str {
        match self {
            TargetCodec::Mp3 => "mp3",
            TargetCodec::Opus => "opus",
            TargetCodec::Aac => "aac",
        }
    }
}

/// A streaming variant to make with [`transcode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscodeProfile {
    pub codec: TargetCodec,
    pub bitrate_kbps: u32,
    /// Output sample rate; `None` keeps the source's when the encoder supports it (Opus is
    /// always 48 kHz).
    pub sample_rate: Option<u32>,
    /// Output channels (1 or 2); `None` keeps mono as mono and downmixes anything else to stereo.
    pub channels: Option<u16>,
}

/// Makes a streaming variant of `src` at `dst` (always encodes, writes no tags). See
/// [`TargetCodec`] for the containers. Same `dst` and `cancel` contract as [`convert_to_mp3`].
pub fn transcode(
    src: &Path,
    dst: &Path,
    profile: &TranscodeProfile,
    cancel: &AtomicBool,
) -> Result<ConvertReport, MediaError> {
    pipeline::cleanup_on_error(dst, pipeline::transcode(src, dst, profile, cancel))
}
