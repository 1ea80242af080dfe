//! First start: the default domain, the built-in roles, and the `admin`
//! and `demo` projects and users. Idempotent: what exists is left as it is
//! (passwords included), so a restart changes nothing.

use super::{Identity, NewUser};
use crate::error::IdentityError;
use crate::ids::new_id;
use crate::store::model::{
    Actor, Assignment, Domain, Project, Role, Target, User, DEFAULT_DOMAIN_ID,
};
use crate::store::{scoped, Entity};

/// The passwords of the bootstrap users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapSpec {
    pub admin_password: String,
    pub demo_password: String,
}

/// The ids bootstrap created or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapIds {
    pub domain_id: String,
    pub admin_role_id: String,
    pub member_role_id: String,
    pub reader_role_id: String,
    pub admin_project_id: String,
    pub admin_user_id: String,
    pub demo_project_id: String,
    pub demo_user_id: String,
}

impl Identity {
    /// Creates what is missing of the default domain, roles admin, member
    /// and reader, project and user `admin` (role admin) and project and
    /// user `demo` (role member).
    pub async fn bootstrap(&self, spec: &BootstrapSpec) -> Result<BootstrapIds, IdentityError> {
        let domain = Domain {
            id: DEFAULT_DOMAIN_ID.into(),
            name: "Default".into(),
            description: "The default domain".into(),
            enabled: true,
        };
        let domain_id = self.ensure(domain).await?.id;
        let mut role_ids = Vec::new();
        for name in ["admin", "member", "reader"] {
            let role = Role {
                id: new_id(),
                name: name.into(),
                description: String::new(),
            };
            role_ids.push(self.ensure(role).await?.id);
        }
        let admin = self
            .ensure_member("admin", &spec.admin_password, &role_ids[0])
            .await?;
        let demo = self
            .ensure_member("demo", &spec.demo_password, &role_ids[1])
            .await?;
        Ok(BootstrapIds {
            domain_id,
            admin_role_id: role_ids[0].clone(),
            member_role_id: role_ids[1].clone(),
            reader_role_id: role_ids[2].clone(),
            admin_project_id: admin.0,
            admin_user_id: admin.1,
            demo_project_id: demo.0,
            demo_user_id: demo.1,
        })
    }

    /// The record with `e`'s name, created from `e` if there is none.
    async fn ensure<E: Entity>(&self, e: E) -> Result<E, IdentityError> {
        if let Some(found) = self.store.by_name::<E>(&e.name_key()).await? {
            return Ok(found);
        }
        match self.store.create(&e).await {
            Ok(()) => Ok(e),
            // Another node bootstrapping at the same time won the name.
            Err(IdentityError::Conflict { .. }) => self
                .store
                .by_name::<E>(&e.name_key())
                .await?
                .ok_or_else(|| IdentityError::Internal(format!("{} vanished", E::KIND))),
            Err(err) => Err(err),
        }
    }

    /// Project `name` and user `name` with `role_id` on it: their ids.
    async fn ensure_member(
        &self,
        name: &str,
        password: &str,
        role_id: &str,
    ) -> Result<(String, String), IdentityError> {
        let project = self
            .ensure(Project {
                id: new_id(),
                name: name.into(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                description: format!("Bootstrap project {name}"),
                enabled: true,
                tags: Vec::new(),
            })
            .await?;
        let key = scoped(DEFAULT_DOMAIN_ID, name);
        let user = match self.store.by_name::<User>(&key).await? {
            Some(u) => u,
            None => {
                self.create_user(NewUser {
                    name: name.into(),
                    domain_id: DEFAULT_DOMAIN_ID.into(),
                    password: Some(password.into()),
                    enabled: true,
                    description: String::new(),
                    email: None,
                    default_project_id: Some(project.id.clone()),
                    extra: Default::default(),
                })
                .await?
            }
        };
        let grant = Assignment {
            actor: Actor::User(user.id.clone()),
            target: Target::Project(project.id.clone()),
            role_id: role_id.into(),
        };
        if !self.store.has_assignment(&grant).await? {
            self.store.assign(&grant).await?;
        }
        Ok((project.id, user.id))
    }
}
