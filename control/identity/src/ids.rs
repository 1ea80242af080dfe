//! Fresh identifiers and secrets: Keystone's 32-hex ids, 22-character
//! audit ids, and the random secrets of application and EC2 credentials.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A new record id: 32 lowercase hex digits, like Keystone's.
pub fn new_id() -> String {
    hex::encode(random::<16>())
}

/// A token's audit id: 16 random bytes, URL-safe base64 (22 characters).
pub fn audit_id() -> String {
    URL_SAFE_NO_PAD.encode(random::<16>())
}

/// A generated credential secret: 32 random bytes, URL-safe base64.
pub fn secret() -> String {
    URL_SAFE_NO_PAD.encode(random::<32>())
}

/// Random bytes for nonces and salts.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    random()
}
