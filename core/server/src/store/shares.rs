//! Share links: a secret URL that lets anyone without an account listen to one song, album or
//! playlist, optionally until a date or for a number of plays.
//! Invariants: the token (256 random bits) is shown once, at creation; sled keeps only its
//! SHA-256 (a database leak reveals no working link). A link works only while its record exists,
//! it has not expired or run out of plays, its creator's account exists and can still see the
//! item, and the item exists. Every way a link can fail looks the same from outside, and failed
//! look-ups are limited per client address.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::error::{AppError, AppResult};
use crate::store::db::{self, Db, now_secs};
use crate::store::playlists::Actor;

const SHARES: &str = "shares";
/// SHA-256 of a token (hex) -> share id.
const SHARE_TOKENS: &str = "share_tokens";

pub const MAX_PLAYS: u64 = 1_000_000;
pub const MAX_LIFETIME_SECS: i64 = 10 * 366 * 24 * 3600;
/// Failed token look-ups allowed per client address within [`GUESS_WINDOW`].
pub const GUESSES_PER_WINDOW: usize = 30;
pub const GUESS_WINDOW: Duration = Duration::from_secs(600);
/// A play ticket (see `share_http`) lets its play continue for the song's duration plus this.
pub const PLAY_TICKET_GRACE_SECS: i64 = 600;
/// Tokens are 32 random bytes in unpadded base64url.
const TOKEN_LEN: usize = 43;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShareKind {
    Song,
    Album,
    Playlist,
}

impl ShareKind {
    pub fn parse(text: &str) -> AppResult<Self> {
        match text {
            "song" => Ok(Self::Song),
            "album" => Ok(Self::Album),
            "playlist" => Ok(Self::Playlist),
            _ => Err(AppError::invalid_field(
                "kind",
                "kind is \"song\", \"album\" or \"playlist\"",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Song => "song",
            Self::Album => "album",
            Self::Playlist => "playlist",
        }
    }
}

/// A stored share link. No token here: only its digest, in the token index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    pub share_id: String,
    /// SHA-256 (hex) of the token, the key of its entry in the token index.
    pub token_sha256: String,
    pub kind: ShareKind,
    pub item_id: String,
    pub creator_id: String,
    pub expires_at: Option<i64>,
    pub max_plays: Option<u64>,
    pub plays: u64,
    pub last_play_at: Option<i64>,
    pub created_at: i64,
    /// A readable label a share-handler plugin gave the link (never part of its URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

/// The wire form: `token` and `url` only in the answer to `share:create`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareView {
    pub share_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub kind: ShareKind,
    pub id: String,
    pub title: Option<String>,
    pub expires_at: Option<i64>,
    pub max_plays: Option<u64>,
    pub plays: u64,
    pub creator_id: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

impl Share {
    pub fn view(&self, title: Option<String>) -> ShareView {
        ShareView {
            share_id: self.share_id.clone(),
            token: None,
            url: None,
            kind: self.kind,
            id: self.item_id.clone(),
            title,
            expires_at: self.expires_at,
            max_plays: self.max_plays,
            plays: self.plays,
            creator_id: self.creator_id.clone(),
            created_at: self.created_at,
            slug: self.slug.clone(),
        }
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// No new play may start.
    pub fn is_exhausted(&self) -> bool {
        self.max_plays.is_some_and(|max| self.plays >= max)
    }
}

/// What `create` checks before storing: a future expiry within ten years, a play limit in range.
pub fn validate_limits(
    expires_at: Option<i64>,
    max_plays: Option<i64>,
    now: i64,
) -> AppResult<(Option<i64>, Option<u64>)> {
    if let Some(at) = expires_at
        && (at <= now || at > now + MAX_LIFETIME_SECS)
    {
        return Err(AppError::invalid_field(
            "expiresAt",
            "expiresAt is a time in the future, at most 10 years ahead (Unix seconds)",
        ));
    }
    let max_plays = match max_plays {
        None => None,
        Some(n) if (1..=MAX_PLAYS as i64).contains(&n) => Some(n as u64),
        Some(_) => {
            return Err(AppError::invalid_field(
                "maxPlays",
                format!("maxPlays is 1 to {MAX_PLAYS}"),
            ));
        }
    };
    Ok((expires_at, max_plays))
}

fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Could this be a token we issued? Anything else is not looked up.
pub fn token_shape_ok(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Clone)]
pub struct Shares {
    shares: sled::Tree,
    tokens: sled::Tree,
    guesses: Arc<GuessLimiter>,
}

impl Shares {
    pub fn new(db: &Db) -> AppResult<Self> {
        Ok(Self {
            shares: db.tree(SHARES)?,
            tokens: db.tree(SHARE_TOKENS)?,
            guesses: Arc::new(GuessLimiter::new(GUESSES_PER_WINDOW, GUESS_WINDOW)),
        })
    }

    /// Stores a new link and returns it with its token (the only time the token exists in
    /// plain). Limits must already be validated.
    pub fn create(
        &self,
        creator_id: &str,
        kind: ShareKind,
        item_id: &str,
        (expires_at, max_plays): (Option<i64>, Option<u64>),
        slug: Option<String>,
    ) -> AppResult<(Share, String)> {
        let token = new_token();
        let share = Share {
            share_id: db::new_id(),
            token_sha256: token_digest(&token),
            kind,
            item_id: item_id.to_string(),
            creator_id: creator_id.to_string(),
            expires_at,
            max_plays,
            plays: 0,
            last_play_at: None,
            created_at: now_secs(),
            slug,
        };
        let record = db::encode(&share)?;
        let done: Result<(), TransactionError<AppError>> = (&self.shares, &self.tokens)
            .transaction(|(shares, tokens)| {
                shares.insert(share.share_id.as_bytes(), record.clone())?;
                tokens.insert(share.token_sha256.as_bytes(), share.share_id.as_bytes())?;
                Ok(())
            });
        done?;
        Ok((share, token))
    }

    pub fn get(&self, share_id: &str) -> AppResult<Option<Share>> {
        db::get(&self.shares, share_id)
    }

    /// The record a token names, whatever its state (expired, used up); `None` when unknown.
    pub fn by_token(&self, token: &str) -> AppResult<Option<Share>> {
        if !token_shape_ok(token) {
            return Ok(None);
        }
        match self.tokens.get(token_digest(token))? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Links visible to the actor (their own; every link for administrators), newest first.
    pub fn list(
        &self,
        actor: &Actor,
        kind: Option<ShareKind>,
        item_id: Option<&str>,
    ) -> AppResult<Vec<Share>> {
        let mut items = Vec::new();
        for value in self.shares.iter().values() {
            let share: Share = db::decode(&value?)?;
            let mine = actor.is_admin || share.creator_id == actor.id;
            if mine
                && kind.is_none_or(|k| k == share.kind)
                && item_id.is_none_or(|id| id == share.item_id)
            {
                items.push(share);
            }
        }
        items.sort_by(|a, b| (b.created_at, &b.share_id).cmp(&(a.created_at, &a.share_id)));
        Ok(items)
    }

    /// Deletes a link and its token entry. Someone else's link is `not_found` (links of other
    /// users are never revealed), except for administrators.
    pub fn revoke(&self, share_id: &str, actor: &Actor) -> AppResult<Share> {
        let share = self
            .get(share_id)?
            .filter(|s| actor.is_admin || s.creator_id == actor.id)
            .ok_or(AppError::NotFound("share link"))?;
        self.remove(&share.share_id)?;
        Ok(share)
    }

    /// Deletes a link with its token entry.
    pub fn remove(&self, share_id: &str) -> AppResult<()> {
        let done: Result<(), TransactionError<AppError>> = (&self.shares, &self.tokens)
            .transaction(|(shares, tokens)| {
                if let Some(bytes) = shares.remove(share_id.as_bytes())? {
                    let share: Share =
                        db::decode(&bytes).map_err(ConflictableTransactionError::Abort)?;
                    tokens.remove(share.token_sha256.as_bytes())?;
                }
                Ok(())
            });
        done?;
        Ok(())
    }

    /// Deletes every link to an item (when the item is deleted). Returns how many.
    pub fn remove_for_item(&self, kind: ShareKind, item_id: &str) -> AppResult<usize> {
        let mut gone = Vec::new();
        for value in self.shares.iter().values() {
            let share: Share = db::decode(&value?)?;
            if share.kind == kind && share.item_id == item_id {
                gone.push(share.share_id);
            }
        }
        for id in &gone {
            self.remove(id)?;
        }
        Ok(gone.len())
    }

    /// Counts the start of a play, atomically: `Ok(false)` (and nothing counted) when the link
    /// is gone, expired or out of plays.
    pub fn start_play(&self, share_id: &str) -> AppResult<bool> {
        loop {
            let Some(old) = self.shares.get(share_id)? else {
                return Ok(false);
            };
            let mut share: Share = db::decode(&old)?;
            let now = now_secs();
            if share.is_expired(now) || share.is_exhausted() {
                return Ok(false);
            }
            share.plays += 1;
            share.last_play_at = Some(now);
            if self
                .shares
                .compare_and_swap(share_id, Some(old), Some(db::encode(&share)?))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// Is this client address allowed another token look-up? `Err` carries the seconds to wait.
    pub fn check_guesses(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        self.guesses.check(ip)
    }

    /// Counts a look-up that found no working link.
    pub fn failed_guess(&self, ip: Option<IpAddr>) {
        self.guesses.failure(ip);
    }
}

/// Sliding-window counter of failed token look-ups per client address. IPv6 addresses are
/// counted per /64, the block one host usually gets.
pub struct GuessLimiter {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl GuessLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn key(ip: Option<IpAddr>) -> IpAddr {
        match ip {
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut seg = v6.segments();
                    seg[4..].fill(0);
                    IpAddr::V6(seg.into())
                }
            },
            Some(v4) => v4,
            // No peer address (not over TCP): one shared bucket.
            None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        }
    }

    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = map.get_mut(&Self::key(ip)) else {
            return Ok(());
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.limit {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        Ok(())
    }

    pub fn failure(&self, ip: Option<IpAddr>) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a flood from many addresses.
        if map.len() > 100_000 {
            let now = Instant::now();
            map.retain(|_, t| {
                t.back()
                    .is_some_and(|t| now.duration_since(*t) <= self.window)
            });
            if map.len() > 100_000 {
                map.clear();
            }
        }
        let times = map.entry(Self::key(ip)).or_default();
        times.push_back(Instant::now());
        // Only the newest `limit` matter for the decision.
        while times.len() > self.limit {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Shares) {
        let (dir, _db, shares) = store_with_db();
        (dir, shares)
    }

    fn store_with_db() -> (tempfile::TempDir, Db, Shares) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let shares = Shares::new(&db).unwrap();
        (dir, db, shares)
    }

    fn actor(id: &str, is_admin: bool) -> Actor {
        Actor {
            id: id.into(),
            is_admin,
        }
    }

    #[test]
    fn tokens_are_random_and_only_their_digest_is_stored() {
        let (dir, db, shares) = store_with_db();
        let (share, token) = shares
            .create("alice", ShareKind::Song, "song1", (None, None), None)
            .unwrap();
        assert!(token_shape_ok(&token), "{token}");
        let (other, token2) = shares
            .create("alice", ShareKind::Song, "song1", (None, None), None)
            .unwrap();
        assert_ne!(token, token2);
        assert_ne!(share.share_id, other.share_id);
        assert_eq!(shares.by_token(&token).unwrap().unwrap(), share);
        assert_eq!(
            shares.by_token(&token2).unwrap().unwrap().share_id,
            other.share_id
        );
        assert!(shares.by_token(&new_token()).unwrap().is_none());
        assert!(shares.by_token("short").unwrap().is_none());
        assert!(
            shares
                .by_token(&format!("{}/", &token[..42]))
                .unwrap()
                .is_none()
        );

        // The token itself is nowhere in the database files.
        db.flush_blocking().unwrap();
        assert_eq!(
            shares.by_token(&token).unwrap().unwrap().token_sha256,
            token_digest(&token)
        );
        let mut found = false;
        for entry in walk(dir.path()) {
            let bytes = std::fs::read(&entry).unwrap();
            found |= bytes.windows(token.len()).any(|w| w == token.as_bytes());
        }
        assert!(!found, "a plain token was written to disk");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn limits_are_validated() {
        let now = 1_000_000;
        assert!(validate_limits(None, None, now).is_ok());
        assert_eq!(
            validate_limits(Some(now + 5), Some(3), now).unwrap(),
            (Some(now + 5), Some(3))
        );
        for (exp, max, field) in [
            (Some(now), None, "expiresAt"),
            (Some(now - 10), None, "expiresAt"),
            (Some(now + MAX_LIFETIME_SECS + 1), None, "expiresAt"),
            (None, Some(0), "maxPlays"),
            (None, Some(-1), "maxPlays"),
            (None, Some(1_000_001), "maxPlays"),
        ] {
            match validate_limits(exp, max, now) {
                Err(AppError::Invalid { field: Some(f), .. }) => assert_eq!(f, field),
                other => panic!("{exp:?} {max:?}: {other:?}"),
            }
        }
        assert!(validate_limits(None, Some(1_000_000), now).is_ok());
    }

    #[test]
    fn plays_are_counted_up_to_the_limit_even_under_contention() {
        let (_dir, shares) = store();
        let (share, _) = shares
            .create("alice", ShareKind::Album, "a1", (None, Some(50)), None)
            .unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let shares = shares.clone();
                let id = share.share_id.clone();
                std::thread::spawn(move || {
                    (0..20).filter(|_| shares.start_play(&id).unwrap()).count()
                })
            })
            .collect();
        let started: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(started, 50);
        let stored = shares.get(&share.share_id).unwrap().unwrap();
        assert_eq!(stored.plays, 50);
        assert!(stored.is_exhausted());

        let (unlimited, _) = shares
            .create("alice", ShareKind::Song, "s", (None, None), None)
            .unwrap();
        assert!(shares.start_play(&unlimited.share_id).unwrap());
        assert!(!shares.start_play("unknown").unwrap());
    }

    #[test]
    fn expired_links_start_no_play() {
        let (_dir, shares) = store();
        let (share, _) = shares
            .create(
                "alice",
                ShareKind::Song,
                "s",
                (Some(now_secs() - 1), None),
                None,
            )
            .unwrap();
        assert!(share.is_expired(now_secs()));
        assert!(!shares.start_play(&share.share_id).unwrap());
    }

    #[test]
    fn listing_and_revoking_follow_ownership() {
        let (_dir, shares) = store();
        let (a1, t1) = shares
            .create("alice", ShareKind::Song, "s1", (None, None), None)
            .unwrap();
        let (a2, _) = shares
            .create("alice", ShareKind::Playlist, "p1", (None, None), None)
            .unwrap();
        let (b1, _) = shares
            .create("bob", ShareKind::Song, "s1", (None, None), None)
            .unwrap();
        let alice = actor("alice", false);
        let ids = |v: Vec<Share>| {
            let mut ids: Vec<String> = v.into_iter().map(|s| s.share_id).collect();
            ids.sort();
            ids
        };
        let mut want = vec![a1.share_id.clone(), a2.share_id.clone()];
        want.sort();
        assert_eq!(ids(shares.list(&alice, None, None).unwrap()), want);
        assert_eq!(
            ids(shares
                .list(&alice, Some(ShareKind::Song), Some("s1"))
                .unwrap()),
            vec![a1.share_id.clone()]
        );
        assert_eq!(
            shares.list(&actor("root", true), None, None).unwrap().len(),
            3
        );

        assert!(matches!(
            shares.revoke(&b1.share_id, &alice),
            Err(AppError::NotFound(_))
        ));
        assert_eq!(
            shares.revoke(&a1.share_id, &alice).unwrap().share_id,
            a1.share_id
        );
        assert!(
            shares.by_token(&t1).unwrap().is_none(),
            "revoked tokens are unknown"
        );
        assert!(shares.get(&a1.share_id).unwrap().is_none());
        assert!(shares.revoke(&b1.share_id, &actor("root", true)).is_ok());

        assert_eq!(
            shares.remove_for_item(ShareKind::Playlist, "p1").unwrap(),
            1
        );
        assert!(shares.list(&alice, None, None).unwrap().is_empty());
        assert_eq!(shares.tokens.len(), 0, "no orphaned token entries");
    }

    #[test]
    fn guessing_is_limited_per_address() {
        let limiter = GuessLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(Some(ip)).is_ok());
            limiter.failure(Some(ip));
        }
        let wait = limiter.check(Some(ip)).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(limiter.check(Some(other)).is_ok());

        // One IPv6 host usually owns a whole /64.
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        for _ in 0..3 {
            limiter.failure(Some(a));
        }
        assert!(limiter.check(Some(b)).is_err());
        assert!(limiter.check(Some(c)).is_ok());

        let short = GuessLimiter::new(1, Duration::from_millis(50));
        short.failure(Some(ip));
        assert!(short.check(Some(ip)).is_err());
        std::thread::sleep(Duration::from_millis(80));
        assert!(short.check(Some(ip)).is_ok(), "the window slides");
    }
}
