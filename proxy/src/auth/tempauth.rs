//! tempauth v1.0: `account:user` + key in, a signed token and storage URL out.

use super::TokenSigner;
use crate::config::TempAuthUser;
use crate::path::RESELLER_PREFIX;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// The configured users and the token signer.
#[derive(Debug)]
pub struct TempAuth {
    users: HashMap<String, TempAuthUser>,
    signer: TokenSigner,
    ttl_secs: u64,
}

/// A successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempAuthGrant {
    pub token: String,
    /// The Swift account, `AUTH_<account>`.
    pub swift_account: String,
    pub expires_in_secs: u64,
}

impl TempAuth {
    pub fn new(users: &[TempAuthUser], secret: &[u8], ttl_secs: u64) -> Self {
        let users = users
            .iter()
            .map(|u| (format!("{}:{}", u.account, u.user), u.clone()))
            .collect();
        TempAuth {
            users,
            signer: TokenSigner::new(secret),
            ttl_secs,
        }
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Checks `account:user` and its key; `None` when either is wrong.
    pub fn login(&self, account_user: &str, key: &str, now_secs: u64) -> Option<TempAuthGrant> {
        let u = self.users.get(account_user)?;
        if !bool::from(u.key.as_bytes().ct_eq(key.as_bytes())) {
            return None;
        }
        let id = u.identity(now_secs + self.ttl_secs);
        Some(TempAuthGrant {
            token: self.signer.sign(&id),
            swift_account: format!("{RESELLER_PREFIX}{}", u.account),
            expires_in_secs: self.ttl_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_checks_user_and_key() {
        // Only the right key for a known account:user yields a verifiable token.
        let users = [TempAuthUser {
            account: "test".into(),
            user: "tester".into(),
            key: "testing".into(),
            admin: true,
            reseller_admin: false,
            service: false,
        }];
        let ta = TempAuth::new(&users, b"s", 100);
        let g = ta.login("test:tester", "testing", 10).unwrap();
        assert_eq!(g.swift_account, "AUTH_test");
        let id = ta.signer().verify(&g.token, 50).unwrap();
        assert!(id.admin && id.account == "test" && id.user == "tester");
        assert!(ta.login("test:tester", "wrong", 10).is_none());
        assert!(ta.login("test:nobody", "testing", 10).is_none());
        assert!(ta.login("", "", 10).is_none());
    }
}
