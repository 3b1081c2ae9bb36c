//! Cover pictures that come from outside the audio file (enricher plugins): decoded and
//! encoded again as a JPEG, so what is stored is a picture FFmpeg made, not bytes a plugin
//! chose (no trailing payloads, no metadata, no decoder tricks passed on to browsers).

use crate::MediaError;
use ffmpeg_next::codec::{self, Id};
use ffmpeg_next::{Packet, filter, format, frame};

/// Longest side of a re-encoded cover; larger pictures are scaled down.
pub const MAX_COVER_SIDE: u32 = 1200;
/// Largest picture accepted for re-encoding.
pub const MAX_COVER_INPUT_BYTES: usize = 8 << 20;
/// Largest decoded picture (pixels) accepted: a small file can claim a huge canvas.
const MAX_PIXELS: u64 = 40_000_000;

fn bad(why: &str) -> MediaError {
    MediaError::UnsupportedFormat(format!("cover: {why}"))
}

/// Decodes a JPEG or PNG picture and encodes it again as a JPEG of at most
/// [`MAX_COVER_SIDE`] pixels on its longer side.
pub fn reencode_cover(data: &[u8]) -> Result<Vec<u8>, MediaError> {
    crate::init();
    if data.len() > MAX_COVER_INPUT_BYTES {
        return Err(bad("larger than 8 MiB"));
    }
    let id = match crate::image_kind(data) {
        Some(("image/png", _)) => Id::PNG,
        Some(_) => Id::MJPEG,
        None => return Err(bad("not a JPEG or PNG picture")),
    };
    let picture = decode(id, data)?;
    let scaled = scale(&picture)?;
    encode_jpeg(&scaled)
}

fn decode(id: Id, data: &[u8]) -> Result<frame::Video, MediaError> {
    let codec = ffmpeg_next::decoder::find(id)
        .ok_or_else(|| MediaError::Ffmpeg(format!("no {id:?} decoder")))?;
    let mut decoder = codec::context::Context::new_with_codec(codec)
        .decoder()
        .video()?;
    let corrupt = |e: ffmpeg_next::Error| MediaError::Corrupt(format!("cover: {e}"));
    decoder.send_packet(&Packet::copy(data)).map_err(corrupt)?;
    decoder.send_eof().map_err(corrupt)?;
    let mut picture = frame::Video::empty();
    decoder.receive_frame(&mut picture).map_err(corrupt)?;
    let (w, h) = (picture.width(), picture.height());
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(bad(&format!("{w}x{h} pixels")));
    }
    Ok(picture)
}

/// Scales down to fit [`MAX_COVER_SIDE`] and converts to the JPEG encoder's pixel format.
fn scale(picture: &frame::Video) -> Result<frame::Video, MediaError> {
    let pix = picture
        .format()
        .descriptor()
        .map(|d| d.name())
        .ok_or_else(|| bad("unknown pixel format"))?;
    let args = format!(
        "video_size={}x{}:pix_fmt={pix}:time_base=1/25:pixel_aspect=1/1",
        picture.width(),
        picture.height()
    );
    let mut graph = filter::Graph::new();
    let find = |name: &str| {
        filter::find(name).ok_or_else(|| MediaError::Ffmpeg(format!("no {name} filter")))
    };
    graph.add(&find("buffer")?, "in", &args)?;
    graph.add(&find("buffersink")?, "out", "")?;
    let m = MAX_COVER_SIDE;
    graph.output("in", 0)?.input("out", 0)?.parse(&format!(
        "scale=w='min({m},iw)':h='min({m},ih)':force_original_aspect_ratio=decrease,format=yuvj420p"
    ))?;
    graph.validate()?;
    let mut source = graph
        .get("in")
        .ok_or_else(|| MediaError::Ffmpeg("filter graph without input".into()))?;
    source.source().add(picture)?;
    source.source().flush()?;
    let mut sink = graph
        .get("out")
        .ok_or_else(|| MediaError::Ffmpeg("filter graph without output".into()))?;
    let mut out = frame::Video::empty();
    sink.sink().frame(&mut out)?;
    Ok(out)
}

fn encode_jpeg(picture: &frame::Video) -> Result<Vec<u8>, MediaError> {
    let codec = ffmpeg_next::encoder::find(Id::MJPEG)
        .ok_or_else(|| MediaError::Ffmpeg("no JPEG encoder".into()))?;
    let mut ctx = codec::context::Context::new_with_codec(codec);
    // A fixed quantizer: with no per-frame quality it is the encoder's best (qmin).
    ctx.set_flags(codec::Flags::QSCALE);
    let mut enc = ctx.encoder().video()?;
    enc.set_width(picture.width());
    enc.set_height(picture.height());
    enc.set_format(format::Pixel::YUVJ420P);
    enc.set_time_base((1, 25));
    let mut enc = enc.open_as(codec)?;
    enc.send_frame(picture)?;
    enc.send_eof()?;
    let mut packet = Packet::empty();
    enc.receive_packet(&mut packet)?;
    packet
        .data()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| MediaError::Ffmpeg("the JPEG encoder gave no data".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn picture(size: &str, format: &str) -> Vec<u8> {
        let out = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc=s={size}"),
                "-frames:v",
                "1",
            ])
            .args(["-f", "image2pipe", "-c:v", format, "-"])
            .output()
            .expect("ffmpeg runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn dimensions(jpeg: &[u8]) -> (u32, u32) {
        let p = decode(Id::MJPEG, jpeg).expect("the output decodes");
        (p.width(), p.height())
    }

    #[test]
    fn jpeg_and_png_become_a_fresh_jpeg() {
        for (format, input) in [
            ("mjpeg", picture("320x240", "mjpeg")),
            ("png", picture("320x240", "png")),
        ] {
            let out = reencode_cover(&input).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert!(
                out.starts_with(&[0xff, 0xd8, 0xff]),
                "{format}: a JPEG comes out"
            );
            assert_ne!(out, input);
            assert_eq!(dimensions(&out), (320, 240), "{format}");
            assert!(
                out.len() > 5_000,
                "{format}: not blurred to nothing ({} bytes)",
                out.len()
            );
        }
    }

    #[test]
    fn large_pictures_are_scaled_down_keeping_the_aspect() {
        let out = reencode_cover(&picture("2400x1600", "mjpeg")).expect("re-encoded");
        assert_eq!(dimensions(&out), (1200, 800));
    }

    #[test]
    fn bytes_that_are_not_a_picture_are_refused() {
        assert!(matches!(
            reencode_cover(b"GIF89a...."),
            Err(MediaError::UnsupportedFormat(_))
        ));
        let mut fake = vec![0xff, 0xd8, 0xff, 0xe0];
        fake.extend(std::iter::repeat_n(0x41, 2000));
        assert!(reencode_cover(&fake).is_err(), "JPEG magic then garbage");
        let mut png = picture("64x64", "png");
        png.truncate(60);
        assert!(reencode_cover(&png).is_err(), "a truncated PNG");
        // A payload after the picture does not survive.
        let mut tail = picture("64x64", "mjpeg");
        tail.extend_from_slice(b"<script>payload</script>");
        let out = reencode_cover(&tail).expect("the picture itself is fine");
        assert!(!out.windows(8).any(|w| w == b"<script>"));
    }
}
