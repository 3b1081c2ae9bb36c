//! Misbehaving share handler for the host's tests.

wit_bindgen::generate!({
    path: "../../../wit/chillfi-plugin@0.1.0",
    world: "share-handler",
});

use chillfi::plugin::host;
use exports::chillfi::plugin::share::{
    AccessDecision, AccessInfo, Guest, ShareDecision, ShareRequest,
};

fn mode() -> String {
    host::get_config("mode").unwrap_or_default()
}

struct Hostile;

impl Guest for Hostile {
    fn on_create(req: ShareRequest) -> Result<ShareDecision, String> {
        let mut d = ShareDecision {
            slug: Some(format!("ok-{}", req.seed % 1000)),
            expires_at: Some(req.now + 60),
            max_plays: Some(3),
        };
        match mode().as_str() {
            "ok" => {}
            "refuse" => return Err("not today".into()),
            "loop" => loop {
                std::hint::black_box(());
            },
            "trap" => panic!("trap on purpose"),
            "bad-slug" => d.slug = Some("Bad Slug!".into()),
            "past-expiry" => d.expires_at = Some(req.now.saturating_sub(10)),
            "far-expiry" => d.expires_at = Some(req.now + 2 * 366 * 86_400),
            "zero-plays" => d.max_plays = Some(0),
            _ => {}
        }
        Ok(d)
    }

    fn on_access(_info: AccessInfo) -> AccessDecision {
        match mode().as_str() {
            "loop" => loop {
                std::hint::black_box(());
            },
            "trap" => panic!("trap on purpose"),
            "refuse" => AccessDecision::Deny,
            _ => AccessDecision::Allow,
        }
    }
}

export!(Hostile);
