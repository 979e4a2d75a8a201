//! `Mcp-Session-Id`s that any replica can check without shared memory: the
//! id is the session's facts (user, deployment, protocol version, the
//! upstream's own session id) sealed with ChaCha20-Poly1305 under a key
//! derived from the platform secret. Unguessable (a random nonce and an
//! authentication tag), bound to the user (a different caller presenting it
//! is refused), unreadable by the client (the upstream's session id stays
//! private). Ended sessions are remembered in the cache until they would
//! have expired.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a session id says about its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFacts {
    /// The authenticated user; `None` for an anonymous caller of a public deployment.
    #[serde(rename = "u")]
    pub user_id: Option<Uuid>,
    #[serde(rename = "d")]
    pub deployment_id: Uuid,
    /// The protocol version negotiated at initialize.
    #[serde(rename = "v")]
    pub protocol_version: String,
    /// Issued at, Unix seconds.
    #[serde(rename = "t")]
    pub issued_at: i64,
    /// The remote upstream's own `Mcp-Session-Id`, when it gave one.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub upstream_session: Option<String>,
    /// Random, so two sessions with equal facts still differ.
    #[serde(rename = "n")]
    pub nonce: u64,
}

pub struct SessionSealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl SessionSealer {
    /// A sealer keyed from the platform secret (any length; it is hashed
    /// with a purpose label so this key differs from the token keys).
    pub fn new(platform_secret: &[u8]) -> Self {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"mcp-platform/gateway-session/v1\0");
        hasher.update(platform_secret);
        let digest = hasher.finalize();
        // A SHA-256 digest is exactly the 32-byte key ChaCha20-Poly1305 takes.
        let key =
            LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &digest).expect("a 32-byte key"));
        Self {
            key,
            rng: SystemRandom::new(),
        }
    }

    /// The session id for `facts`: URL-safe base64, visible ASCII only.
    pub fn seal(&self, facts: &SessionFacts) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut data = serde_json::to_vec(facts).ok()?;
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The facts of a session id this platform sealed; `None` for anything
    /// else (forged, altered, truncated, another platform's).
    pub fn open(&self, id: &str) -> Option<SessionFacts> {
        if id.len() > 4096 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(id).ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut sealed)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SessionFacts {
        SessionFacts {
            user_id: Some(Uuid::new_v4()),
            deployment_id: Uuid::new_v4(),
            protocol_version: "2025-11-25".into(),
            issued_at: 1_700_000_000,
            upstream_session: Some("upstream-secret".into()),
            nonce: 42,
        }
    }

    #[test]
    fn sealed_ids_open_to_their_facts_and_hide_them() {
        let sealer = SessionSealer::new(b"a platform secret of some length");
        let f = facts();
        let id = sealer.seal(&f).expect("sealed");
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert!(!id.contains("upstream"));
        assert_eq!(sealer.open(&id), Some(f.clone()));
        // Same facts, fresh nonce: a different id.
        assert_ne!(sealer.seal(&f), Some(id));
    }

    #[test]
    fn altered_or_foreign_ids_do_not_open() {
        let sealer = SessionSealer::new(b"one secret");
        let other = SessionSealer::new(b"another secret");
        let id = sealer.seal(&facts()).expect("sealed");
        assert!(other.open(&id).is_none());
        let mut bytes = id.clone().into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(sealer
            .open(&String::from_utf8(bytes).expect("ascii"))
            .is_none());
        assert!(sealer.open("").is_none());
        assert!(sealer.open("not base64 !").is_none());
    }
}
