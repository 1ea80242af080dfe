//! Join tokens: what `cairn node join` is given to find a cluster, trust
//! it and be let in — the address of the node that admits (the one that
//! holds the cluster CA's key), the CA's SHA-256 fingerprint, and a
//! secret with an id — and the store of issued tokens on the admitting
//! node (`DIR/join/tokens.json`: ids, blake3 hashes of the secrets and
//! expiry times; the secrets themselves are never stored).
//!
//! On the wire and on the command line a token is `cairn1.` followed by
//! base64url (no padding) of: the 6-byte id, the 20-byte secret, the
//! 32-byte CA fingerprint, then the admitting node's address as text.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "cairn1.";
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 20;
const FINGERPRINT_BYTES: usize = 32;

/// A join token as the joining node holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// Where the admitting node's internode endpoint listens.
    pub addr: SocketAddr,
    /// The token's id (hex), which names it in the store.
    pub id: String,
    pub secret: [u8; SECRET_BYTES],
    /// SHA-256 of the cluster CA's certificate (DER).
    pub ca_fingerprint: [u8; FINGERPRINT_BYTES],
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken")
            .field("addr", &self.addr)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl JoinToken {
    /// The token's text form.
    pub fn encode(&self) -> String {
        let mut raw = hex::decode(&self.id).expect("ids are hex of ID_BYTES bytes");
        raw.extend_from_slice(&self.secret);
        raw.extend_from_slice(&self.ca_fingerprint);
        raw.extend_from_slice(self.addr.to_string().as_bytes());
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// Reads a token's text form.
    pub fn decode(text: &str) -> Result<JoinToken> {
        let body = text
            .trim()
            .strip_prefix(PREFIX)
            .context("not a Cairn join token (they start with \"cairn1.\")")?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .context("the join token is not valid base64url: was it copied whole?")?;
        let fixed = ID_BYTES + SECRET_BYTES + FINGERPRINT_BYTES;
        if raw.len() <= fixed {
            bail!("the join token is too short: was it copied whole?");
        }
        let (id, rest) = raw.split_at(ID_BYTES);
        let (secret, rest) = rest.split_at(SECRET_BYTES);
        let (fingerprint, addr) = rest.split_at(FINGERPRINT_BYTES);
        let addr = std::str::from_utf8(addr)
            .ok()
            .and_then(|a| a.parse().ok())
            .context("the join token's address is not an address: was it copied whole?")?;
        Ok(JoinToken {
            addr,
            id: hex::encode(id),
            secret: secret.try_into().expect("split at SECRET_BYTES"),
            ca_fingerprint: fingerprint.try_into().expect("split at FINGERPRINT_BYTES"),
        })
    }
}

/// One issued token as the admitting node keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredToken {
    pub id: String,
    /// blake3 of the secret, hex.
    secret_hash: String,
    pub created_unix: u64,
    pub expires_unix: u64,
}

/// Why a presented token does not admit.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the join token is not valid here (unknown, revoked, or a wrong secret)")]
    Invalid,
    #[error("the join token expired {0} s ago; ask the operator for a new one (`cairn cluster token create`)")]
    Expired(u64),
}

/// The tokens of the cluster whose admitting node's directory is `root`.
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    pub fn new(root: &Path) -> TokenStore {
        TokenStore {
            path: root.join("join/tokens.json"),
        }
    }

    /// Every token issued and not revoked, expired ones included.
    pub fn list(&self) -> Result<Vec<StoredToken>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    fn save(&self, tokens: &[StoredToken]) -> Result<()> {
        let dir = self.path.parent().expect("join/tokens.json has a parent");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        crate::files::write_private(&self.path, &serde_json::to_vec_pretty(tokens)?)
    }

    /// Issues a token for the admitting node at `addr` of the cluster whose
    /// CA has `ca_fingerprint`, valid for `ttl_secs` from `now_unix`.
    /// Expired tokens are dropped from the store on the way.
    pub fn create(
        &self,
        addr: SocketAddr,
        ca_fingerprint: [u8; FINGERPRINT_BYTES],
        ttl_secs: u64,
        now_unix: u64,
    ) -> Result<JoinToken> {
        let mut rng = rand::thread_rng();
        let id: [u8; ID_BYTES] = rng.gen();
        let secret: [u8; SECRET_BYTES] = rng.gen();
        let mut tokens = self.list()?;
        tokens.retain(|t| t.expires_unix > now_unix);
        tokens.push(StoredToken {
            id: hex::encode(id),
            secret_hash: blake3::hash(&secret).to_hex().to_string(),
            created_unix: now_unix,
            expires_unix: now_unix.saturating_add(ttl_secs),
        });
        self.save(&tokens)?;
        Ok(JoinToken {
            addr,
            id: hex::encode(id),
            secret,
            ca_fingerprint,
        })
    }

    /// Forgets token `id`; false when there was none.
    pub fn revoke(&self, id: &str) -> Result<bool> {
        let mut tokens = self.list()?;
        let before = tokens.len();
        tokens.retain(|t| t.id != id);
        if tokens.len() == before {
            return Ok(false);
        }
        self.save(&tokens)?;
        Ok(true)
    }

    /// Whether `secret` is token `id`'s and the token is still valid.
    /// The secret is compared as a blake3 hash, in constant time.
    pub fn check(&self, id: &str, secret: &[u8], now_unix: u64) -> Result<Result<(), Refused>> {
        let presented = blake3::hash(secret);
        let Some(stored) = self.list()?.into_iter().find(|t| t.id == id) else {
            return Ok(Err(Refused::Invalid));
        };
        let Ok(hash) = blake3::Hash::from_hex(&stored.secret_hash) else {
            return Ok(Err(Refused::Invalid));
        };
        // blake3::Hash compares in constant time.
        if hash != presented {
            return Ok(Err(Refused::Invalid));
        }
        if stored.expires_unix <= now_unix {
            return Ok(Err(Refused::Expired(now_unix - stored.expires_unix)));
        }
        Ok(Ok(()))
    }
}

/// Reads a duration such as `90s`, `30m`, `24h` or `7d` as seconds.
pub fn parse_ttl(text: &str) -> Result<u64> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration such as 30m, 24h or 7d"))?;
    let scale = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{text:?}: the unit is one of s, m, h, d"),
    };
    n.checked_mul(scale)
        .filter(|&s| s > 0)
        .with_context(|| format!("{text:?} is not a usable lifetime"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        (dir, store)
    }

    #[test]
    fn a_token_survives_its_text_form() {
        let (_dir, store) = store();
        for addr in ["127.0.0.2:6200", "[fd00::5]:6200"] {
            let token = store
                .create(addr.parse().unwrap(), [7; 32], 60, 1000)
                .unwrap();
            let text = token.encode();
            assert!(text.starts_with("cairn1."));
            assert!(text[7..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(JoinToken::decode(&text).unwrap(), token);
        }
        assert!(JoinToken::decode("cairn1.AAAA").is_err());
        assert!(JoinToken::decode("hello").is_err());
        let token = store
            .create("127.0.0.2:6200".parse().unwrap(), [7; 32], 60, 1000)
            .unwrap();
        let text = token.encode();
        assert!(JoinToken::decode(&text[..text.len() - 3]).is_err());
    }

    #[test]
    fn only_the_right_secret_before_expiry_admits() {
        let (_dir, store) = store();
        let token = store
            .create("127.0.0.2:6200".parse().unwrap(), [1; 32], 60, 1000)
            .unwrap();
        assert_eq!(store.check(&token.id, &token.secret, 1030).unwrap(), Ok(()));
        let mut wrong = token.secret;
        wrong[0] ^= 1;
        assert_eq!(
            store.check(&token.id, &wrong, 1030).unwrap(),
            Err(Refused::Invalid)
        );
        assert_eq!(
            store.check("000000000000", &token.secret, 1030).unwrap(),
            Err(Refused::Invalid)
        );
        assert_eq!(
            store.check(&token.id, &token.secret, 1070).unwrap(),
            Err(Refused::Expired(10))
        );
        let text = std::fs::read_to_string(_dir.path().join("join/tokens.json")).unwrap();
        assert!(
            !text.contains(&hex::encode(token.secret)),
            "the secret is stored only hashed"
        );
        assert!(store.revoke(&token.id).unwrap());
        assert!(!store.revoke(&token.id).unwrap());
        assert_eq!(
            store.check(&token.id, &token.secret, 1030).unwrap(),
            Err(Refused::Invalid)
        );
    }

    #[test]
    fn lifetimes_read_with_units() {
        assert_eq!(parse_ttl("90s").unwrap(), 90);
        assert_eq!(parse_ttl("30m").unwrap(), 1800);
        assert_eq!(parse_ttl("24h").unwrap(), 86_400);
        assert_eq!(parse_ttl("7d").unwrap(), 604_800);
        assert_eq!(parse_ttl("45").unwrap(), 45);
        for bad in ["", "h", "0s", "3w", "-1h", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
