//! Stateless tokens: the identity and expiry, signed with HMAC-SHA256.
//! Any proxy that holds the secret verifies a token without a lookup.
//!
//! Wire form: `AUTH_tk` + hex(payload ‖ mac[..16]) where payload is
//! `expires_secs: u64 BE ‖ flags: u8 ‖ account_len: u8 ‖ account ‖ user`;
//! flags: 1 admin, 2 reseller admin, 4 service user.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How every tempauth token starts (a Keystone token never does).
pub const TOKEN_PREFIX: &str = "AUTH_tk";
const MAC_BYTES: usize = 16;
const HEADER_BYTES: usize = 10;
/// Longest token accepted, so a hostile header costs bounded work.
pub const TOKEN_CHARS_MAX: usize = 1024;
const FLAG_ADMIN: u8 = 1;
const FLAG_RESELLER: u8 = 2;
const FLAG_SERVICE: u8 = 4;

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The tempauth account (`test`), owner of Swift account `AUTH_test` when admin.
    pub account: String,
    pub user: String,
    pub admin: bool,
    pub reseller_admin: bool,
    /// A service user (group `service`).
    pub service: bool,
    /// May read its own account (list it, its containers, their objects)
    /// without owning it: Keystone's `reader` role, Swift keystoneauth's
    /// `project_reader_roles`. Never set by tempauth.
    pub reader: bool,
    pub expires_secs: u64,
    /// The request also carried a service user's valid `X-Service-Token`.
    /// A property of the request, never of a token.
    pub with_service_token: bool,
}

impl Identity {
    /// Whether `group` (an ACL entry) names this identity: `acct`,
    /// `acct:user`, `acct:*` or `*:*`.
    pub fn in_group(&self, group: &str) -> bool {
        match group.split_once(':') {
            None => group == self.account,
            Some((a, u)) => (a == self.account || a == "*") && (u == self.user || u == "*"),
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token signature mismatch")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

/// Signs and verifies tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length; this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac accepts any key length");
        TokenSigner { mac }
    }

    fn tag(&self, payload: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(payload);
        m.finalize().into_bytes().into()
    }

    /// A token for `id` (its `expires_secs` included).
    pub fn sign(&self, id: &Identity) -> String {
        let acct = id.account.as_bytes();
        assert!(
            acct.len() <= usize::from(u8::MAX),
            "account name too long for a token"
        );
        let mut payload = Vec::with_capacity(HEADER_BYTES + acct.len() + id.user.len() + MAC_BYTES);
        payload.extend_from_slice(&id.expires_secs.to_be_bytes());
        let flags = (if id.admin { FLAG_ADMIN } else { 0 })
            | (if id.reseller_admin { FLAG_RESELLER } else { 0 })
            | (if id.service { FLAG_SERVICE } else { 0 });
        payload.push(flags);
        payload.push(acct.len() as u8);
        payload.extend_from_slice(acct);
        payload.extend_from_slice(id.user.as_bytes());
        let tag = self.tag(&payload);
        payload.extend_from_slice(&tag[..MAC_BYTES]);
        format!("{TOKEN_PREFIX}{}", hex::encode(payload))
    }

    /// The identity of a token that is genuine and unexpired at `now_secs`.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Identity, TokenError> {
        if token.len() > TOKEN_CHARS_MAX {
            return Err(TokenError::Malformed);
        }
        let hexpart = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed)?;
        let raw = hex::decode(hexpart).map_err(|_| TokenError::Malformed)?;
        if raw.len() < HEADER_BYTES + MAC_BYTES {
            return Err(TokenError::Malformed);
        }
        let (payload, mac) = raw.split_at(raw.len() - MAC_BYTES);
        let want = self.tag(payload);
        if !bool::from(want[..MAC_BYTES].ct_eq(mac)) {
            return Err(TokenError::BadSignature);
        }
        let id = decode_payload(payload).ok_or(TokenError::Malformed)?;
        if id.expires_secs <= now_secs {
            return Err(TokenError::Expired);
        }
        Ok(id)
    }
}

fn decode_payload(p: &[u8]) -> Option<Identity> {
    let expires_secs = u64::from_be_bytes(p.get(..8)?.try_into().ok()?);
    let flags = *p.get(8)?;
    let alen = usize::from(*p.get(9)?);
    let account = std::str::from_utf8(p.get(HEADER_BYTES..HEADER_BYTES + alen)?).ok()?;
    let user = std::str::from_utf8(p.get(HEADER_BYTES + alen..)?).ok()?;
    Some(Identity {
        account: account.to_owned(),
        user: user.to_owned(),
        admin: flags & FLAG_ADMIN != 0,
        reseller_admin: flags & FLAG_RESELLER != 0,
        service: flags & FLAG_SERVICE != 0,
        expires_secs,
        with_service_token: false,
        reader: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(expires_secs: u64) -> Identity {
        Identity {
            account: "test".into(),
            user: "tester".into(),
            admin: true,
            reseller_admin: false,
            service: false,
            expires_secs,
            with_service_token: false,
            reader: false,
        }
    }

    #[test]
    fn roundtrip_and_expiry() {
        // A signed token verifies to the same identity until it expires.
        let s = TokenSigner::new(b"secret");
        let t = s.sign(&id(1000));
        assert!(t.starts_with("AUTH_tk"));
        assert_eq!(s.verify(&t, 999), Ok(id(1000)));
        assert_eq!(s.verify(&t, 1000), Err(TokenError::Expired));
    }

    #[test]
    fn forged_tokens_fail() {
        // Another secret, a flipped bit, truncation and junk are all refused.
        let s = TokenSigner::new(b"secret");
        let t = s.sign(&id(1000));
        assert_eq!(
            TokenSigner::new(b"other").verify(&t, 1),
            Err(TokenError::BadSignature)
        );
        let mut raw = hex::decode(&t[7..]).unwrap();
        raw[8] ^= FLAG_RESELLER; // try to grant ourselves reseller admin
        let forged = format!("AUTH_tk{}", hex::encode(&raw));
        assert_eq!(s.verify(&forged, 1), Err(TokenError::BadSignature));
        assert_eq!(
            s.verify(&t[..t.len() - 2], 1),
            Err(TokenError::BadSignature)
        );
        for junk in [
            "",
            "AUTH_tk",
            "AUTH_tkzz",
            "AUTH_tk00",
            "tk1234",
            &"a".repeat(5000),
        ] {
            assert!(s.verify(junk, 1).is_err(), "{junk}");
        }
    }

    #[test]
    fn group_matching() {
        // ACL groups match the account, the account:user pair and wildcards.
        let i = id(1);
        for g in ["test", "test:tester", "test:*", "*:*", "*:tester"] {
            assert!(i.in_group(g), "{g}");
        }
        for g in ["other", "test:other", "other:*", "tester", ""] {
            assert!(!i.in_group(g), "{g}");
        }
    }
}
