//! expiring-links: a ChillFi share handler.
//!
//! - Slugs are readable: `<adjective>-<noun>-<0..99>` (64 * 64 * 100 = 409 600 combinations),
//!   derived from the `seed` the host passes with each request (plugins have no
//!   randomness). If the server finds a slug taken it asks again with a new seed.
//! - Expiry: the requested one if any (refused if in the past or beyond
//!   `max-expiry-hours`), else now + `expiry-hours`.
//! - Play limit: the requested one if any, else `max-plays`.
//! - Access is denied once the limit is reached or the link has expired.

wit_bindgen::generate!({
    path: "../../wit/chillfi-plugin@0.1.0",
    world: "share-handler",
});

use chillfi::plugin::host;
use exports::chillfi::plugin::share::{
    AccessDecision, AccessInfo, Guest, ShareDecision, ShareRequest,
};

const ADJECTIVES: [&str; 64] = [
    "amber", "bold", "brave", "bright", "brisk", "calm", "clever", "cosy", "crisp", "dapper",
    "deep", "eager", "early", "fair", "fancy", "fresh", "gentle", "glad", "golden", "grand",
    "happy", "hazy", "honest", "humble", "jolly", "keen", "kind", "lively", "lucky", "mellow",
    "merry", "mighty", "misty", "noble", "odd", "plain", "proud", "quick", "quiet", "rapid",
    "rosy", "royal", "rustic", "shy", "silent", "silver", "sleepy", "slow", "smooth", "snowy",
    "soft", "sunny", "swift", "tall", "tender", "tidy", "tiny", "vivid", "warm", "wild", "windy",
    "wise", "witty", "young",
];

const NOUNS: [&str; 64] = [
    "anchor", "badger", "banjo", "beacon", "birch", "brook", "canyon", "cedar", "cello", "cloud",
    "comet", "coral", "cricket", "delta", "dune", "ember", "falcon", "fern", "fjord", "flute",
    "forest", "fox", "garden", "glacier", "harbor", "heron", "hill", "island", "lagoon", "lake",
    "lantern", "maple", "meadow", "moon", "mountain", "oak", "ocean", "orchid", "otter", "owl",
    "panda", "pebble", "piano", "pine", "planet", "prairie", "rain", "raven", "reef", "river",
    "robin", "sparrow", "spring", "star", "stone", "storm", "sun", "thunder", "tiger", "valley",
    "violin", "willow", "wind", "zephyr",
];

/// splitmix64: spreads the host's seed over all bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn slug(seed: u64) -> String {
    let r = mix(seed);
    let adj = ADJECTIVES[(r & 63) as usize];
    let noun = NOUNS[((r >> 6) & 63) as usize];
    let n = (r >> 12) % 100;
    format!("{adj}-{noun}-{n}")
}

fn config_u64(key: &str, default: u64) -> u64 {
    host::get_config(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

struct ExpiringLinks;

impl Guest for ExpiringLinks {
    fn on_create(req: ShareRequest) -> Result<ShareDecision, String> {
        let expiry_hours = config_u64("expiry-hours", 72);
        let max_expiry_hours = config_u64("max-expiry-hours", 720).max(expiry_hours);
        let default_plays = config_u64("max-plays", 10).clamp(1, 1_000_000) as u32;
        let latest = req
            .now
            .saturating_add(max_expiry_hours.saturating_mul(3600));
        let expires_at = match req.requested_expires_at {
            Some(t) if t <= req.now => return Err("the expiry date is in the past".into()),
            Some(t) if t > latest => {
                return Err(format!(
                    "links may not last longer than {max_expiry_hours} hours"
                ));
            }
            Some(t) => t,
            None => req.now.saturating_add(expiry_hours.saturating_mul(3600)),
        };
        let max_plays = match req.requested_max_plays {
            Some(0) => return Err("the play limit must be at least 1".into()),
            Some(n) => n.min(1_000_000),
            None => default_plays,
        };
        Ok(ShareDecision {
            slug: Some(slug(req.seed)),
            expires_at: Some(expires_at),
            max_plays: Some(max_plays),
        })
    }

    fn on_access(info: AccessInfo) -> AccessDecision {
        if info.max_plays.is_some_and(|max| info.plays_so_far >= max) {
            return AccessDecision::Deny;
        }
        if info.expires_at.is_some_and(|t| info.now >= t) {
            return AccessDecision::Deny;
        }
        AccessDecision::Allow
    }
}

export!(ExpiringLinks);
