//! Fernet-like tokens: nothing is stored per token. A token is the
//! XChaCha20-Poly1305 encryption of a small payload (who, which scope, how
//! authenticated, when issued and expiring, audit ids, the user's password
//! revision and any application credential), so only a holder of a token
//! key can read or forge one, and the AEAD tag is checked in constant time.
//!
//! Wire form: URL-safe base64 without padding of
//! `version (1 byte) ‖ nonce (24) ‖ ciphertext ‖ tag (16)`; the version is
//! authenticated as associated data. Every configured key opens tokens; the
//! first seals them (rotation: add the new key first, drop the old one a
//! token lifetime later).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::ConfigError;
use crate::ids::random_bytes;

const VERSION: u8 = 1;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
/// Shortest secret a token key may be derived from.
pub const TOKEN_KEY_BYTES_MIN: usize = 32;
/// Longest token accepted, so a hostile header costs bounded work.
pub const TOKEN_CHARS_MAX: usize = 2048;

/// How the holder authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMethod {
    #[serde(rename = "p")]
    Password,
    #[serde(rename = "t")]
    Token,
    #[serde(rename = "a")]
    ApplicationCredential,
}

impl AuthMethod {
    /// The name in Keystone's `methods`.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::Token => "token",
            AuthMethod::ApplicationCredential => "application_credential",
        }
    }
}

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenScope {
    #[serde(rename = "u")]
    Unscoped,
    #[serde(rename = "p")]
    Project(String),
    #[serde(rename = "d")]
    Domain(String),
    /// The whole deployment (`{"system": {"all": true}}`).
    #[serde(rename = "s")]
    System,
}

/// Everything a token carries. Short field names keep tokens short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPayload {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "m")]
    pub methods: Vec<AuthMethod>,
    #[serde(rename = "s")]
    pub scope: TokenScope,
    /// Microseconds since the epoch.
    #[serde(rename = "i")]
    pub issued_at_micros: u64,
    #[serde(rename = "e")]
    pub expires_at_micros: u64,
    /// This token's audit id, then the one of the token it was rescoped from.
    #[serde(rename = "a")]
    pub audit_ids: Vec<String>,
    /// The user's password revision when issued: a password change voids it.
    #[serde(rename = "r")]
    pub password_revision: u64,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub app_cred_id: Option<String>,
}

/// Why a token string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token not sealed by any known key")]
    BadSeal,
}

/// The token keys: derived from the caller's secrets (32 bytes or more).
#[derive(Clone)]
pub struct TokenCodec {
    /// The first seals; all open.
    ciphers: Vec<XChaCha20Poly1305>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenCodec({} keys)", self.ciphers.len())
    }
}

/// A 256-bit cipher key from a secret of any length (HMAC-SHA256 as a KDF).
fn derive_key(secret: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac accepts keys of any length");
    mac.update(b"cairn identity token key v1");
    mac.finalize().into_bytes().into()
}

impl TokenCodec {
    /// Keys from `secrets`, the sealing one first.
    pub fn new(secrets: &[Vec<u8>]) -> Result<Self, ConfigError> {
        if secrets.is_empty() {
            return Err(ConfigError::NoTokenKey);
        }
        let mut ciphers = Vec::with_capacity(secrets.len());
        for s in secrets {
            if s.len() < TOKEN_KEY_BYTES_MIN {
                return Err(ConfigError::TokenKey {
                    min: TOKEN_KEY_BYTES_MIN,
                    got: s.len(),
                });
            }
            ciphers.push(XChaCha20Poly1305::new(&derive_key(s).into()));
        }
        Ok(TokenCodec { ciphers })
    }

    /// The token for `payload`.
    pub fn seal(&self, payload: &TokenPayload) -> String {
        let plain = serde_json::to_vec(payload).expect("a token payload always serializes");
        let nonce_bytes = random_bytes::<NONCE_BYTES>();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let aad = [VERSION];
        let sealed = self.ciphers[0]
            .encrypt(
                nonce,
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .expect("encryption of a bounded payload cannot fail");
        let mut raw = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        raw.push(VERSION);
        raw.extend_from_slice(&nonce_bytes);
        raw.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The payload of a token one of the keys sealed. Expiry and the
    /// records it names are the caller's to check.
    pub fn open(&self, token: &str) -> Result<TokenPayload, TokenError> {
        if token.len() > TOKEN_CHARS_MAX {
            return Err(TokenError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| TokenError::Malformed)?;
        if raw.len() < 1 + NONCE_BYTES + TAG_BYTES || raw[0] != VERSION {
            return Err(TokenError::Malformed);
        }
        let (nonce, sealed) = raw[1..].split_at(NONCE_BYTES);
        let aad = [VERSION];
        let plain = self
            .ciphers
            .iter()
            .find_map(|c| {
                c.decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: &aad,
                    },
                )
                .ok()
            })
            .ok_or(TokenError::BadSeal)?;
        serde_json::from_slice(&plain).map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> TokenPayload {
        TokenPayload {
            user_id: "u1".into(),
            methods: vec![AuthMethod::Password],
            scope: TokenScope::Project("p1".into()),
            issued_at_micros: 1,
            expires_at_micros: 2,
            audit_ids: vec!["a".into()],
            password_revision: 3,
            app_cred_id: None,
        }
    }

    #[test]
    fn seals_opens_and_rotates() {
        // A token opens with its key (also as a later key), not with another;
        // a flipped byte or a short key is refused.
        let old = TokenCodec::new(&[vec![1; 32]]).unwrap();
        let token = old.seal(&payload());
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(old.open(&token).unwrap(), payload());
        let rotated = TokenCodec::new(&[vec![2; 32], vec![1; 32]]).unwrap();
        assert_eq!(rotated.open(&token).unwrap(), payload());
        let other = TokenCodec::new(&[vec![2; 32]]).unwrap();
        assert_eq!(other.open(&token), Err(TokenError::BadSeal));
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            old.open(&URL_SAFE_NO_PAD.encode(raw)),
            Err(TokenError::BadSeal)
        );
        assert_eq!(old.open("!!"), Err(TokenError::Malformed));
        assert_eq!(old.open(""), Err(TokenError::Malformed));
        assert!(matches!(
            TokenCodec::new(&[vec![0; 31]]),
            Err(ConfigError::TokenKey { .. })
        ));
    }
}
