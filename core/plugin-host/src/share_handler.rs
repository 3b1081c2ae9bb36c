//! Dispatch for the `share-handler` world: the typed pre-instance per WIT version, the
//! conversions between public and generated types, and `PluginHost::share_create` /
//! `share_access`.

use crate::bindings::v0_1;
use crate::call::CallState;
use crate::registry::{Plugin, PluginHost, WorldPre};
use crate::runtime::{self, CallFailure, Runtime};
use crate::types::{
    PluginKind, ShareAccessInfo, ShareCreateRequest, ShareDecision, ShareKind, ShareRefusal,
};
use crate::validate;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::InstancePre;

/// A pre-instantiated share handler, by the WIT version it was built against.
pub enum Pre {
    V0_1(v0_1::share_handler::ShareHandlerPre<CallState>),
}

pub(crate) fn pre(version: &str, pre: InstancePre<CallState>) -> wasmtime::Result<Pre> {
    match version {
        "0.1.0" => Ok(Pre::V0_1(v0_1::share_handler::ShareHandlerPre::new(pre)?)),
        other => Err(wasmtime::format_err!(
            "no share-handler bindings for {other}"
        )),
    }
}

/// `Ok(Err(reason))`: the plugin refused the share (not a fault).
fn call_create(
    rt: &Runtime,
    pre: &Pre,
    state: CallState,
    deadline: Duration,
    req: &ShareCreateRequest,
    seed: u64,
) -> Result<Result<ShareDecision, String>, CallFailure> {
    match pre {
        Pre::V0_1(pre) => {
            let request = v0_1_request(req, seed);
            let out = runtime::call(rt, state, deadline, |store| {
                let instance = pre.instantiate(&mut *store)?;
                instance
                    .chillfi_plugin_share()
                    .call_on_create(&mut *store, &request)
            })?;
            Ok(out.map(v0_1_decision))
        }
    }
}

fn call_access(
    rt: &Runtime,
    pre: &Pre,
    state: CallState,
    deadline: Duration,
    info: &ShareAccessInfo,
) -> Result<bool, CallFailure> {
    match pre {
        Pre::V0_1(pre) => {
            let info = v0_1_access(info);
            let out = runtime::call(rt, state, deadline, |store| {
                let instance = pre.instantiate(&mut *store)?;
                instance
                    .chillfi_plugin_share()
                    .call_on_access(&mut *store, &info)
            })?;
            Ok(matches!(out, v0_1::share::AccessDecision::Allow))
        }
    }
}

/// Deny once expired or out of plays: what applies when a handler faults.
pub(crate) fn builtin_access(info: &ShareAccessInfo) -> bool {
    !(info.max_plays.is_some_and(|m| info.plays_so_far >= m)
        || info.expires_at.is_some_and(|t| info.now >= t))
}

impl PluginHost {
    fn share_handler(&self) -> Option<Arc<Plugin>> {
        self.enabled(PluginKind::ShareHandler).into_iter().next()
    }

    /// Asks the first enabled share handler. No handler, or a faulting one: the default
    /// decision (all `None`). A refusal is meant for the user.
    pub async fn share_create(
        &self,
        req: &ShareCreateRequest,
    ) -> Result<ShareDecision, ShareRefusal> {
        let req = req.clone();
        self.blocking(move |h| h.share_create_blocking(&req))
            .await
            .unwrap_or_else(|_| Ok(ShareDecision::default()))
    }

    pub fn share_create_blocking(
        &self,
        req: &ShareCreateRequest,
    ) -> Result<ShareDecision, ShareRefusal> {
        let Some(p) = self.share_handler() else {
            return Ok(ShareDecision::default());
        };
        let Some(WorldPre::Share(pre)) = p.pre() else {
            return Ok(ShareDecision::default());
        };
        let limits = self.limits();
        let started = std::time::Instant::now();
        let called = call_create(
            self.runtime(),
            pre,
            self.call_state(&p),
            limits.share_deadline,
            req,
            rand::random::<u64>(),
        );
        let checked = match called {
            Err(f) => Err(f.message),
            Ok(Err(reason)) => validate::refusal(&reason)
                .map(|()| Err(reason))
                .map_err(|e| format!("invalid result: {e}")),
            Ok(Ok(d)) => validate::check_size(
                "decision",
                validate::decision_size(&d),
                limits.max_result_bytes,
            )
            .and_then(|()| validate::decision(&d, req.now))
            .map(|()| Ok(d))
            .map_err(|e| format!("invalid result: {e}")),
        };
        match self.settle(&p, started, checked) {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(reason)) => Err(ShareRefusal {
                plugin: p.name.to_string(),
                reason,
            }),
            Err(_) => Ok(ShareDecision::default()),
        }
    }

    /// Asks the first enabled share handler whether a share may be played. No handler:
    /// `true` (the server applies its own limits). A faulting handler: the built-in rule
    /// (deny once expired or out of plays).
    pub async fn share_access(&self, info: &ShareAccessInfo) -> bool {
        let info = info.clone();
        let fallback = builtin_access(&info);
        self.blocking(move |h| h.share_access_blocking(&info))
            .await
            .unwrap_or(fallback)
    }

    pub fn share_access_blocking(&self, info: &ShareAccessInfo) -> bool {
        let Some(p) = self.share_handler() else {
            return true;
        };
        let Some(WorldPre::Share(pre)) = p.pre() else {
            return true;
        };
        let started = std::time::Instant::now();
        let called = call_access(
            self.runtime(),
            pre,
            self.call_state(&p),
            self.limits().share_deadline,
            info,
        );
        match self.settle(&p, started, called.map_err(|f| f.message)) {
            Ok(allowed) => allowed,
            Err(_) => builtin_access(info),
        }
    }
}

// ----- 0.1.0 -----

fn v0_1_request(r: &ShareCreateRequest, seed: u64) -> v0_1::share::ShareRequest {
    use v0_1::share as w;
    w::ShareRequest {
        kind: match r.kind {
            ShareKind::Song => w::ShareKind::Song,
            ShareKind::Album => w::ShareKind::Album,
            ShareKind::Playlist => w::ShareKind::Playlist,
        },
        item_id: r.item_id.clone(),
        title: r.title.clone(),
        requested_expires_at: r.requested_expires_at,
        requested_max_plays: r.requested_max_plays,
        now: r.now,
        seed,
    }
}

fn v0_1_access(a: &ShareAccessInfo) -> v0_1::share::AccessInfo {
    v0_1::share::AccessInfo {
        slug: a.slug.clone(),
        plays_so_far: a.plays_so_far,
        max_plays: a.max_plays,
        created_at: a.created_at,
        expires_at: a.expires_at,
        now: a.now,
    }
}

/// Validated by `crate::validate` afterwards.
fn v0_1_decision(d: v0_1::share::ShareDecision) -> ShareDecision {
    ShareDecision {
        slug: d.slug,
        expires_at: d.expires_at,
        max_plays: d.max_plays,
    }
}
