//! Application credentials (a user's delegated secret on one project) and
//! EC2 credentials (an access/secret pair the S3 API signs with), created
//! here and looked up by the S3 API through [`Identity::ec2_credential`].

use std::collections::BTreeSet;

use super::{Identity, NameOrId};
use crate::error::IdentityError;
use crate::ids::{new_id, secret};
use crate::policy::Caller;
use crate::store::check_name;
use crate::store::model::{AppCredential, Domain, Ec2Credential, Project, Role, Target, User};
use crate::store::with_implied;

/// An application credential to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppCredential {
    pub name: String,
    pub description: String,
    /// Generated when absent.
    pub secret: Option<String>,
    /// Microseconds since the epoch (kept to the microsecond, as sent).
    pub expires_at_micros: Option<u64>,
    /// A subset of the caller's roles on its project; all of them if absent.
    pub roles: Option<Vec<NameOrId>>,
    pub unrestricted: bool,
}

/// What the S3 API needs for an access key: the secret to check the
/// signature with, and whom the request then runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Grant {
    pub secret: String,
    pub caller: Caller,
}

fn role_matches(r: &Role, want: &NameOrId) -> bool {
    want.id.as_deref() == Some(r.id.as_str()) || want.name.as_deref() == Some(r.name.as_str())
}

impl Identity {
    /// Creates an application credential for the caller itself on the
    /// project of its token; returns it, its secret (shown once) and its
    /// roles.
    pub async fn create_app_credential(
        &self,
        caller: &Caller,
        user_id: &str,
        new: NewAppCredential,
    ) -> Result<(AppCredential, String, Vec<Role>), IdentityError> {
        if caller.user_id != user_id || caller.app_cred_restricted {
            return Err(IdentityError::forbidden());
        }
        check_name("application credential", &new.name)?;
        let project_id = caller.project_id.clone().ok_or_else(|| {
            IdentityError::Forbidden("Application credentials need a project-scoped token.".into())
        })?;
        if new
            .expires_at_micros
            .is_some_and(|e| e <= self.now().micros())
        {
            return Err(IdentityError::bad_request("expires_at is in the past."));
        }
        let roles = self
            .app_cred_roles(user_id, &project_id, new.roles.as_deref())
            .await?;
        let secret = new.secret.unwrap_or_else(secret);
        let cred = AppCredential {
            id: new_id(),
            name: new.name,
            user_id: user_id.into(),
            project_id,
            description: new.description,
            secret_hash: self.hasher.hash(&secret).await?,
            role_ids: roles.iter().map(|r| r.id.clone()).collect(),
            expires_at_micros: new.expires_at_micros,
            unrestricted: new.unrestricted,
        };
        self.store.create(&cred).await?;
        Ok((cred, secret, roles))
    }

    /// The requested roles (with what they imply), each one the user
    /// holds on the project; all its roles when none are requested (the
    /// CLI sends an empty list then, as Keystone accepts).
    async fn app_cred_roles(
        &self,
        user_id: &str,
        project_id: &str,
        wanted: Option<&[NameOrId]>,
    ) -> Result<Vec<Role>, IdentityError> {
        let held = self
            .store
            .effective_roles(user_id, &Target::Project(project_id.into()))
            .await?;
        let Some(wanted) = wanted.filter(|w| !w.is_empty()) else {
            return Ok(held);
        };
        let mut picked = Vec::new();
        for w in wanted {
            let r = held.iter().find(|r| role_matches(r, w)).ok_or_else(|| {
                IdentityError::Forbidden("A requested role is not one the user holds.".into())
            })?;
            picked.push(r.clone());
        }
        let ids: BTreeSet<String> = with_implied(picked, &held)
            .into_iter()
            .map(|r| r.id)
            .collect();
        Ok(held.into_iter().filter(|r| ids.contains(&r.id)).collect())
    }

    /// Creates an EC2 credential for the user on a project it has a role on.
    pub async fn create_ec2_credential(
        &self,
        user_id: &str,
        project_id: &str,
    ) -> Result<Ec2Credential, IdentityError> {
        self.store.must::<User>(user_id).await?;
        self.store.must::<Project>(project_id).await?;
        let roles = self
            .store
            .effective_roles(user_id, &Target::Project(project_id.into()))
            .await?;
        if roles.is_empty() {
            return Err(IdentityError::Forbidden(
                "The user has no role on the project.".into(),
            ));
        }
        let cred = Ec2Credential {
            access: new_id(),
            secret: new_id(),
            user_id: user_id.into(),
            project_id: project_id.into(),
        };
        self.store.create_ec2(&cred).await?;
        Ok(cred)
    }

    /// The secret and principal of an EC2 access key, if the key exists
    /// and its user, project and domains are enabled and the user still
    /// holds a role on the project.
    pub async fn ec2_credential(&self, access: &str) -> Result<Option<Ec2Grant>, IdentityError> {
        let Some(cred) = self.store.ec2(access).await? else {
            return Ok(None);
        };
        let Some(user) = self.store.entity::<User>(&cred.user_id).await? else {
            return Ok(None);
        };
        let Some(project) = self.store.entity::<Project>(&cred.project_id).await? else {
            return Ok(None);
        };
        if !user.enabled || !project.enabled {
            return Ok(None);
        }
        for d in [&user.domain_id, &project.domain_id] {
            if !self
                .store
                .entity::<Domain>(d)
                .await?
                .is_some_and(|d| d.enabled)
            {
                return Ok(None);
            }
        }
        let target = Target::Project(project.id.clone());
        let roles = self.store.effective_roles(&user.id, &target).await?;
        if roles.is_empty() {
            return Ok(None);
        }
        let caller = Caller {
            user_id: user.id,
            user_name: user.name,
            user_domain_id: user.domain_id,
            project_id: Some(project.id),
            domain_id: None,
            roles: roles.into_iter().map(|r| r.name).collect(),
            app_cred_id: None,
            app_cred_restricted: false,
            expires_at: None,
        };
        Ok(Some(Ec2Grant {
            secret: cred.secret,
            caller,
        }))
    }
}
