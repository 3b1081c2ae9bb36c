//! mobile-profile: a ChillFi transcode-profile plugin.
//! - cellular network or mobile device: Opus at `opus-kbps` (96), 48 kHz;
//! - otherwise, a client cap below `low-cap-kbps` (192): MP3 at `mp3-kbps` (128);
//! - otherwise: no opinion.
//!
//! A client's own cap is always respected (the bitrate is lowered to it).

wit_bindgen::generate!({
    path: "../../wit/chillfi-plugin@0.1.0",
    world: "transcode-profile",
});

use chillfi::plugin::host;
use exports::chillfi::plugin::transcode::{
    ClientInfo, Codec, DeviceClass, Guest, NetworkClass, Profile, SourceInfo,
};

fn config_u32(key: &str, default: u32) -> u32 {
    host::get_config(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn capped(kbps: u32, cap: Option<u32>) -> u32 {
    match cap {
        Some(c) => kbps.min(c).max(8),
        None => kbps,
    }
}

struct MobileProfile;

impl Guest for MobileProfile {
    fn choose_profile(client: ClientInfo, _source: SourceInfo) -> Option<Profile> {
        let mobile = matches!(client.network, NetworkClass::Cellular)
            || matches!(client.device, DeviceClass::Mobile);
        if mobile {
            return Some(Profile {
                codec: Codec::Opus,
                bitrate_kbps: capped(config_u32("opus-kbps", 96), client.max_bitrate_kbps),
                sample_rate: Some(48_000),
                channels: None,
            });
        }
        let low_cap = config_u32("low-cap-kbps", 192);
        match client.max_bitrate_kbps {
            Some(cap) if cap < low_cap => Some(Profile {
                codec: Codec::Mp3,
                bitrate_kbps: capped(config_u32("mp3-kbps", 128), Some(cap)),
                sample_rate: None,
                channels: None,
            }),
            _ => None,
        }
    }
}

export!(MobileProfile);
