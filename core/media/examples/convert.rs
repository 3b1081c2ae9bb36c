//! `convert SRC DST [flags]`: runs one conversion in-process, as the server does. Used by
//! `bench/media.sh`, handy for trying files by hand.
//!
//! Flags: `--vbr Q` (LAME VBR quality), `--bitrate KBPS`, `--remux-min KBPS`,
//! `--opus KBPS` / `--aac KBPS` (transcode instead), `--probe` (print the probe report only),
//! `--repeat N` (do it N times and print the mean in-process wall and CPU milliseconds per run,
//! leaving process start-up and library loading out), `--copy 1` (time `std::fs::copy` of the
//! same file instead, as a baseline for the remux path).

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use chillfi_media::{Mp3Settings, TargetCodec, TranscodeProfile};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 && !(args.len() == 2 && args[1] == "--probe") {
        eprintln!(
            "usage: convert SRC DST [--vbr Q] [--bitrate KBPS] [--remux-min KBPS] [--opus KBPS] [--aac KBPS]\n       convert SRC --probe"
        );
        return ExitCode::from(2);
    }
    chillfi_media::init();
    let src = Path::new(&args[0]);
    if args[1] == "--probe" {
        return match chillfi_media::probe(src) {
            Ok(r) => {
                println!("{r:#?}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let dst = Path::new(&args[1]);
    let mut settings = Mp3Settings::default();
    let mut transcode: Option<TranscodeProfile> = None;
    let mut repeat = 1u32;
    let mut copy = false;
    let mut it = args[2..].iter();
    while let Some(flag) = it.next() {
        let value: u32 = match it.next().and_then(|v| v.parse().ok()) {
            Some(v) => v,
            None => {
                eprintln!("{flag} needs a number");
                return ExitCode::from(2);
            }
        };
        match flag.as_str() {
            "--vbr" => settings.vbr_quality = Some(value.min(9) as u8),
            "--bitrate" => settings.bitrate_kbps = value,
            "--remux-min" => settings.remux_min_bitrate_kbps = value,
            "--repeat" => repeat = value.max(1),
            "--copy" => copy = value != 0,
            "--opus" | "--aac" => {
                transcode = Some(TranscodeProfile {
                    codec: if flag == "--opus" {
                        TargetCodec::Opus
                    } else {
                        TargetCodec::Aac
                    },
                    bitrate_kbps: value,
                    sample_rate: None,
                    channels: None,
                })
            }
            other => {
                eprintln!("unknown flag {other}");
                return ExitCode::from(2);
            }
        }
    }
    let cancel = AtomicBool::new(false);
    let (wall0, cpu0) = (std::time::Instant::now(), cpu_ms());
    for _ in 0..repeat {
        let result = if copy {
            std::fs::copy(src, dst)
                .map(|b| format!("copied {b} bytes"))
                .map_err(|e| e.to_string())
        } else {
            match &transcode {
                Some(p) => chillfi_media::transcode(src, dst, p, &cancel),
                None => chillfi_media::convert_to_mp3(src, dst, &settings, &cancel),
            }
            .map(|r| format!("{r:?}"))
            .map_err(|e| e.to_string())
        };
        match result {
            Ok(r) if repeat == 1 => println!("{r}"),
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if repeat > 1 {
        let wall = wall0.elapsed().as_secs_f64() * 1000.0 / f64::from(repeat);
        let cpu = cpu_ms().map(|c| (c - cpu0.unwrap_or(0.0)) / f64::from(repeat));
        println!(
            "per-run-ms wall {wall:.2} cpu {:.2}",
            cpu.unwrap_or(f64::NAN)
        );
    }
    ExitCode::SUCCESS
}

/// User + system CPU time of this process so far (Linux /proc, clock ticks of 10 ms).
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the ")" that ends the command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0)
}
