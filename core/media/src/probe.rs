//! [`probe`]: container, codec, duration, tags and cover art of an accepted audio file.

use std::path::Path;

use ffmpeg_next::format::context::Input;
use ffmpeg_next::format::stream::Disposition;

use crate::input::{audio_stream, next_packet, open};
use crate::tags::RawTags;
use crate::{Cover, MAX_COVER_BYTES, MediaError, ProbeReport};

/// How many packets [`probe`] reads at most while looking for cover art. FFmpeg queues attached
/// pictures ahead of the audio, so they come first; the bound keeps probing cheap on odd files.
const COVER_SEARCH_PACKETS: usize = 64;

/// Opens `path` (see the crate docs for what is accepted) and reports what it is.
///
/// Errors: [`MediaError::Empty`], [`MediaError::UnsupportedFormat`] (not an accepted audio
/// container, including playlists disguised as audio), [`MediaError::NoAudioStream`],
/// [`MediaError::Corrupt`], [`MediaError::Io`].
pub fn probe(path: &Path) -> Result<ProbeReport, MediaError> {
    let mut input = open(path)?;
    let index = audio_stream(&input)?;
    let stream = input.stream(index).ok_or(MediaError::NoAudioStream)?;
    let params = stream.parameters();
    let codec = params.id().name().to_owned();
    let stream_bitrate = params.bit_rate();
    let stream_duration_ms = scaled_ms(stream.duration(), stream.time_base());
    let (sample_rate, channels) = rate_and_channels(&stream)?;

    let mut raw = RawTags::default();
    raw.add(&input.metadata());
    raw.add(&stream.metadata());
    let tags = raw.to_tags();

    let format = input.format().name().to_owned();
    let duration_ms = if input.duration() > 0 {
        (input.duration() / 1000) as u64 // AV_TIME_BASE is microseconds
    } else {
        stream_duration_ms.unwrap_or(0)
    };
    // A damaged picture (or damaged audio right after it) must not make the file unusable:
    // conversion decides about the audio.
    let cover = find_cover(&mut input).ok().flatten();

    let bitrate = if stream_bitrate > 0 {
        stream_bitrate
    } else {
        // Lossless codecs carry no nominal bitrate: average over the file, minus the cover.
        let size = std::fs::metadata(path)?.len() as i64;
        let audio_bytes = size - cover.as_ref().map_or(0, |c| c.data.len() as i64);
        if duration_ms > 0 {
            audio_bytes.max(0) * 8 * 1000 / duration_ms as i64
        } else {
            input.bit_rate()
        }
    };

    Ok(ProbeReport {
        format,
        codec,
        duration_ms,
        bitrate: u32::try_from(bitrate.max(0)).unwrap_or(u32::MAX),
        sample_rate,
        channels,
        tags,
        cover,
    })
}

pub(crate) fn scaled_ms(value: i64, tb: ffmpeg_next::Rational) -> Option<u64> {
    if value <= 0 || tb.denominator() == 0 || value == i64::MIN {
        return None;
    }
    let ms = value as i128 * tb.numerator() as i128 * 1000 / tb.denominator() as i128;
    u64::try_from(ms).ok()
}

/// Sample rate and channel count of a stream, read through a (cheap) decoder context.
pub(crate) fn rate_and_channels(
    stream: &ffmpeg_next::format::stream::Stream<'_>,
) -> Result<(u32, u16), MediaError> {
    let ctx = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters())?;
    let decoder = ctx
        .decoder()
        .audio()
        .map_err(|e| MediaError::Corrupt(format!("unusable audio stream: {e}")))?;
    Ok((decoder.rate(), decoder.channels()))
}

fn find_cover(input: &mut Input) -> Result<Option<Cover>, MediaError> {
    let pictures: Vec<usize> = input
        .streams()
        .filter(|s| s.disposition().contains(Disposition::ATTACHED_PIC))
        .map(|s| s.index())
        .collect();
    if pictures.is_empty() {
        return Ok(None);
    }
    for _ in 0..COVER_SEARCH_PACKETS {
        let Some(packet) = next_packet(input)? else {
            break;
        };
        if !pictures.contains(&packet.stream()) {
            continue;
        }
        if let Some(cover) = packet.data().and_then(cover_from_bytes) {
            return Ok(Some(cover));
        }
    }
    Ok(None)
}

/// `(mime, extension)` of a JPEG or PNG, recognised by its first bytes (never by what a file or
/// a plugin claims).
pub fn image_kind(data: &[u8]) -> Option<(&'static str, &'static str)> {
    if data.starts_with(b"\xff\xd8\xff") {
        Some(("image/jpeg", "jpg"))
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png"))
    } else {
        None
    }
}

/// A cover from image bytes, if they are a JPEG or PNG of a sane size.
pub(crate) fn cover_from_bytes(data: &[u8]) -> Option<Cover> {
    if data.len() > MAX_COVER_BYTES {
        return None;
    }
    let (mime, ext) = image_kind(data)?;
    Some(Cover {
        data: data.to_vec(),
        mime,
        ext,
    })
}

#[cfg(test)]
mod image_tests {
    use super::image_kind;

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(
            image_kind(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(("image/jpeg", "jpg"))
        );
        assert_eq!(
            image_kind(b"\x89PNG\r\n\x1a\nxxxx"),
            Some(("image/png", "png"))
        );
        assert_eq!(image_kind(b"<svg"), None);
    }
}
