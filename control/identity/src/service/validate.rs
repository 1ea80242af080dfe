//! Token validation: open the seal, then check the payload against the
//! records as they are now (user enabled and not deleted, password
//! unchanged, project and domain enabled, roles still held, application
//! credential not deleted or expired, not revoked). No password hashing:
//! a validation costs one decryption and a few record reads.

use cairn_base::Timestamp;

use super::Identity;
use crate::error::IdentityError;
use crate::policy::Caller;
use crate::store::model::{AppCredential, Domain, Project, Role, Target, User};
use crate::token::{TokenPayload, TokenScope};

/// A valid token's payload and the records it names.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub payload: TokenPayload,
    pub user: User,
    pub user_domain: Domain,
    /// With its domain, for a project-scoped token.
    pub project: Option<(Project, Domain)>,
    /// For a domain-scoped token.
    pub domain: Option<Domain>,
    /// Effective roles on the scope (empty when unscoped), sorted by name.
    pub roles: Vec<Role>,
    pub app_cred: Option<AppCredential>,
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub info: TokenInfo,
}

impl TokenInfo {
    /// The principal other APIs authorize with.
    pub fn caller(&self) -> Caller {
        Caller {
            user_id: self.user.id.clone(),
            user_name: self.user.name.clone(),
            user_domain_id: self.user.domain_id.clone(),
            project_id: self.project.as_ref().map(|(p, _)| p.id.clone()),
            domain_id: self.domain.as_ref().map(|d| d.id.clone()),
            roles: self.roles.iter().map(|r| r.name.clone()).collect(),
            app_cred_id: self.app_cred.as_ref().map(|a| a.id.clone()),
            app_cred_restricted: self.app_cred.as_ref().is_some_and(|a| !a.unrestricted),
            expires_at: Some(Timestamp::from_micros(self.payload.expires_at_micros)),
        }
    }
}

fn invalid(reason: &str) -> IdentityError {
    IdentityError::unauthorized(reason)
}

impl Identity {
    /// The caller a token speaks for, or 401: the entry point of every API
    /// that takes `X-Auth-Token`.
    pub async fn validate(&self, token: &str) -> Result<Caller, IdentityError> {
        Ok(self.validate_token(token).await?.caller())
    }

    /// The token's payload and records, if it is genuine, unexpired,
    /// unrevoked and everything it names still allows it.
    pub async fn validate_token(&self, token: &str) -> Result<TokenInfo, IdentityError> {
        let payload = self
            .tokens
            .open(token)
            .map_err(|e| invalid(&e.to_string()))?;
        if self.store.is_revoked(&payload.audit_ids).await? {
            return Err(invalid("token revoked"));
        }
        self.check_payload(payload).await
    }

    /// Revokes `token` (and the tokens rescoped from it): it fails
    /// validation from now until it would have expired.
    pub async fn revoke(&self, info: &TokenInfo) -> Result<(), IdentityError> {
        let audit = info
            .payload
            .audit_ids
            .first()
            .ok_or_else(|| invalid("token without audit id"))?;
        self.store
            .revoke(audit, info.payload.expires_at_micros)
            .await
    }

    /// Forgets the revocations of tokens that have expired anyway.
    pub async fn purge_revocations(&self) -> Result<usize, IdentityError> {
        self.store.purge_revocations(self.now().micros()).await
    }

    /// Checks `payload` against the clock and the records.
    pub(crate) async fn check_payload(
        &self,
        payload: TokenPayload,
    ) -> Result<TokenInfo, IdentityError> {
        if self.now().micros() >= payload.expires_at_micros {
            return Err(invalid("token expired"));
        }
        let user = self
            .store
            .entity::<User>(&payload.user_id)
            .await?
            .filter(|u| u.enabled)
            .ok_or_else(|| invalid("user disabled or deleted"))?;
        if user.password_revision != payload.password_revision {
            return Err(invalid("password changed since the token was issued"));
        }
        let user_domain = self.enabled_domain(&user.domain_id).await?;
        let app_cred = match &payload.app_cred_id {
            Some(id) => Some(self.live_app_cred(id, &user.id).await?),
            None => None,
        };
        let mut info = TokenInfo {
            payload,
            user,
            user_domain,
            project: None,
            domain: None,
            roles: Vec::new(),
            app_cred,
        };
        self.fill_scope(&mut info).await?;
        Ok(info)
    }

    async fn enabled_domain(&self, id: &str) -> Result<Domain, IdentityError> {
        self.store
            .entity::<Domain>(id)
            .await?
            .filter(|d| d.enabled)
            .ok_or_else(|| invalid("domain disabled or deleted"))
    }

    async fn live_app_cred(&self, id: &str, user_id: &str) -> Result<AppCredential, IdentityError> {
        let now = self.now().micros();
        self.store
            .entity::<AppCredential>(id)
            .await?
            .filter(|a| a.user_id == user_id && a.expires_at_micros.is_none_or(|e| now < e))
            .ok_or_else(|| invalid("application credential deleted or expired"))
    }

    /// Loads the scope's records and the roles held there; a scoped token
    /// without roles is invalid.
    async fn fill_scope(&self, info: &mut TokenInfo) -> Result<(), IdentityError> {
        let target = match &info.payload.scope {
            TokenScope::Unscoped => return Ok(()),
            TokenScope::Project(pid) => {
                let p = self
                    .store
                    .entity::<Project>(pid)
                    .await?
                    .filter(|p| p.enabled)
                    .ok_or_else(|| invalid("project disabled or deleted"))?;
                let d = self.enabled_domain(&p.domain_id).await?;
                info.project = Some((p, d));
                Target::Project(pid.clone())
            }
            TokenScope::Domain(did) => {
                info.domain = Some(self.enabled_domain(did).await?);
                Target::Domain(did.clone())
            }
            TokenScope::System => Target::System,
        };
        let mut roles = self.store.effective_roles(&info.user.id, &target).await?;
        if let Some(cred) = &info.app_cred {
            roles.retain(|r| cred.role_ids.contains(&r.id));
        }
        if roles.is_empty() {
            return Err(invalid("no role on the scope"));
        }
        info.roles = roles;
        Ok(())
    }
}
