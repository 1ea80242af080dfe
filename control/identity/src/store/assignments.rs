//! Role assignments (a user or group holds a role on a project or domain)
//! and the roles they add up to: direct ones, those through groups, the
//! implied chain of the built-in roles (admin ⇒ member ⇒ reader) and the
//! operator's inference rules (`PUT /v3/roles/{prior}/implies/{implied}`).

use cairn_meta_api::records::{Op, Txn};
use std::collections::BTreeSet;

use super::model::{Actor, Assignment, ImpliedRole, Role, Target};
use super::{encode, rkey, Store, ASSIGNMENTS, IMPLIED_ROLES};
use crate::error::IdentityError;

/// The roles each built-in role implies, directly.
const IMPLIED: &[(&str, &str)] = &[("admin", "member"), ("member", "reader")];

fn actor_prefix(actor: &Actor) -> String {
    match actor {
        Actor::User(id) => format!("u/{id}/"),
        Actor::Group(id) => format!("g/{id}/"),
    }
}

fn target_part(target: &Target) -> String {
    match target {
        Target::Project(id) => format!("p/{id}/"),
        Target::Domain(id) => format!("d/{id}/"),
        Target::System => "s/all/".to_string(),
    }
}

/// `u|g/<actor id>/p|d/<target id>/<role id>`, or `u|g/<actor id>/s/all/<role id>`.
pub fn assignment_key(a: &Assignment) -> String {
    format!(
        "{}{}{}",
        actor_prefix(&a.actor),
        target_part(&a.target),
        a.role_id
    )
}

/// `roles` with the roles they imply added (by name, among `all`), sorted
/// by name, each once.
pub fn with_implied(roles: Vec<Role>, all: &[Role]) -> Vec<Role> {
    with_implied_by(roles, all, &[])
}

/// [`with_implied`] with the operator's inference `rules` too (by id),
/// followed transitively; a cycle ends where it began.
pub fn with_implied_by(roles: Vec<Role>, all: &[Role], rules: &[ImpliedRole]) -> Vec<Role> {
    let name_of = |id: &str| all.iter().find(|r| r.id == id).map(|r| r.name.as_str());
    let mut ids: BTreeSet<String> = roles.iter().map(|r| r.id.clone()).collect();
    let mut frontier: Vec<String> = ids.iter().cloned().collect();
    let mut names: BTreeSet<String> = roles.iter().map(|r| r.name.clone()).collect();
    while let Some(id) = frontier.pop() {
        let mut next: Vec<String> = rules
            .iter()
            .filter(|rule| rule.prior_id == id)
            .map(|rule| rule.implied_id.clone())
            .collect();
        let name = roles
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.name.as_str())
            .or_else(|| name_of(&id));
        for (_, implied) in IMPLIED.iter().filter(|(prior, _)| Some(*prior) == name) {
            names.insert(implied.to_string());
            next.extend(
                all.iter()
                    .filter(|r| r.name == *implied)
                    .map(|r| r.id.clone()),
            );
        }
        for n in next {
            if ids.insert(n.clone()) {
                frontier.push(n);
            }
        }
    }
    let mut out: Vec<Role> = roles;
    for r in all {
        let wanted = ids.contains(&r.id) || names.contains(&r.name);
        if wanted && !out.iter().any(|o| o.id == r.id) {
            out.push(r.clone());
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `<prior id>/<implied id>`.
fn rule_key(rule: &ImpliedRole) -> String {
    format!("{}/{}", rule.prior_id, rule.implied_id)
}

impl Store {
    /// Grants the assignment (granting it again changes nothing).
    pub async fn assign(&self, a: &Assignment) -> Result<(), IdentityError> {
        let txn = Txn::new().put(rkey(ASSIGNMENTS, &assignment_key(a)), encode(a));
        self.commit(txn).await?;
        Ok(())
    }

    /// Revokes the assignment; 404 if it was not granted.
    pub async fn unassign(&self, a: &Assignment) -> Result<(), IdentityError> {
        if !self.has_assignment(a).await? {
            return Err(IdentityError::not_found("role assignment", &a.role_id));
        }
        let txn = Txn::new().delete(rkey(ASSIGNMENTS, &assignment_key(a)));
        self.commit(txn).await?;
        Ok(())
    }

    pub async fn has_assignment(&self, a: &Assignment) -> Result<bool, IdentityError> {
        Ok(self
            .get::<Assignment>(ASSIGNMENTS, &assignment_key(a))
            .await?
            .is_some())
    }

    /// The actor's assignments, on `target` only if given.
    pub async fn assignments_of(
        &self,
        actor: &Actor,
        target: Option<&Target>,
    ) -> Result<Vec<Assignment>, IdentityError> {
        let mut prefix = actor_prefix(actor);
        if let Some(t) = target {
            prefix.push_str(&target_part(t));
        }
        Ok(self
            .scan::<Assignment>(ASSIGNMENTS, &prefix)
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect())
    }

    pub async fn all_assignments(&self) -> Result<Vec<Assignment>, IdentityError> {
        Ok(self
            .scan::<Assignment>(ASSIGNMENTS, "")
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect())
    }

    /// The assignments a user holds on `target` directly or through its
    /// groups (not yet expanded by implication).
    pub async fn user_assignments_on(
        &self,
        user_id: &str,
        target: Option<&Target>,
    ) -> Result<Vec<Assignment>, IdentityError> {
        let mut out = self
            .assignments_of(&Actor::User(user_id.into()), target)
            .await?;
        for g in self.groups_of(user_id).await? {
            out.extend(self.assignments_of(&Actor::Group(g), target).await?);
        }
        Ok(out)
    }

    /// The roles the user holds on `target`: direct, through groups, and
    /// implied; sorted by name.
    pub async fn effective_roles(
        &self,
        user_id: &str,
        target: &Target,
    ) -> Result<Vec<Role>, IdentityError> {
        let ids: BTreeSet<String> = self
            .user_assignments_on(user_id, Some(target))
            .await?
            .into_iter()
            .map(|a| a.role_id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let all = self.list::<Role>().await?;
        let direct = all
            .iter()
            .filter(|r| ids.contains(&r.id))
            .cloned()
            .collect();
        Ok(with_implied_by(direct, &all, &self.implied_roles().await?))
    }

    /// Stores the inference rule (storing it again changes nothing).
    pub async fn imply(&self, rule: &ImpliedRole) -> Result<(), IdentityError> {
        let txn = Txn::new().put(rkey(IMPLIED_ROLES, &rule_key(rule)), encode(rule));
        self.commit(txn).await?;
        Ok(())
    }

    /// Removes the inference rule; 404 if there is none.
    pub async fn unimply(&self, rule: &ImpliedRole) -> Result<(), IdentityError> {
        if !self.implied_roles().await?.contains(rule) {
            return Err(IdentityError::not_found("implied role", &rule.implied_id));
        }
        let txn = Txn::new().delete(rkey(IMPLIED_ROLES, &rule_key(rule)));
        self.commit(txn).await?;
        Ok(())
    }

    /// Every inference rule the operator stored.
    pub async fn implied_roles(&self) -> Result<Vec<ImpliedRole>, IdentityError> {
        Ok(self
            .scan::<ImpliedRole>(IMPLIED_ROLES, "")
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Deletes of every inference rule that names `role_id`, for a cascade.
    pub async fn implied_role_deletes(&self, role_id: &str) -> Result<Vec<Op>, IdentityError> {
        Ok(self
            .implied_roles()
            .await?
            .iter()
            .filter(|r| r.prior_id == role_id || r.implied_id == role_id)
            .map(|r| Op::Delete(rkey(IMPLIED_ROLES, &rule_key(r))))
            .collect())
    }

    /// Deletes of every assignment `keep` selects, for a cascade.
    pub async fn assignment_deletes(
        &self,
        keep: impl Fn(&Assignment) -> bool,
    ) -> Result<Vec<Op>, IdentityError> {
        Ok(self
            .all_assignments()
            .await?
            .iter()
            .filter(|a| keep(a))
            .map(|a| Op::Delete(rkey(ASSIGNMENTS, &assignment_key(a))))
            .collect())
    }
}
