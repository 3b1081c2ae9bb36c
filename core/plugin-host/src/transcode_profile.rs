//! Dispatch for the `transcode-profile` world: the typed pre-instance per WIT version,
//! the conversions between public and generated types, and `PluginHost::choose_profile`.

use crate::bindings::v0_1;
use crate::call::CallState;
use crate::registry::{PluginHost, WorldPre};
use crate::runtime::{self, CallFailure, Runtime};
use crate::types::{ClientInfo, Codec, DeviceClass, NetworkClass, PluginKind, Profile, SourceInfo};
use crate::validate;
use std::time::Duration;
use wasmtime::component::InstancePre;

/// A pre-instantiated transcode-profile plugin, by the WIT version it was built against.
pub enum Pre {
    V0_1(v0_1::transcode_profile::TranscodeProfilePre<CallState>),
}

pub(crate) fn pre(version: &str, pre: InstancePre<CallState>) -> wasmtime::Result<Pre> {
    match version {
        "0.1.0" => Ok(Pre::V0_1(
            v0_1::transcode_profile::TranscodeProfilePre::new(pre)?,
        )),
        other => Err(wasmtime::format_err!(
            "no transcode-profile bindings for {other}"
        )),
    }
}

fn call(
    rt: &Runtime,
    pre: &Pre,
    state: CallState,
    deadline: Duration,
    client: &ClientInfo,
    source: &SourceInfo,
) -> Result<Option<Profile>, CallFailure> {
    match pre {
        Pre::V0_1(pre) => {
            let (c, s) = (v0_1_client(client), v0_1_source(source));
            let out = runtime::call(rt, state, deadline, |store| {
                let instance = pre.instantiate(&mut *store)?;
                instance
                    .chillfi_plugin_transcode()
                    .call_choose_profile(&mut *store, &c, &s)
            })?;
            Ok(out.map(v0_1_profile))
        }
    }
}

impl PluginHost {
    /// The first enabled transcode-profile plugin (in order) with an opinion, and its
    /// validated profile. `None`: the server's default applies.
    pub async fn choose_profile(
        &self,
        client: &ClientInfo,
        source: &SourceInfo,
    ) -> Option<(String, Profile)> {
        let (client, source) = (client.clone(), source.clone());
        self.blocking(move |h| h.choose_profile_blocking(&client, &source))
            .await
            .ok()
            .flatten()
    }

    pub fn choose_profile_blocking(
        &self,
        client: &ClientInfo,
        source: &SourceInfo,
    ) -> Option<(String, Profile)> {
        let deadline = self.limits().profile_deadline;
        for p in self.enabled(PluginKind::TranscodeProfile) {
            let Some(WorldPre::Profile(pre)) = p.pre() else {
                continue;
            };
            let started = std::time::Instant::now();
            let called = call(
                self.runtime(),
                pre,
                self.call_state(&p),
                deadline,
                client,
                source,
            );
            let checked = match called {
                Err(f) => Err(f.message),
                Ok(None) => Ok(None),
                Ok(Some(profile)) => validate::profile(&profile)
                    .map(|()| Some(profile))
                    .map_err(|e| format!("invalid result: {e}")),
            };
            if let Ok(Some(profile)) = self.settle(&p, started, checked) {
                return Some((p.name.to_string(), profile));
            }
        }
        None
    }
}

// ----- 0.1.0 -----

fn v0_1_client(c: &ClientInfo) -> v0_1::transcode::ClientInfo {
    use v0_1::transcode as w;
    w::ClientInfo {
        user_agent: c.user_agent.clone(),
        network: match c.network {
            NetworkClass::Wifi => w::NetworkClass::Wifi,
            NetworkClass::Cellular => w::NetworkClass::Cellular,
            NetworkClass::Wired => w::NetworkClass::Wired,
            NetworkClass::Unknown => w::NetworkClass::Unknown,
        },
        device: match c.device {
            DeviceClass::Mobile => w::DeviceClass::Mobile,
            DeviceClass::Desktop => w::DeviceClass::Desktop,
            DeviceClass::Tablet => w::DeviceClass::Tablet,
            DeviceClass::Tv => w::DeviceClass::Tv,
            DeviceClass::Unknown => w::DeviceClass::Unknown,
        },
        max_bitrate_kbps: c.max_bitrate_kbps,
    }
}

fn v0_1_source(s: &SourceInfo) -> v0_1::transcode::SourceInfo {
    v0_1::transcode::SourceInfo {
        codec: s.codec.clone(),
        bitrate_kbps: s.bitrate_kbps,
        sample_rate: s.sample_rate,
        channels: s.channels,
        duration_ms: s.duration_ms,
    }
}

/// Validated by `crate::validate` afterwards.
fn v0_1_profile(p: v0_1::transcode::Profile) -> Profile {
    use v0_1::transcode as w;
    Profile {
        codec: match p.codec {
            w::Codec::Mp3 => Codec::Mp3,
            w::Codec::Opus => Codec::Opus,
            w::Codec::Aac => Codec::Aac,
            w::Codec::Original => Codec::Original,
        },
        bitrate_kbps: p.bitrate_kbps,
        sample_rate: p.sample_rate,
        channels: p.channels,
    }
}
