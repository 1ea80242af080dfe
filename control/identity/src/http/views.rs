//! The JSON shapes of Keystone's responses, one function per record, with
//! the fields the clients and Tempest read (research: api-surface §1).

use cairn_base::Timestamp;
use serde_json::{json, Value};

use crate::service::TokenInfo;
use crate::store::model::{AppCredential, Domain, Ec2Credential, Group, Project, Role, User};
use crate::store::Entity;
use crate::time::{iso8601, iso8601_micros};
use crate::token::TokenScope;
use crate::Identity;

/// A record with a JSON shape of its own.
pub trait Viewed: Entity {
    fn view(base: &str, e: &Self) -> Value;
}

macro_rules! viewed {
    ($($t:ty => $f:ident),*) => {
        $(impl Viewed for $t {
            fn view(base: &str, e: &Self) -> Value {
                $f(base, e)
            }
        })*
    };
}

viewed!(Domain => domain, Project => project, User => user, Group => group, Role => role);

/// `{"<kind>": view}`: the answer of a create, show or update.
pub fn one<E: Viewed>(svc: &Identity, e: &E) -> Value {
    json!({E::KIND: E::view(&svc.settings().public_url, e)})
}

/// `{key: items, links: {self, next, previous}}`.
pub fn collection(base: &str, path: &str, key: &str, items: Vec<Value>) -> Value {
    json!({key: items, "links": {"self": format!("{base}{path}"), "next": null, "previous": null}})
}

pub fn domain(base: &str, d: &Domain) -> Value {
    json!({"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
           "tags": [], "options": {}, "links": {"self": format!("{base}/v3/domains/{}", d.id)}})
}

pub fn project(base: &str, p: &Project) -> Value {
    json!({"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
           "enabled": p.enabled, "is_domain": false, "parent_id": p.domain_id, "tags": p.tags,
           "options": {}, "links": {"self": format!("{base}/v3/projects/{}", p.id)}})
}

/// Never the password hash.
pub fn user(base: &str, u: &User) -> Value {
    let mut v = json!({"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
           "description": u.description, "password_expires_at": null, "options": {},
           "links": {"self": format!("{base}/v3/users/{}", u.id)}});
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    for (k, x) in &u.extra {
        if v.get(k).is_none() {
            v[k] = x.clone();
        }
    }
    v
}

pub fn group(base: &str, g: &Group) -> Value {
    json!({"id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
           "links": {"self": format!("{base}/v3/groups/{}", g.id)}})
}

pub fn role(base: &str, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "domain_id": null, "description": r.description,
           "options": {}, "links": {"self": format!("{base}/v3/roles/{}", r.id)}})
}

/// Without the secret, which only the creation answer carries.
pub fn app_cred(base: &str, a: &AppCredential, roles: &[Role]) -> Value {
    let roles: Vec<Value> = roles
        .iter()
        .map(|r| json!({"id": r.id, "name": r.name, "domain_id": null}))
        .collect();
    // Keystone writes an application credential's expiry as Python's
    // `isoformat()` of a naive UTC time: no `Z` (unlike a token's).
    let expires = a
        .expires_at_micros
        .map(|m| iso8601_micros(m).trim_end_matches('Z').to_string());
    json!({"id": a.id, "name": a.name, "description": a.description, "expires_at": expires,
           "project_id": a.project_id, "user_id": a.user_id, "roles": roles,
           "unrestricted": a.unrestricted, "access_rules": [],
           "links": {"self": format!("{base}/v3/users/{}/application_credentials/{}", a.user_id, a.id)}})
}

pub fn ec2(base: &str, c: &Ec2Credential) -> Value {
    json!({"user_id": c.user_id, "tenant_id": c.project_id, "access": c.access,
           "secret": c.secret, "trust_id": null,
           "links": {"self": format!("{base}/v3/users/{}/credentials/OS-EC2/{}", c.user_id, c.access)}})
}

fn named(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name})
}

/// The body of `POST`/`GET /v3/auth/tokens`; the catalog unless `nocatalog`.
pub fn token(svc: &Identity, info: &TokenInfo, with_catalog: bool) -> Value {
    let p = &info.payload;
    let user_domain = named(&info.user_domain.id, &info.user_domain.name);
    let mut t = json!({
        "methods": p.methods.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "user": {"id": info.user.id, "name": info.user.name, "domain": user_domain,
                 "password_expires_at": null},
        "audit_ids": p.audit_ids,
        "expires_at": iso8601(Timestamp::from_micros(p.expires_at_micros)),
        "issued_at": iso8601(Timestamp::from_micros(p.issued_at_micros)),
    });
    if let Some((project, d)) = &info.project {
        t["project"] = json!({"id": project.id, "name": project.name,
                              "domain": named(&d.id, &d.name)});
        t["is_domain"] = json!(false);
    }
    if let Some(d) = &info.domain {
        t["domain"] = named(&d.id, &d.name);
    }
    let system = matches!(p.scope, TokenScope::System);
    if system {
        t["system"] = json!({"all": true});
    }
    if info.project.is_some() || info.domain.is_some() || system {
        t["roles"] = info.roles.iter().map(|r| named(&r.id, &r.name)).collect();
        if with_catalog {
            let pid = info.project.as_ref().map(|(p, _)| p.id.as_str());
            t["catalog"] = json!(svc.catalog().for_token(pid));
        }
    }
    if let Some(a) = &info.app_cred {
        t["application_credential"] =
            json!({"id": a.id, "name": a.name, "restricted": !a.unrestricted});
    }
    json!({ "token": t })
}
