//! Hex digests for keys that are stored or compared but never reversed
//! (API keys, refresh tokens, idempotency keys). A leaf: it imports nothing
//! of the crate, so adapters and services alike may use it.

use sha2::{Digest, Sha256};

/// The SHA-256 of `s`, as 64 lowercase hex digits.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}
