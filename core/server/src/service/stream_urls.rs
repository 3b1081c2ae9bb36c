//! Signed, expiring stream URLs: `/stream/<songId>?exp=&sig=[&v=<variant>]`.
//! Invariant: a stream URL names a song, its stored file, the variant (none = the stored MP3;
//! else a streaming variant, see `variants.rs`) and an expiry, signed with a key derived from the
//! server secret; it stops working when any of them no longer holds.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::db::now_secs;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks `/stream/<songId>?exp=&sig=` URLs.
pub struct StreamSigner {
    key: [u8; 32],
}

impl StreamSigner {
    /// `secret` is the server's signing secret; the stream key is derived from it so a leaked
    /// stream signature says nothing about session tokens.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = new_mac(secret);
        mac.update(b"chillfi stream url key v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(
        &self,
        song_id: &str,
        blob_hash: &str,
        variant: Option<&str>,
        expires_at: i64,
    ) -> HmacSha256 {
        let mut mac = new_mac(&self.key);
        for part in [song_id, blob_hash, &expires_at.to_string()] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        // Parts are NUL-terminated: a URL for the stored file never verifies for a variant.
        if let Some(variant) = variant {
            mac.update(b"variant\0");
            mac.update(variant.as_bytes());
            mac.update(&[0]);
        }
        mac
    }

    #[cfg(test)]
    pub fn url(&self, song_id: &str, blob_hash: &str, expires_at: i64) -> String {
        self.variant_url(song_id, blob_hash, None, expires_at)
    }

    /// `/stream/<songId>?exp=&sig=` (the stored MP3), or with `&v=<variant name>`.
    pub fn variant_url(
        &self,
        song_id: &str,
        blob_hash: &str,
        variant: Option<&str>,
        expires_at: i64,
    ) -> String {
        let sig = hex::encode(
            self.mac(song_id, blob_hash, variant, expires_at)
                .finalize()
                .into_bytes(),
        );
        match variant {
            Some(v) => format!("/stream/{song_id}?exp={expires_at}&v={v}&sig={sig}"),
            None => format!("/stream/{song_id}?exp={expires_at}&sig={sig}"),
        }
    }

    /// Constant-time check of a signature for the song as stored now.
    #[cfg(test)]
    pub fn verify(&self, song_id: &str, blob_hash: &str, expires_at: i64, sig_hex: &str) -> bool {
        self.verify_variant(song_id, blob_hash, None, expires_at, sig_hex)
    }

    pub fn verify_variant(
        &self,
        song_id: &str,
        blob_hash: &str,
        variant: Option<&str>,
        expires_at: i64,
        sig_hex: &str,
    ) -> bool {
        let Ok(sig) = hex::decode(sig_hex) else {
            return false;
        };
        expires_at > now_secs()
            && self
                .mac(song_id, blob_hash, variant, expires_at)
                .verify_slice(&sig)
                .is_ok()
    }
}

/// Share-link play tickets: the answer that counted a play carries one (a cookie); it lets the
/// same player continue that play (seek, re-read) without counting again, for that link's song
/// only, until it expires. `<expires_at>.<hex HMAC>` over a domain tag, the share, the song and
/// the expiry.
impl StreamSigner {
    pub fn play_ticket(&self, share_id: &str, song_id: &str, expires_at: i64) -> String {
        let mac = self.ticket_mac(share_id, song_id, expires_at);
        format!("{expires_at}.{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Constant-time check that `ticket` continues a play of this share's song and is unexpired.
    pub fn check_play_ticket(&self, ticket: &str, share_id: &str, song_id: &str, now: i64) -> bool {
        let Some((expires_at, sig)) = ticket.split_once('.') else {
            return false;
        };
        let (Ok(expires_at), Ok(sig)) = (expires_at.parse::<i64>(), hex::decode(sig)) else {
            return false;
        };
        expires_at > now
            && self
                .ticket_mac(share_id, song_id, expires_at)
                .verify_slice(&sig)
                .is_ok()
    }

    fn ticket_mac(&self, share_id: &str, song_id: &str, expires_at: i64) -> HmacSha256 {
        let mut mac = new_mac(&self.key);
        // Four NUL-terminated parts (stream URLs have three or five): never mistaken for one.
        for part in [
            "share play ticket",
            share_id,
            song_id,
            &expires_at.to_string(),
        ] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac
    }
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of every length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_tickets_bind_share_song_and_expiry() {
        let signer = StreamSigner::new(b"server secret");
        let now = now_secs();
        let ticket = signer.play_ticket("share1", "song1", now + 60);
        assert!(signer.check_play_ticket(&ticket, "share1", "song1", now));
        assert!(
            !signer.check_play_ticket(&ticket, "share2", "song1", now),
            "another link"
        );
        assert!(
            !signer.check_play_ticket(&ticket, "share1", "song2", now),
            "another song"
        );
        assert!(
            !signer.check_play_ticket(&ticket, "share1", "song1", now + 60),
            "expired"
        );
        let (exp, sig) = ticket.split_once('.').unwrap();
        let later = format!("{}.{sig}", exp.parse::<i64>().unwrap() + 3600);
        assert!(
            !signer.check_play_ticket(&later, "share1", "song1", now),
            "extended"
        );
        for junk in ["", ".", "x.y", "1.zz", &format!("{exp}.")] {
            assert!(
                !signer.check_play_ticket(junk, "share1", "song1", now),
                "{junk:?}"
            );
        }
        let other = StreamSigner::new(b"another secret");
        assert!(
            !other.check_play_ticket(&ticket, "share1", "song1", now),
            "another server"
        );
        // A stream URL signature is never a ticket.
        let url = signer.url("share1", "song1", now + 60);
        let sig = url.rsplit("sig=").next().unwrap();
        let forged = format!("{}.{sig}", now + 60);
        assert!(!signer.check_play_ticket(&forged, "share1", "song1", now));
    }

    #[test]
    fn stream_signatures_bind_song_file_and_expiry() {
        let signer = StreamSigner::new(b"server secret");
        let exp = now_secs() + 60;
        let url = signer.url("song1", "hash1", exp);
        let sig = url.rsplit("sig=").next().unwrap();
        assert!(signer.verify("song1", "hash1", exp, sig));
        assert!(!signer.verify("song2", "hash1", exp, sig), "other song");
        assert!(!signer.verify("song1", "hash2", exp, sig), "replaced file");
        assert!(
            !signer.verify("song1", "hash1", exp + 1, sig),
            "moved expiry"
        );
        let mut tampered = sig.to_string();
        tampered.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        assert!(!signer.verify("song1", "hash1", exp, &tampered));
        let past = now_secs() - 1;
        let old = signer.url("song1", "hash1", past);
        assert!(!signer.verify("song1", "hash1", past, old.rsplit("sig=").next().unwrap()));
        assert!(!StreamSigner::new(b"other").verify("song1", "hash1", exp, sig));

        let v = signer.variant_url("song1", "hash1", Some("opus-96k"), exp);
        assert!(v.contains("&v=opus-96k&"), "{v}");
        let vsig = v.rsplit("sig=").next().unwrap();
        assert!(signer.verify_variant("song1", "hash1", Some("opus-96k"), exp, vsig));
        assert!(
            !signer.verify_variant("song1", "hash1", Some("opus-64k"), exp, vsig),
            "other variant"
        );
        assert!(
            !signer.verify_variant("song1", "hash1", None, exp, vsig),
            "variant sig for the file"
        );
        assert!(
            !signer.verify_variant("song1", "hash1", Some("opus-96k"), exp, sig),
            "file sig for a variant"
        );
    }
}
