//! The remux fast path: copies the frames of a plain MP3 file (MPEG audio layer III) into a
//! tag-free MP3 without FFmpeg. FFmpeg's remux demuxes every frame into a packet and muxes it
//! again (about 2.4 ms per MB here); walking the frame headers costs little more than the copy.
//!
//! Dropped: ID3v2 tags in front, ID3v1, APEv2 and Lyrics3 tags at the end, and stray bytes
//! between frames. Kept as it is: the Xing/Info/VBRI frame that starts most files (it is part
//! of the MPEG stream, indexes VBR files and carries the encoder delay for gapless playback).
//! Anything unusual (another layer, free-format bitrate, a VBR file without an index frame, much
//! junk, no frames) is left to FFmpeg: [`remux`] answers `None` and writes nothing.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{ConvertKind, ConvertReport, MediaError, Mp3Settings};

/// Frames looked at before deciding between remux and encode (as the FFmpeg path does).
const LEADING_FRAMES: usize = 64;
/// Stray bytes tolerated, in all, before the file is left to FFmpeg.
const MAX_JUNK: u64 = 64 * 1024;
/// Bytes before the first frame (after the ID3v2 tags) tolerated.
const MAX_LEADING_JUNK: u64 = 4096;
const CHUNK: usize = 256 * 1024;

/// What a layer III frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Bits 19-20: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5.
    version: u8,
    sample_rate: u32,
    pub(crate) bitrate_kbps: u32,
    mono: bool,
    /// Whole frame, header included.
    len: usize,
}

impl Header {
    pub(crate) fn parse(bytes: &[u8]) -> Option<Header> {
        const MPEG1: [u32; 15] = [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ];
        const MPEG2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
        let [b0, b1, b2, b3]: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        if b0 != 0xff || b1 & 0xe0 != 0xe0 {
            return None;
        }
        let version = (b1 >> 3) & 3;
        let layer3 = (b1 >> 1) & 3 == 1;
        if version == 1 || !layer3 {
            return None;
        }
        let mpeg1 = version == 3;
        // Index 0 is "free format" (no length in the header): left to FFmpeg.
        let bitrate_kbps = *if mpeg1 { &MPEG1 } else { &MPEG2 }
            .get(usize::from(b2 >> 4))
            .filter(|k| **k > 0)?;
        let base_rate = *[44_100, 48_000, 32_000].get(usize::from((b2 >> 2) & 3))?;
        let sample_rate = match version {
            3 => base_rate,
            2 => base_rate / 2,
            _ => base_rate / 4,
        };
        let padding = usize::from((b2 >> 1) & 1);
        let coefficient = if mpeg1 { 144 } else { 72 };
        let len = (coefficient * bitrate_kbps as usize * 1000) / sample_rate as usize + padding;
        Some(Header {
            version,
            sample_rate,
            bitrate_kbps,
            mono: b3 >> 6 == 3,
            len,
        })
    }

    fn samples(&self) -> u64 {
        if self.version == 3 { 1152 } else { 576 }
    }

    fn channels(&self) -> u16 {
        if self.mono { 1 } else { 2 }
    }

    /// Frames of one stream share version and sample rate.
    fn same_stream(&self, other: &Header) -> bool {
        self.version == other.version && self.sample_rate == other.sample_rate
    }

    /// "Xing"/"Info" (after the side information) or "VBRI" (at byte 36): the frame is the
    /// stream's index frame, not audio. `Some(true)` when it marks a VBR stream.
    fn index_frame(&self, frame: &[u8]) -> Option<bool> {
        let side_info = match (self.version == 3, self.mono) {
            (true, false) => 32,
            (true, true) | (false, false) => 17,
            (false, true) => 9,
        };
        match frame.get(4 + side_info..8 + side_info)? {
            b"Xing" => return Some(true),
            b"Info" => return Some(false),
            _ => {}
        }
        (frame.get(36..40)? == b"VBRI").then_some(true)
    }
}

/// Where the MPEG stream of a file starts and ends once its tags are taken off.
fn audio_range(file: &mut File, len: u64) -> std::io::Result<(u64, u64)> {
    let read_at = |file: &mut File, at: u64, buf: &mut [u8]| -> std::io::Result<bool> {
        if at.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(buf)?;
        Ok(true)
    };
    let mut start = 0u64;
    // ID3v2 tags, possibly more than one: "ID3", version, flags, a 28-bit size (+ a footer).
    let mut head = [0u8; 10];
    while read_at(file, start, &mut head)? && head.starts_with(b"ID3") {
        let size = head[6..10]
            .iter()
            .fold(0u64, |acc, b| (acc << 7) | u64::from(b & 0x7f));
        let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
        start += 10 + size + footer;
    }
    let mut end = len;
    loop {
        let before = end;
        let mut tail = [0u8; 32];
        // Each tag sits entirely before `end` (a file shorter than a tag holds none).
        let at = |back: u64| end.checked_sub(back).filter(|at| *at >= start);
        if let Some(at128) = at(128)
            && read_at(file, at128, &mut tail[..3])?
            && &tail[..3] == b"TAG"
        {
            end = at128;
        } else if let Some(at32) = at(32)
            && read_at(file, at32, &mut tail)?
            && tail.starts_with(b"APETAGEX")
        {
            // The footer's size counts the items and the footer; a header adds 32 bytes.
            let size = u64::from(u32::from_le_bytes([tail[12], tail[13], tail[14], tail[15]]));
            let header = if tail[23] & 0x80 != 0 { 32 } else { 0 };
            end = end.saturating_sub(size + header);
        } else if let Some(at15) = at(15)
            && read_at(file, at15, &mut tail[..15])?
            && &tail[6..15] == b"LYRICS200"
        {
            let size = std::str::from_utf8(&tail[..6])
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            end = end.saturating_sub(size + 15);
        } else {
            break;
        }
        // A damaged size (0) must not keep the loop where it is.
        if end <= start || end >= before {
            break;
        }
    }
    Ok((start, end.max(start)))
}

/// A read window over `[pos, end)` of the file.
struct Window {
    file: File,
    buf: Vec<u8>,
    at: usize,
    /// File offset of `buf[at]`.
    pos: u64,
    /// File offset just past `buf`.
    read_to: u64,
    end: u64,
}

impl Window {
    /// Up to `want` bytes from `pos` (fewer only at the end of the range).
    fn peek(&mut self, want: usize) -> std::io::Result<&[u8]> {
        if self.buf.len() - self.at < want && self.read_to < self.end {
            self.buf.drain(..self.at);
            self.at = 0;
            while self.buf.len() < want.max(CHUNK) && self.read_to < self.end {
                let room = (self.end - self.read_to).min(CHUNK as u64) as usize;
                let old = self.buf.len();
                self.buf.resize(old + room, 0);
                let n = self.file.read(&mut self.buf[old..])?;
                self.buf.truncate(old + n);
                if n == 0 {
                    self.end = self.read_to;
                }
                self.read_to += n as u64;
            }
        }
        let available = &self.buf[self.at..];
        Ok(&available[..available.len().min(want)])
    }

    fn advance(&mut self, n: usize) {
        self.at += n;
        self.pos += n as u64;
    }
}

/// Copies `src`'s frames to `dst` when `src` is a plain MP3 that should be remuxed under
/// `settings` (VBR, or CBR at or above the remux threshold). `None`: not a plain MP3, or it
/// should be encoded; nothing was written then.
pub(crate) fn remux(
    src: &Path,
    dst: &Path,
    settings: &Mp3Settings,
    cancel: &AtomicBool,
) -> Result<Option<ConvertReport>, MediaError> {
    let mut file = File::open(src)?;
    let len = file.metadata()?.len();
    let (start, end) = audio_range(&mut file, len)?;
    file.seek(SeekFrom::Start(start))?;
    let mut window = Window {
        file,
        buf: Vec::with_capacity(CHUNK),
        at: 0,
        pos: start,
        read_to: start,
        end,
    };

    let mut stream: Option<Header> = None;
    let mut junk = 0u64;
    let mut index_vbr = None;
    let mut first_bitrate = None;
    let mut vbr = false;
    let mut frames = 0u64;
    let mut samples = 0u64;
    // Frames are held here until the remux decision, then streamed.
    let mut pending = Vec::new();
    let mut out: Option<BufWriter<File>> = None;
    let mut written = 0u64;
    loop {
        if frames.is_multiple_of(256) && cancel.load(Ordering::Relaxed) {
            return Err(MediaError::Cancelled);
        }
        let Some(header) = Header::parse(window.peek(4)?) else {
            if window.peek(1)?.is_empty() {
                break;
            }
            junk += 1;
            if junk > MAX_JUNK || (stream.is_none() && junk > MAX_LEADING_JUNK) {
                return Ok(None);
            }
            window.advance(1);
            continue;
        };
        let bytes = window.peek(header.len + 4)?;
        let whole = bytes.len() >= header.len;
        // A frame counts once it fits and either continues the stream or is followed by
        // another frame of its kind (two in a row are unlikely to be chance bytes).
        let continues = stream.is_some_and(|s| s.same_stream(&header));
        let followed = bytes.len() == header.len
            || bytes
                .get(header.len..)
                .and_then(Header::parse)
                .is_some_and(|next| next.same_stream(&header));
        if !whole || !(continues || (stream.is_none() && followed)) {
            if stream.is_some() && !continues && whole {
                // Another kind of stream in the middle: not a plain file.
                return Ok(None);
            }
            junk += 1;
            if junk > MAX_JUNK || (stream.is_none() && junk > MAX_LEADING_JUNK) {
                return Ok(None);
            }
            window.advance(1);
            continue;
        }
        let frame = &bytes[..header.len];
        let is_index = stream.is_none() && index_vbr.is_none() && {
            index_vbr = header.index_frame(frame);
            index_vbr.is_some()
        };
        stream = Some(header);
        if !is_index {
            frames += 1;
            samples += header.samples();
            match first_bitrate {
                None => first_bitrate = Some(header.bitrate_kbps),
                Some(b) if b != header.bitrate_kbps => vbr = true,
                Some(_) => {}
            }
        }
        match &mut out {
            Some(out) => out.write_all(frame)?,
            None => pending.extend_from_slice(frame),
        }
        written += header.len as u64;
        window.advance(header.len);
        if out.is_none() && frames as usize == LEADING_FRAMES {
            match decide(index_vbr, vbr, first_bitrate, settings) {
                Some(_) => out = Some(open_out(dst, &pending)?),
                None => return Ok(None),
            }
        }
    }
    let Some(header) = stream.filter(|_| frames > 0) else {
        return Ok(None);
    };
    let vbr = match &mut out {
        Some(_) => vbr || index_vbr == Some(true),
        None => match decide(index_vbr, vbr, first_bitrate, settings) {
            Some(vbr) => {
                out = Some(open_out(dst, &pending)?);
                vbr
            }
            None => return Ok(None),
        },
    };
    if let Some(out) = out {
        out.into_inner()
            .map_err(|e| MediaError::Io(e.into_error()))?
            .flush()?;
    }
    let duration_ms = samples * 1000 / u64::from(header.sample_rate);
    Ok(Some(ConvertReport {
        kind: ConvertKind::Remuxed,
        duration_ms,
        bitrate: if vbr {
            crate::pipeline::avg_bitrate(written, duration_ms)
        } else {
            first_bitrate.unwrap_or(header.bitrate_kbps) * 1000
        },
        sample_rate: header.sample_rate,
        channels: header.channels(),
        bytes: written,
    }))
}

/// `Some(vbr)` when the stream is to be remuxed. A VBR stream without an index frame is left
/// to FFmpeg, whose muxer writes one (players need it to seek).
fn decide(
    index_vbr: Option<bool>,
    bitrates_vary: bool,
    first_bitrate: Option<u32>,
    settings: &Mp3Settings,
) -> Option<bool> {
    let vbr = bitrates_vary || index_vbr == Some(true);
    if vbr {
        return index_vbr.is_some().then_some(true);
    }
    (first_bitrate? >= settings.remux_min_bitrate_kbps).then_some(false)
}

fn open_out(dst: &Path, pending: &[u8]) -> Result<BufWriter<File>, MediaError> {
    let mut out = BufWriter::with_capacity(CHUNK, File::create(dst)?);
    out.write_all(pending)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_give_frame_lengths() {
        // MPEG-1 layer III, 320 kb/s, 44.1 kHz, no padding, joint stereo.
        let h = Header::parse(&[0xff, 0xfb, 0xe0, 0x64]).expect("valid header");
        assert_eq!((h.bitrate_kbps, h.sample_rate, h.len), (320, 44_100, 1044));
        assert_eq!((h.samples(), h.channels()), (1152, 2));
        // 128 kb/s with padding, mono.
        let h = Header::parse(&[0xff, 0xfb, 0x92, 0xc4]).expect("valid header");
        assert_eq!((h.bitrate_kbps, h.len, h.channels()), (128, 418, 1));
        // MPEG-2 (22.05 kHz) 64 kb/s.
        let h = Header::parse(&[0xff, 0xf3, 0x80, 0x64]).expect("valid header");
        assert_eq!((h.sample_rate, h.len, h.samples()), (22_050, 208, 576));
    }

    /// Hostile bytes: tags with damaged sizes, frame headers pointing past the end, junk.
    /// Each file is copied or left to FFmpeg, never a panic or a hang.
    #[test]
    fn damaged_files_end_cleanly() {
        let dir = std::env::temp_dir().join(format!("chillfi-mp3-copy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let frame = |len: usize| {
            let mut f = vec![0u8; len];
            f[..4].copy_from_slice(&[0xff, 0xfb, 0x90, 0x64]);
            f
        };
        // Files shorter than the tags they seem to end with.
        let short: [&[u8]; 4] = [b"", b"TAG", b"TAG and a little more", b"APETAGEX"];
        for bytes in short {
            let src = dir.join("short.mp3");
            std::fs::write(&src, bytes).expect("write");
            let out = dir.join("short-out.mp3");
            let copied = remux(&src, &out, &Mp3Settings::default(), &AtomicBool::new(false));
            assert!(matches!(copied, Ok(None)), "{bytes:?}: {copied:?}");
        }
        for case in 0..300 {
            let mut bytes = Vec::new();
            if case % 3 == 0 {
                bytes.extend_from_slice(b"ID3\x03\x00\x00");
                bytes.extend((0..4).map(|_| (next() & 0x7f) as u8));
            }
            for _ in 0..(next() % 40) {
                match next() % 4 {
                    0 => bytes.extend(frame(417)),
                    1 => bytes.extend((0..(next() % 600)).map(|_| next() as u8)),
                    2 => bytes.extend_from_slice(&[0xff, 0xfb, (next() & 0xff) as u8, 0x64]),
                    _ => bytes.extend(frame(100)),
                }
            }
            match case % 4 {
                0 => {
                    let mut ape = b"APETAGEX".to_vec();
                    ape.extend(2000u32.to_le_bytes());
                    ape.extend(((next() % 3) as u32 * 7).to_le_bytes());
                    ape.extend([0u8; 4]);
                    ape.extend(((next() as u32) & 0x8000_0000).to_le_bytes());
                    ape.extend([0u8; 8]);
                    bytes.extend(ape);
                }
                1 => bytes.extend_from_slice(b"000000LYRICS200"),
                2 => bytes.extend(b"TAG".iter().copied().chain(std::iter::repeat_n(0, 125))),
                _ => {}
            }
            let src = dir.join("in.mp3");
            let dst = dir.join("out.mp3");
            std::fs::write(&src, &bytes).expect("write");
            let copied = remux(&src, &dst, &Mp3Settings::default(), &AtomicBool::new(false));
            if let Ok(Some(report)) = copied {
                let out = std::fs::read(&dst).expect("output");
                assert_eq!(report.bytes, out.len() as u64, "case {case}");
                assert!(out.len() <= bytes.len(), "case {case}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn non_layer3_free_format_and_reserved_values_are_refused() {
        assert!(
            Header::parse(&[0xff, 0xfd, 0xe0, 0x64]).is_none(),
            "layer II"
        );
        assert!(
            Header::parse(&[0xff, 0xfb, 0x00, 0x64]).is_none(),
            "free format"
        );
        assert!(
            Header::parse(&[0xff, 0xfb, 0xf0, 0x64]).is_none(),
            "bad bitrate"
        );
        assert!(
            Header::parse(&[0xff, 0xfb, 0xec, 0x64]).is_none(),
            "bad rate"
        );
        assert!(
            Header::parse(&[0xff, 0xeb, 0xe0, 0x64]).is_none(),
            "reserved version"
        );
        assert!(Header::parse(&[0xff, 0xfb, 0xe0]).is_none(), "short");
    }
}
