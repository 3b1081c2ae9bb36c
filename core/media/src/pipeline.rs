//! Remuxing and the decode -> filter -> encode -> mux pipeline behind [`crate::convert_to_mp3`]
//! and [`crate::transcode`].
//!
//! Packets stream through one at a time, so memory stays bounded whatever the input size.
//! Timestamps of the output are rebuilt from sample counts rather than copied from the input:
//! the result is gap-free even when a damaged input has broken timestamps.
//!
//! Resampling goes through an `aresample,aformat` filter graph that converts to a sample format,
//! rate and (mono/stereo) layout the encoder accepts. The sink hands out frames of exactly the
//! encoder's frame size (1152 for MP3), which fixed-frame-size encoders require.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ffmpeg_next::codec::capabilities::Capabilities;
use ffmpeg_next::codec::flag::Flags as CodecFlags;
use ffmpeg_next::format::context::{Input, Output};
use ffmpeg_next::{ChannelLayout, Dictionary, Packet, Rational, codec, filter, frame};

use crate::input::{audio_stream, file_url, next_packet, open};
use crate::mp3_copy::Header;
use crate::probe::rate_and_channels;
use crate::{ConvertKind, ConvertReport, MediaError, Mp3Settings, TargetCodec, TranscodeProfile};

/// How many leading packets are inspected to tell CBR from VBR MP3.
const VBR_SCAN_PACKETS: usize = 64;

/// Decoder errors in a row after which the input is declared corrupt.
const MAX_DECODE_ERRORS: u32 = 1000;

/// Muxer options that keep MP3 output free of ID3v2 and ID3v1 tags (without them FFmpeg always
/// writes at least an ID3v2 header).
const MP3_MUXER_OPTS: &[(&str, &str)] = &[("id3v2_version", "0"), ("write_id3v1", "0")];

pub(crate) fn cleanup_on_error(
    dst: &Path,
    result: Result<ConvertReport, MediaError>,
) -> Result<ConvertReport, MediaError> {
    if result.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    result
}

pub(crate) fn convert_to_mp3(
    src: &Path,
    dst: &Path,
    settings: &Mp3Settings,
    cancel: &AtomicBool,
) -> Result<ConvertReport, MediaError> {
    if let Some(report) = crate::copy_mp3_frames(src, dst, settings, cancel)? {
        return Ok(report);
    }
    let mut input = open(src)?;
    let index = audio_stream(&input)?;
    let is_mp3 = input.format().name() == "mp3"
        && input
            .stream(index)
            .is_some_and(|s| s.parameters().id() == codec::Id::MP3);

    // Buffer a few leading packets (a few KiB) to look at their frame headers, then replay them.
    let mut head = Vec::new();
    if is_mp3 {
        while head.len() < VBR_SCAN_PACKETS {
            match next_packet(&mut input)? {
                Some(p) => head.push(p),
                None => break,
            }
        }
    }
    let source_bitrate = input.stream(index).map_or(0, |s| s.parameters().bit_rate());
    let remux = is_mp3
        && (is_vbr(&head, index)
            || source_bitrate >= i64::from(settings.remux_min_bitrate_kbps) * 1000);
    if remux {
        return remux_mp3(input, index, head, dst, cancel);
    }

    let plan = EncodePlan {
        encoder: "libmp3lame",
        muxer: "mp3",
        bitrate_kbps: settings.bitrate_kbps,
        vbr_quality: settings.vbr_quality.map(|q| q.min(9)),
        // MPEG-1 rates only: MPEG-2/2.5 (below 32 kHz) cannot carry more than 160/64 kb/s.
        sample_rate: Some(mpeg1_rate(input_rate(&input, index))),
        channels: None,
        muxer_opts: MP3_MUXER_OPTS,
        encoder_opts: &[],
    };
    encode(input, index, head, dst, &plan, cancel)
}

pub(crate) fn transcode(
    src: &Path,
    dst: &Path,
    profile: &TranscodeProfile,
    cancel: &AtomicBool,
) -> Result<ConvertReport, MediaError> {
    let input = open(src)?;
    let index = audio_stream(&input)?;
    type Opts = &'static [(&'static str, &'static str)];
    let (encoder, muxer, muxer_opts, encoder_opts, sample_rate): (_, _, Opts, Opts, _) =
        match profile.codec {
            TargetCodec::Mp3 => (
                "libmp3lame",
                "mp3",
                MP3_MUXER_OPTS,
                &[],
                profile.sample_rate,
            ),
            // bitexact keeps the muxer from adding an "encoder" comment to the Opus header;
            // constrained VBR keeps the stream near the requested bitrate (plain VBR makes
            // 160 kb/s of a 96 kb/s request on tonal music), which is what streaming needs.
            TargetCodec::Opus => (
                "libopus",
                "ogg",
                &[("fflags", "+bitexact")],
                &[("vbr", "constrained")],
                Some(48_000),
            ),
            TargetCodec::Aac => ("aac", "adts", &[], &[], profile.sample_rate),
        };
    let plan = EncodePlan {
        encoder,
        muxer,
        bitrate_kbps: profile.bitrate_kbps,
        vbr_quality: None,
        sample_rate,
        channels: profile.channels,
        muxer_opts,
        encoder_opts,
    };
    encode(input, index, Vec::new(), dst, &plan, cancel)
}

/// True when the MP3 frame headers of the leading packets use more than one bitrate.
fn is_vbr(head: &[Packet], index: usize) -> bool {
    let mut bitrates = head
        .iter()
        .filter(|p| p.stream() == index)
        .filter_map(|p| mp3_frame_bitrate(p.data()?));
    let first = bitrates.next();
    bitrates.any(|b| Some(b) != first)
}

fn check_cancel(cancel: &AtomicBool) -> Result<(), MediaError> {
    if cancel.load(Ordering::Relaxed) {
        Err(MediaError::Cancelled)
    } else {
        Ok(())
    }
}

fn open_output(dst: &Path, muxer: &str) -> Result<Output, MediaError> {
    let url = file_url(dst)?;
    ffmpeg_next::format::output_as(&url, muxer).map_err(|e| {
        MediaError::Io(std::io::Error::other(format!(
            "cannot create {}: {e}",
            dst.display()
        )))
    })
}

fn dict(opts: &[(&str, &str)]) -> Dictionary<'static> {
    let mut d = Dictionary::new();
    for (k, v) in opts {
        d.set(k, v);
    }
    d
}

fn file_len(path: &Path) -> Result<u64, MediaError> {
    Ok(std::fs::metadata(path)?.len())
}

pub(crate) fn avg_bitrate(bytes: u64, duration_ms: u64) -> u32 {
    if duration_ms == 0 {
        return 0;
    }
    u32::try_from(bytes.saturating_mul(8000) / duration_ms).unwrap_or(u32::MAX)
}

/// Copies the MP3 frames into a fresh MP3 file without tags.
fn remux_mp3(
    mut input: Input,
    index: usize,
    head: Vec<Packet>,
    dst: &Path,
    cancel: &AtomicBool,
) -> Result<ConvertReport, MediaError> {
    let stream = input.stream(index).ok_or(MediaError::NoAudioStream)?;
    let in_tb = stream.time_base();
    let params = stream.parameters();
    let nominal_bitrate = params.bit_rate();
    let (sample_rate, channels) = rate_and_channels(&stream)?;
    let vbr = is_vbr(&head, index);

    let mut octx = open_output(dst, "mp3")?;
    {
        let mut ost = octx.add_stream(ffmpeg_next::encoder::find(codec::Id::None))?;
        ost.set_parameters(params);
        ost.set_time_base(in_tb);
    }
    octx.write_header_with(dict(MP3_MUXER_OPTS))?;
    let out_tb = octx.stream(0).map_or(in_tb, |s| s.time_base());

    let mut duration = 0i64;
    let mut written = 0u64;
    let mut head = head.into_iter();
    loop {
        check_cancel(cancel)?;
        let packet = match head.next() {
            Some(p) => Some(p),
            None => next_packet(&mut input)?,
        };
        let Some(mut packet) = packet else { break };
        if packet.stream() != index {
            continue;
        }
        // Only real MPEG audio frames: a stray trailing tag or junk block is not copied.
        let is_frame = packet
            .data()
            .is_some_and(|d| d.len() >= 4 && d[0] == 0xff && d[1] & 0xe0 == 0xe0);
        if !is_frame {
            continue;
        }
        duration += packet.duration().max(0);
        packet.rescale_ts(in_tb, out_tb);
        packet.set_position(-1);
        packet.set_stream(0);
        // One stream: nothing to interleave, so skip the interleaving queue.
        packet
            .write(&mut octx)
            .map_err(|e| MediaError::Io(std::io::Error::other(e.to_string())))?;
        written += 1;
    }
    if written == 0 {
        return Err(MediaError::Corrupt("no readable MP3 frames".into()));
    }
    octx.write_trailer()
        .map_err(|e| MediaError::Io(std::io::Error::other(e.to_string())))?;
    drop(octx);

    let duration_ms = crate::probe::scaled_ms(duration, in_tb).unwrap_or(0);
    let bytes = file_len(dst)?;
    Ok(ConvertReport {
        kind: ConvertKind::Remuxed,
        duration_ms,
        bitrate: if vbr || nominal_bitrate <= 0 {
            avg_bitrate(bytes, duration_ms)
        } else {
            u32::try_from(nominal_bitrate).unwrap_or(u32::MAX)
        },
        sample_rate,
        channels,
        bytes,
    })
}

struct EncodePlan {
    encoder: &'static str,
    muxer: &'static str,
    bitrate_kbps: u32,
    vbr_quality: Option<u8>,
    sample_rate: Option<u32>,
    channels: Option<u16>,
    muxer_opts: &'static [(&'static str, &'static str)],
    encoder_opts: &'static [(&'static str, &'static str)],
}

fn input_rate(input: &Input, index: usize) -> u32 {
    input
        .stream(index)
        .and_then(|s| rate_and_channels(&s).ok())
        .map_or(44_100, |(rate, _)| rate)
}

/// The MPEG-1 layer 3 rate to store a source of `rate` Hz at: 32/44.1/48 kHz are kept,
/// multiples and fractions of 11025 Hz go to 44.1 kHz, everything else to 48 kHz.
fn mpeg1_rate(rate: u32) -> u32 {
    match rate {
        32_000 | 44_100 | 48_000 => rate,
        r if r % 11_025 == 0 => 44_100,
        _ => 48_000,
    }
}

/// Bitrate in the header of an MPEG audio layer 3 frame.
fn mp3_frame_bitrate(frame: &[u8]) -> Option<u32> {
    Header::parse(frame).map(|h| h.bitrate_kbps * 1000)
}

/// Picks `wanted` if the encoder supports it, else the nearest supported rate at or above it,
/// else the highest.
fn pick_rate(supported: Option<Vec<i32>>, wanted: u32) -> u32 {
    let Some(mut rates) = supported.filter(|r| !r.is_empty()) else {
        return wanted;
    };
    rates.sort_unstable();
    let wanted_i = i32::try_from(wanted).unwrap_or(i32::MAX);
    let pick = rates
        .iter()
        .copied()
        .find(|r| *r >= wanted_i)
        .or_else(|| rates.last().copied())
        .unwrap_or(wanted_i);
    u32::try_from(pick).unwrap_or(wanted)
}

fn layout_name(channels: u16) -> &'static str {
    if channels == 1 { "mono" } else { "stereo" }
}

struct Pipeline {
    decoder: codec::decoder::Audio,
    graph: filter::Graph,
    encoder: codec::encoder::Audio,
    enc_tb: Rational,
    out_tb: Rational,
    in_samples: i64,
    out_samples: i64,
    decode_errors: u32,
    /// Bitrate of the first MP3 frame written (what LAME really used).
    first_frame_bitrate: Option<u32>,
}

impl Pipeline {
    fn decode(&mut self, packet: Option<&Packet>, octx: &mut Output) -> Result<(), MediaError> {
        let sent = match packet {
            Some(p) => self.decoder.send_packet(p),
            None => self.decoder.send_eof(),
        };
        if let Err(e) = sent
            && !matches!(e, ffmpeg_next::Error::Eof)
        {
            return self.decode_error(e);
        }
        let mut decoded = frame::Audio::empty();
        loop {
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => {
                    self.decode_errors = 0;
                    decoded.set_pts(Some(self.in_samples));
                    self.in_samples += decoded.samples() as i64;
                    self.source()?
                        .source()
                        .add(&decoded)
                        .map_err(|e| MediaError::Ffmpeg(format!("resampler input: {e}")))?;
                    self.pull_filtered(octx)?;
                }
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno: 11 }) => return Ok(()), // EAGAIN
                Err(e) => self.decode_error(e)?,
            }
        }
    }

    fn decode_error(&mut self, e: ffmpeg_next::Error) -> Result<(), MediaError> {
        self.decode_errors += 1;
        if self.decode_errors > MAX_DECODE_ERRORS {
            return Err(MediaError::Corrupt(format!("undecodable audio ({e})")));
        }
        Ok(())
    }

    fn source(&mut self) -> Result<filter::Context, MediaError> {
        self.graph
            .get("in")
            .ok_or_else(|| MediaError::Ffmpeg("filter graph has no input".into()))
    }

    fn pull_filtered(&mut self, octx: &mut Output) -> Result<(), MediaError> {
        let mut filtered = frame::Audio::empty();
        loop {
            let got = self
                .graph
                .get("out")
                .ok_or_else(|| MediaError::Ffmpeg("filter graph has no output".into()))?
                .sink()
                .frame(&mut filtered);
            if got.is_err() {
                return Ok(()); // EAGAIN (needs more input) or EOF
            }
            filtered.set_pts(Some(self.out_samples));
            self.out_samples += filtered.samples() as i64;
            self.encoder
                .send_frame(&filtered)
                .map_err(|e| MediaError::Ffmpeg(format!("encoder: {e}")))?;
            self.write_encoded(octx)?;
        }
    }

    fn write_encoded(&mut self, octx: &mut Output) -> Result<(), MediaError> {
        let mut encoded = Packet::empty();
        while self.encoder.receive_packet(&mut encoded).is_ok() {
            if self.first_frame_bitrate.is_none() {
                self.first_frame_bitrate = encoded.data().and_then(mp3_frame_bitrate);
            }
            encoded.set_stream(0);
            encoded.rescale_ts(self.enc_tb, self.out_tb);
            encoded
                .write_interleaved(octx)
                .map_err(|e| MediaError::Io(std::io::Error::other(e.to_string())))?;
        }
        Ok(())
    }

    fn finish(&mut self, octx: &mut Output) -> Result<(), MediaError> {
        self.decode(None, octx)?;
        self.source()?
            .source()
            .flush()
            .map_err(|e| MediaError::Ffmpeg(format!("resampler flush: {e}")))?;
        self.pull_filtered(octx)?;
        self.encoder
            .send_eof()
            .map_err(|e| MediaError::Ffmpeg(format!("encoder flush: {e}")))?;
        self.write_encoded(octx)
    }
}

fn encode(
    mut input: Input,
    index: usize,
    head: Vec<Packet>,
    dst: &Path,
    plan: &EncodePlan,
    cancel: &AtomicBool,
) -> Result<ConvertReport, MediaError> {
    let stream = input.stream(index).ok_or(MediaError::NoAudioStream)?;
    let in_tb = stream.time_base();
    let mut dec = codec::context::Context::from_parameters(stream.parameters())?.decoder();
    // Decoders look at the packet time base for gapless trimming.
    dec.set_packet_time_base(in_tb);
    let mut decoder = dec
        .audio()
        .map_err(|e| MediaError::Corrupt(format!("unusable audio stream: {e}")))?;
    let in_channels = decoder.channels();
    let in_rate = decoder.rate();
    if in_channels == 0 || in_rate == 0 {
        return Err(MediaError::Corrupt(
            "audio stream without sample rate or channels".into(),
        ));
    }
    // WAV (and some raw formats) report no channel layout, only a count: derive the default one
    // so the resampler knows what the channels are.
    let mut in_layout = decoder.channel_layout();
    if in_layout.bits() == 0 || in_layout.channels() != i32::from(in_channels) {
        in_layout = ChannelLayout::default(i32::from(in_channels));
        decoder.set_channel_layout(in_layout);
    }

    let codec = ffmpeg_next::encoder::find_by_name(plan.encoder)
        .ok_or_else(|| MediaError::Ffmpeg(format!("encoder {} is not available", plan.encoder)))?;
    let audio_codec = codec.audio()?;

    let out_channels = plan
        .channels
        .unwrap_or(if in_channels == 1 { 1 } else { 2 })
        .clamp(1, 2);
    let out_layout = ChannelLayout::default(i32::from(out_channels));
    let out_rate = pick_rate(
        audio_codec.rates().map(|r| r.collect()),
        plan.sample_rate.unwrap_or(in_rate),
    );
    let formats: Vec<ffmpeg_next::format::Sample> = audio_codec
        .formats()
        .map(|f| f.collect())
        .unwrap_or_default();
    // The decoder's format, or its planar/packed twin (s16 -> s16p for FLAC into LAME: a cheap
    // reshuffle instead of a conversion), else the encoder's preferred one.
    let dec_format = decoder.format();
    let out_format = [dec_format, dec_format.planar(), dec_format.packed()]
        .into_iter()
        .find(|f| formats.contains(f))
        .or_else(|| formats.first().copied())
        .ok_or_else(|| MediaError::Ffmpeg("encoder lists no sample formats".into()))?;

    let mut octx = open_output(dst, plan.muxer)?;
    let global_header = octx
        .format()
        .flags()
        .contains(ffmpeg_next::format::flag::Flags::GLOBAL_HEADER);
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .audio()?;
    enc.set_rate(out_rate as i32);
    enc.set_channel_layout(out_layout);
    enc.set_channels(i32::from(out_channels));
    enc.set_format(out_format);
    enc.set_time_base((1, out_rate as i32));
    let cbr = plan.vbr_quality.is_none();
    let mut flags = CodecFlags::empty();
    match plan.vbr_quality {
        Some(q) => {
            flags |= CodecFlags::QSCALE;
            enc.set_quality(usize::from(q) * 118); // FF_QP2LAMBDA, as `ffmpeg -q:a`
        }
        None => enc.set_bit_rate(plan.bitrate_kbps as usize * 1000),
    }
    if global_header {
        flags |= CodecFlags::GLOBAL_HEADER;
    }
    enc.set_flags(flags);
    let encoder = enc
        .open_as_with(codec, dict(plan.encoder_opts))
        .map_err(|e| MediaError::Ffmpeg(format!("cannot open {} encoder: {e}", plan.encoder)))?;
    {
        let mut ost = octx.add_stream(codec)?;
        ost.set_parameters(&encoder);
        ost.set_time_base((1, out_rate as i32));
    }

    let mut graph = filter::Graph::new();
    let args = format!(
        "time_base=1/{in_rate}:sample_rate={in_rate}:sample_fmt={}:channel_layout=0x{:x}",
        decoder.format().name(),
        in_layout.bits()
    );
    let abuffer = filter::find("abuffer").ok_or_else(|| MediaError::Ffmpeg("no abuffer".into()))?;
    let sink = filter::find("abuffersink").ok_or_else(|| MediaError::Ffmpeg("no sink".into()))?;
    graph.add(&abuffer, "in", &args)?;
    graph.add(&sink, "out", "")?;
    let spec = format!(
        "aresample={out_rate},aformat=sample_fmts={}:sample_rates={out_rate}:channel_layouts={}",
        out_format.name(),
        layout_name(out_channels)
    );
    graph.output("in", 0)?.input("out", 0)?.parse(&spec)?;
    graph.validate()?;
    let frame_size = encoder.frame_size();
    if frame_size > 0
        && !codec
            .capabilities()
            .contains(Capabilities::VARIABLE_FRAME_SIZE)
        && let Some(mut out) = graph.get("out")
    {
        out.sink().set_frame_size(frame_size);
    }

    octx.write_header_with(dict(plan.muxer_opts))?;
    let out_tb = octx
        .stream(0)
        .map_or(Rational::new(1, out_rate as i32), |s| s.time_base());

    let mut pipe = Pipeline {
        decoder,
        graph,
        encoder,
        enc_tb: Rational::new(1, out_rate as i32),
        out_tb,
        in_samples: 0,
        out_samples: 0,
        decode_errors: 0,
        first_frame_bitrate: None,
    };

    let mut head = head.into_iter();
    loop {
        check_cancel(cancel)?;
        let packet = match head.next() {
            Some(p) => Some(p),
            None => next_packet(&mut input)?,
        };
        let Some(packet) = packet else { break };
        if packet.stream() != index {
            continue;
        }
        pipe.decode(Some(&packet), &mut octx)?;
    }
    check_cancel(cancel)?;
    pipe.finish(&mut octx)?;
    if pipe.out_samples == 0 {
        return Err(MediaError::Corrupt("no decodable audio".into()));
    }
    octx.write_trailer()
        .map_err(|e| MediaError::Io(std::io::Error::other(e.to_string())))?;
    drop(octx);

    let duration_ms = (pipe.out_samples as u64).saturating_mul(1000) / u64::from(out_rate);
    let bytes = file_len(dst)?;
    Ok(ConvertReport {
        kind: ConvertKind::Encoded,
        duration_ms,
        bitrate: if cbr {
            // LAME lowers impossible requests (e.g. 320k at 22 kHz); report what it did.
            pipe.first_frame_bitrate
                .filter(|_| plan.encoder == "libmp3lame")
                .unwrap_or(plan.bitrate_kbps.saturating_mul(1000))
        } else {
            avg_bitrate(bytes, duration_ms)
        },
        sample_rate: out_rate,
        channels: out_channels,
        bytes,
    })
}
