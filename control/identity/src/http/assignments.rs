//! Role assignments: `PUT`/`HEAD`/`GET`/`DELETE
//! /v3/{projects|domains}/{id}/{users|groups}/{id}/roles/{role}`, the
//! direct roles of one actor on one target, and `GET /v3/role_assignments`
//! with the filters the CLI sends (`user.id`, `group.id`, `role.id`,
//! `scope.project.id`, `scope.domain.id`, `scope.system`, `effective`,
//! `include_names`); system role grants under `/v3/system/…` (stored and
//! listed; a system-scoped token is not issued).

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, Uri};
use serde_json::{json, Value};

use super::request::{caller, Query};
use super::respond::{no_content, ok};
use super::views::{self, collection};
use super::Svc;
use crate::error::IdentityError;
use crate::policy::Action;
use crate::store::model::{Actor, Assignment, Domain, Group, Project, Role, Target, User};
use crate::store::with_implied_by;
use crate::Identity;

/// The target and actor a grant path names (the collection words sit
/// `from_end` and `from_end - 2` segments from the end); 404 if either is
/// unknown.
async fn resolve(
    svc: &Identity,
    uri: &Uri,
    from_end: usize,
    target_id: String,
    actor_id: String,
) -> Result<(Target, Actor), IdentityError> {
    let segs: Vec<&str> = uri.path().trim_end_matches('/').split('/').collect();
    let word = |back: usize| {
        segs.len()
            .checked_sub(back)
            .and_then(|i| segs.get(i))
            .copied()
    };
    let target = match word(from_end) {
        Some("projects") => {
            svc.store().must::<Project>(&target_id).await?;
            Target::Project(target_id)
        }
        Some("domains") => {
            svc.store().must::<Domain>(&target_id).await?;
            Target::Domain(target_id)
        }
        _ => return Err(IdentityError::not_found("resource", uri.path())),
    };
    let actor = match word(from_end - 2) {
        Some("users") => {
            svc.store().must::<User>(&actor_id).await?;
            Actor::User(actor_id)
        }
        Some("groups") => {
            svc.store().must::<Group>(&actor_id).await?;
            Actor::Group(actor_id)
        }
        _ => return Err(IdentityError::not_found("resource", uri.path())),
    };
    Ok((target, actor))
}

type GrantPath = Path<(String, String, String)>;

pub async fn grant(
    State(svc): Svc,
    headers: HeaderMap,
    uri: Uri,
    Path((tid, aid, rid)): GrantPath,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let (target, actor) = resolve(&svc, &uri, 6, tid, aid).await?;
    svc.store().must::<Role>(&rid).await?;
    let a = Assignment {
        actor,
        target,
        role_id: rid,
    };
    svc.store().assign(&a).await?;
    Ok(no_content())
}

pub async fn check(
    State(svc): Svc,
    headers: HeaderMap,
    uri: Uri,
    Path((tid, aid, rid)): GrantPath,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let (target, actor) = resolve(&svc, &uri, 6, tid, aid).await?;
    let a = Assignment {
        actor,
        target,
        role_id: rid.clone(),
    };
    if svc.store().has_assignment(&a).await? {
        Ok(no_content())
    } else {
        Err(IdentityError::not_found("role assignment", rid))
    }
}

pub async fn revoke(
    State(svc): Svc,
    headers: HeaderMap,
    uri: Uri,
    Path((tid, aid, rid)): GrantPath,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let (target, actor) = resolve(&svc, &uri, 6, tid, aid).await?;
    let a = Assignment {
        actor,
        target,
        role_id: rid,
    };
    svc.store().unassign(&a).await?;
    Ok(no_content())
}

/// The roles granted directly to the actor on the target.
pub async fn roles(
    State(svc): Svc,
    headers: HeaderMap,
    uri: Uri,
    Path((tid, aid)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    let (target, actor) = resolve(&svc, &uri, 5, tid, aid).await?;
    match &actor {
        Actor::User(u) => who.authorize(Action::ReadUser(u))?,
        Actor::Group(_) => who.authorize(Action::Read)?,
    }
    let base = &svc.settings().public_url;
    let mut items = Vec::new();
    for a in svc.store().assignments_of(&actor, Some(&target)).await? {
        if let Some(r) = svc.store().entity::<Role>(&a.role_id).await? {
            items.push(views::role(base, &r));
        }
    }
    Ok(ok(&collection(base, uri.path(), "roles", items)))
}

/// The actor of `/v3/system/{users|groups}/{id}/…`; 404 if unknown.
async fn system_actor(svc: &Identity, uri: &Uri, actor_id: String) -> Result<Actor, IdentityError> {
    if uri.path().contains("/system/groups/") {
        svc.store().must::<Group>(&actor_id).await?;
        Ok(Actor::Group(actor_id))
    } else {
        svc.store().must::<User>(&actor_id).await?;
        Ok(Actor::User(actor_id))
    }
}

/// `PUT /v3/system/{users|groups}/{id}/roles/{role}`.
pub async fn system_grant(
    State(svc): Svc,
    headers: HeaderMap,
    uri: Uri,
    Path((aid, rid)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let actor = system_actor(&svc, &uri, aid).await?;
    svc.store().must::<Role>(&rid).await?;
    let a = Assignment {
        actor,
        target: Target::System,
        role_id: rid,
    };
    svc.store().assign(&a).await?;
    Ok(no_content())
}

/// `GET`/`HEAD /v3/system/{users|groups}/{id}/roles/{role}`.
pub async fn system_check(
    State(svc): Svc,
    headers: HeaderMap,
    uri: Uri,
    Path((aid, rid)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers).await?.authorize(Action::Read)?;
    let a = Assignment {
        actor: system_actor(&svc, &uri, aid).await?,
        target: Target::System,
        role_id: rid.clone(),
    };
    if svc.store().has_assignment(&a).await? {
        Ok(no_content())
    } else {
        Err(IdentityError::not_found("role assignment", rid))
    }
}

/// `DELETE /v3/system/{users|groups}/{id}/roles/{role}`.
pub async fn system_revoke(
    State(svc): Svc,
    headers: HeaderMap,
    uri: Uri,
    Path((aid, rid)): Path<(String, String)>,
) -> Result<Response, IdentityError> {
    caller(&svc, &headers)
        .await?
        .authorize(Action::Administer)?;
    let a = Assignment {
        actor: system_actor(&svc, &uri, aid).await?,
        target: Target::System,
        role_id: rid,
    };
    svc.store().unassign(&a).await?;
    Ok(no_content())
}

/// `GET /v3/system/{users|groups}/{id}/roles`: the actor's system roles.
pub async fn system_roles(
    State(svc): Svc,
    headers: HeaderMap,
    uri: Uri,
    Path(aid): Path<String>,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    let actor = system_actor(&svc, &uri, aid).await?;
    match &actor {
        Actor::User(u) => who.authorize(Action::ReadUser(u))?,
        Actor::Group(_) => who.authorize(Action::Read)?,
    }
    let base = &svc.settings().public_url;
    let mut items = Vec::new();
    for a in svc
        .store()
        .assignments_of(&actor, Some(&Target::System))
        .await?
    {
        if let Some(r) = svc.store().entity::<Role>(&a.role_id).await? {
            items.push(views::role(base, &r));
        }
    }
    Ok(ok(&collection(base, uri.path(), "roles", items)))
}

/// Group assignments become one per member, and implied roles are added.
async fn effective(svc: &Identity, all: Vec<Assignment>) -> Result<Vec<Assignment>, IdentityError> {
    let roles = svc.store().list::<Role>().await?;
    let rules = svc.store().implied_roles().await?;
    let mut out = Vec::new();
    for a in all {
        let users = match &a.actor {
            Actor::User(u) => vec![u.clone()],
            Actor::Group(g) => svc.store().members(g).await?,
        };
        let direct: Vec<Role> = roles
            .iter()
            .filter(|r| r.id == a.role_id)
            .cloned()
            .collect();
        for r in with_implied_by(direct, &roles, &rules) {
            for u in &users {
                out.push(Assignment {
                    actor: Actor::User(u.clone()),
                    target: a.target.clone(),
                    role_id: r.id.clone(),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn keeps(q: &Query, a: &Assignment) -> bool {
    let actor_ok = match &a.actor {
        Actor::User(u) => q.get("group.id").is_none() && q.get("user.id").is_none_or(|x| x == u),
        Actor::Group(g) => q.get("user.id").is_none() && q.get("group.id").is_none_or(|x| x == g),
    };
    let target_ok = match &a.target {
        Target::Project(p) => {
            q.get("scope.domain.id").is_none() && q.get("scope.project.id").is_none_or(|x| x == p)
        }
        Target::Domain(d) => {
            q.get("scope.project.id").is_none()
                && q.get("scope.system").is_none()
                && q.get("scope.domain.id").is_none_or(|x| x == d)
        }
        Target::System => q.get("scope.project.id").is_none() && q.get("scope.domain.id").is_none(),
    };
    let target_ok =
        target_ok && (q.get("scope.system").is_none() || matches!(a.target, Target::System));
    actor_ok && target_ok && q.get("role.id").is_none_or(|x| x == a.role_id)
}

pub async fn list(
    State(svc): Svc,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, IdentityError> {
    let who = caller(&svc, &headers).await?;
    let q = Query::parse(raw.as_deref());
    match q.get("user.id") {
        Some(u) => who.authorize(Action::ReadUser(u))?,
        None => who.authorize(Action::Read)?,
    }
    let mut all = svc.store().all_assignments().await?;
    if q.flag("effective") {
        if q.get("group.id").is_some() {
            return Err(IdentityError::bad_request(
                "effective and group.id cannot be combined.",
            ));
        }
        all = effective(&svc, all).await?;
    }
    let names = q.flag("include_names");
    let base = &svc.settings().public_url;
    let mut items = Vec::new();
    for a in all.iter().filter(|a| keeps(&q, a)) {
        items.push(render(&svc, base, a, names).await?);
    }
    let path = match &raw {
        Some(r) => format!("/v3/role_assignments?{r}"),
        None => "/v3/role_assignments".to_string(),
    };
    Ok(ok(&collection(base, &path, "role_assignments", items)))
}

/// `{id, name, domain: {id, name}}` of a record in a domain, or just the
/// id when names are not asked for or the record is gone.
async fn with_domain(
    svc: &Identity,
    id: &str,
    found: Option<(String, String)>,
    names: bool,
) -> Result<Value, IdentityError> {
    let (Some((name, domain_id)), true) = (found, names) else {
        return Ok(json!({ "id": id }));
    };
    let domain_name = svc
        .store()
        .entity::<Domain>(&domain_id)
        .await?
        .map(|d| d.name)
        .unwrap_or_default();
    Ok(json!({"id": id, "name": name, "domain": {"id": domain_id, "name": domain_name}}))
}

async fn render(
    svc: &Identity,
    base: &str,
    a: &Assignment,
    names: bool,
) -> Result<Value, IdentityError> {
    let s = svc.store();
    let mut role = json!({ "id": a.role_id });
    if names {
        if let Some(r) = s.entity::<Role>(&a.role_id).await? {
            role["name"] = json!(r.name);
        }
    }
    let (actor_key, actor_val, actor_path) = match &a.actor {
        Actor::User(u) => {
            let found = s.entity::<User>(u).await?.map(|x| (x.name, x.domain_id));
            (
                "user",
                with_domain(svc, u, found, names).await?,
                format!("users/{u}"),
            )
        }
        Actor::Group(g) => {
            let found = s.entity::<Group>(g).await?.map(|x| (x.name, x.domain_id));
            (
                "group",
                with_domain(svc, g, found, names).await?,
                format!("groups/{g}"),
            )
        }
    };
    let (scope, target_path) = match &a.target {
        Target::Project(p) => {
            let found = s.entity::<Project>(p).await?.map(|x| (x.name, x.domain_id));
            let v = with_domain(svc, p, found, names).await?;
            (json!({ "project": v }), format!("projects/{p}"))
        }
        Target::Domain(d) => {
            let mut v = json!({ "id": d });
            if names {
                if let Some(x) = s.entity::<Domain>(d).await? {
                    v["name"] = json!(x.name);
                }
            }
            (json!({ "domain": v }), format!("domains/{d}"))
        }
        Target::System => (json!({ "system": { "all": true } }), "system".to_string()),
    };
    let link = format!("{base}/v3/{target_path}/{actor_path}/roles/{}", a.role_id);
    Ok(json!({"role": role, actor_key: actor_val, "scope": scope,
              "links": {"assignment": link}}))
}
