//! Misbehaving transcode-profile plugin for the host's tests.

wit_bindgen::generate!({
    path: "../../../wit/chillfi-plugin@0.1.0",
    world: "transcode-profile",
});

use chillfi::plugin::host;
use exports::chillfi::plugin::transcode::{ClientInfo, Codec, Guest, Profile, SourceInfo};

struct Hostile;

impl Guest for Hostile {
    fn choose_profile(_client: ClientInfo, _source: SourceInfo) -> Option<Profile> {
        let p = |bitrate_kbps, sample_rate| Profile {
            codec: Codec::Aac,
            bitrate_kbps,
            sample_rate,
            channels: Some(2),
        };
        match host::get_config("mode").unwrap_or_default().as_str() {
            "ok" => Some(p(160, Some(44_100))),
            "loop" => loop {
                std::hint::black_box(());
            },
            "invalid-bitrate" => Some(p(9999, None)),
            "invalid-rate" => Some(p(128, Some(12_345))),
            _ => None,
        }
    }
}

export!(Hostile);
