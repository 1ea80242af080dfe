//! Swift's container ACLs (`X-Container-Read` / `X-Container-Write`) and
//! tempauth's authorization rule (with its `SERVICE_` accounts), as a pure
//! function.

use super::Identity;
use crate::path::{RESELLER_PREFIX, SERVICE_PREFIX};

/// A parsed container ACL: referrer rules and user groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    /// `.r:` entries; a leading `-` denies.
    pub referrers: Vec<String>,
    /// Everything else, `.rlistings` included.
    pub groups: Vec<String>,
}

impl Acl {
    /// Parses an ACL header value (Swift's `parse_acl`).
    pub fn parse(value: &str) -> Acl {
        let mut acl = Acl::default();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match referrer_rule(entry) {
                Some(r) => acl.referrers.push(r.to_owned()),
                None => acl.groups.push(entry.to_owned()),
            }
        }
        acl
    }

    /// Validates and normalises an ACL a client sets (Swift's `clean_acl`).
    pub fn clean(value: &str) -> Result<String, String> {
        let mut out: Vec<String> = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(r) = referrer_rule(entry) {
                let r = r.trim();
                let (negate, host) = match r.strip_prefix('-') {
                    Some(h) => ("-", h.trim()),
                    None => ("", r),
                };
                // `*.example.com` means `.example.com` (a domain suffix).
                let host = match host.strip_prefix('*') {
                    Some(rest) if !rest.is_empty() => rest.trim(),
                    _ => host,
                };
                if host.is_empty() || host == "." {
                    return Err(format!(
                        "No host/domain value after referrer designation in ACL: {entry:?}"
                    ));
                }
                out.push(format!(".r:{negate}{host}"));
            } else if entry.starts_with('.') && entry != ".rlistings" {
                return Err(format!("Unknown designator {entry:?} in ACL"));
            } else {
                out.push(entry.to_owned());
            }
        }
        Ok(out.join(","))
    }

    /// Whether a request with this `Referer` passes the referrer rules.
    pub fn referrer_allowed(&self, referer: Option<&str>) -> bool {
        let host = referer.map(referer_host).unwrap_or("");
        let mut allowed = false;
        for rule in &self.referrers {
            let (deny, pat) = match rule.strip_prefix('-') {
                Some(p) => (true, p),
                None => (false, rule.as_str()),
            };
            let hit = pat == "*" || pat == host || (pat.starts_with('.') && host.ends_with(pat));
            if hit {
                allowed = !deny;
            }
        }
        allowed
    }
}

/// The rule of a `.r:`/`.ref:`/`.referer:`/`.referrer:` entry.
fn referrer_rule(entry: &str) -> Option<&str> {
    let (designator, rule) = entry.split_once(':')?;
    matches!(designator, ".r" | ".ref" | ".referer" | ".referrer").then_some(rule)
}

fn referer_host(referer: &str) -> &str {
    let after_scheme = referer.split_once("://").map(|(_, r)| r).unwrap_or(referer);
    let hostport = after_scheme.split('/').next().unwrap_or("");
    let host = hostport
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(hostport);
    host.split(':').next().unwrap_or("")
}

/// The outcome of authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Owner of the account: may do anything in it and see its ACLs.
    Owner,
    /// Allowed by an ACL, but not an owner.
    Allowed,
    /// 401: no (valid) identity.
    Unauthorized,
    /// 403: an identity without rights.
    Forbidden,
}

/// What is being asked, for [`authorize`].
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// The Swift account (`AUTH_test`).
    pub account: &'a str,
    pub has_container: bool,
    pub has_object: bool,
    /// PUT or DELETE of the account itself is reseller-admin business.
    pub is_account_put_or_delete: bool,
    /// GET or HEAD: what an account's readers may do.
    pub is_read: bool,
    /// The container ACL that applies (read for GET/HEAD, write otherwise).
    pub acl: Option<&'a str>,
    pub referer: Option<&'a str>,
}

/// tempauth's `authorize`: reseller admins own every `AUTH_` account,
/// `.admin` users own their own, an account's readers may read it (and
/// nothing more: `Allowed`, not `Owner`), everyone else needs a container
/// ACL.
pub fn authorize(id: Option<&Identity>, req: &AccessRequest<'_>) -> Decision {
    let (tail, service_account) = match (
        req.account.strip_prefix(RESELLER_PREFIX),
        req.account.strip_prefix(SERVICE_PREFIX),
    ) {
        (Some(t), _) => (t, false),
        (None, Some(t)) => (t, true),
        (None, None) => return denied(id),
    };
    if let Some(i) = id {
        if i.reseller_admin {
            return Decision::Owner;
        }
        if service_account && !i.with_service_token {
            return denied(id);
        }
        let account_itself = req.is_account_put_or_delete && !req.has_container;
        if i.admin && i.account == tail && !account_itself {
            return Decision::Owner;
        }
        if i.reader && i.account == tail && req.is_read && !service_account {
            return Decision::Allowed;
        }
    }
    if service_account {
        // A service account is its owner's only: no ACL opens it.
        return denied(id);
    }
    let acl = Acl::parse(req.acl.unwrap_or(""));
    if acl.referrer_allowed(req.referer)
        && (req.has_object || acl.groups.iter().any(|g| g == ".rlistings"))
    {
        return Decision::Allowed;
    }
    if let Some(i) = id {
        if acl
            .groups
            .iter()
            .any(|g| !g.starts_with('.') && i.in_group(g))
        {
            return Decision::Allowed;
        }
    }
    denied(id)
}

fn denied(id: Option<&Identity>) -> Decision {
    if id.is_some() {
        Decision::Forbidden
    } else {
        Decision::Unauthorized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(account: &str, user: &str, admin: bool) -> Identity {
        Identity {
            account: account.into(),
            user: user.into(),
            admin,
            reseller_admin: false,
            service: false,
            with_service_token: false,
            reader: false,
            expires_secs: 9,
        }
    }

    #[test]
    fn service_accounts_need_the_owner_and_a_service_token() {
        // SERVICE_test opens to test's admin only with a service user's
        // X-Service-Token; no ACL, referrer or other user gets in.
        let service_req = |acl| AccessRequest {
            account: "SERVICE_test",
            ..req(acl, true)
        };
        let owner = ident("test", "tester", true);
        assert_eq!(
            authorize(Some(&owner), &service_req(None)),
            Decision::Forbidden
        );
        let with_service = Identity {
            with_service_token: true,
            reader: false,
            ..owner.clone()
        };
        assert_eq!(
            authorize(Some(&with_service), &service_req(None)),
            Decision::Owner
        );
        let other = Identity {
            with_service_token: true,
            reader: false,
            ..ident("test5", "tester5", true)
        };
        assert_eq!(
            authorize(Some(&other), &service_req(None)),
            Decision::Forbidden
        );
        assert_eq!(
            authorize(None, &service_req(Some(".r:*"))),
            Decision::Unauthorized
        );
        assert_eq!(
            authorize(
                Some(&ident("test", "tester3", false)),
                &service_req(Some("test:tester3"))
            ),
            Decision::Forbidden
        );
        // The user's own AUTH_ account needs no service token.
        assert_eq!(authorize(Some(&owner), &req(None, true)), Decision::Owner);
    }

    fn req<'a>(acl: Option<&'a str>, has_object: bool) -> AccessRequest<'a> {
        AccessRequest {
            account: "AUTH_test",
            has_container: true,
            has_object,
            is_account_put_or_delete: false,
            is_read: true,
            acl,
            referer: None,
        }
    }

    #[test]
    fn readers_read_their_own_account_and_change_nothing() {
        let reader = Identity {
            reader: true,
            ..ident("proj", "u", false)
        };
        let own = |is_read, has_container| AccessRequest {
            account: "AUTH_proj",
            has_container,
            is_read,
            ..req(None, false)
        };
        assert_eq!(
            authorize(Some(&reader), &own(true, false)),
            Decision::Allowed
        );
        assert_eq!(
            authorize(Some(&reader), &own(true, true)),
            Decision::Allowed
        );
        assert_eq!(
            authorize(Some(&reader), &own(false, true)),
            Decision::Forbidden
        );
        let other = AccessRequest {
            account: "AUTH_other",
            ..own(true, true)
        };
        assert_eq!(authorize(Some(&reader), &other), Decision::Forbidden);
        let service = AccessRequest {
            account: "SERVICE_proj",
            ..own(true, true)
        };
        assert_eq!(authorize(Some(&reader), &service), Decision::Forbidden);
    }

    #[test]
    fn owners_and_strangers() {
        // Admins own their account only; others without an ACL are refused.
        let admin = ident("test", "tester", true);
        assert_eq!(authorize(Some(&admin), &req(None, true)), Decision::Owner);
        let other = ident("test2", "tester2", true);
        assert_eq!(
            authorize(Some(&other), &req(None, true)),
            Decision::Forbidden
        );
        let plain = ident("test", "tester3", false);
        assert_eq!(
            authorize(Some(&plain), &req(None, true)),
            Decision::Forbidden
        );
        assert_eq!(authorize(None, &req(None, true)), Decision::Unauthorized);
        let mut reseller = ident("x", "y", false);
        reseller.reseller_admin = true;
        assert_eq!(
            authorize(Some(&reseller), &req(None, false)),
            Decision::Owner
        );
        let mut acct_put = req(None, false);
        acct_put.has_container = false;
        acct_put.is_account_put_or_delete = true;
        assert_eq!(authorize(Some(&admin), &acct_put), Decision::Forbidden);
    }

    #[test]
    fn acls_grant_access() {
        // User, account and wildcard entries allow; .r:* allows objects, listings need .rlistings.
        let plain = ident("test", "tester3", false);
        for acl in ["test:tester3", "test", "test:*", "x, test:tester3"] {
            assert_eq!(
                authorize(Some(&plain), &req(Some(acl), false)),
                Decision::Allowed,
                "{acl}"
            );
        }
        assert_eq!(authorize(None, &req(Some(".r:*"), true)), Decision::Allowed);
        assert_eq!(
            authorize(None, &req(Some(".r:*"), false)),
            Decision::Unauthorized
        );
        assert_eq!(
            authorize(None, &req(Some(".r:*,.rlistings"), false)),
            Decision::Allowed
        );
        assert_eq!(
            authorize(Some(&plain), &req(Some(".rlistings"), false)),
            Decision::Forbidden
        );
    }

    #[test]
    fn referrer_rules() {
        // Domain suffixes match and a later negative rule wins.
        let acl = Acl::parse(".r:.example.com,.r:-bad.example.com");
        assert!(acl.referrer_allowed(Some("http://www.example.com/page")));
        assert!(!acl.referrer_allowed(Some("http://bad.example.com/")));
        assert!(!acl.referrer_allowed(Some("http://other.org/")));
        assert!(!acl.referrer_allowed(None));
    }

    #[test]
    fn clean_validates() {
        // Referrer rules need a value and unknown designators are refused.
        assert_eq!(
            Acl::clean(" .r:* , test:tester3 "),
            Ok(".r:*,test:tester3".into())
        );
        assert!(Acl::clean(".r:").is_err());
        assert!(Acl::clean(".bogus").is_err());
        assert_eq!(Acl::clean(".rlistings"), Ok(".rlistings".into()));
        // `*.domain` is cleaned to the suffix rule `.domain`, as Swift's clean_acl does.
        assert_eq!(
            Acl::clean(".r:*.example.com, .r:-*.bad.com"),
            Ok(".r:.example.com,.r:-.bad.com".into())
        );
        assert_eq!(Acl::clean(".r:*"), Ok(".r:*".into()));
    }
}
