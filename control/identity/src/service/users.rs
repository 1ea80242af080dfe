//! Users with passwords: creation (the password hashed), an admin setting
//! a password, and a user changing its own. Every password change moves
//! the user's password revision on, which voids its tokens.

use super::Identity;
use crate::error::IdentityError;
use crate::ids::new_id;
use crate::store::check_name;
use crate::store::model::{Domain, Project, User};
use std::collections::BTreeMap;

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub domain_id: String,
    pub password: Option<String>,
    pub enabled: bool,
    pub description: String,
    pub email: Option<String>,
    pub default_project_id: Option<String>,
    /// Attributes Keystone does not define, kept as given.
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Identity {
    /// Creates the user (404 for an unknown domain or default project,
    /// 409 if the name is taken in the domain).
    pub async fn create_user(&self, new: NewUser) -> Result<User, IdentityError> {
        check_name("user", &new.name)?;
        self.store.must::<Domain>(&new.domain_id).await?;
        if let Some(pid) = &new.default_project_id {
            self.store.must::<Project>(pid).await?;
        }
        let password_hash = match &new.password {
            Some(p) => Some(self.hasher.hash(p).await?),
            None => None,
        };
        let user = User {
            id: new_id(),
            name: new.name,
            domain_id: new.domain_id,
            enabled: new.enabled,
            description: new.description,
            email: new.email,
            password_hash,
            password_revision: 0,
            default_project_id: new.default_project_id,
            extra: new.extra,
        };
        self.store.create(&user).await?;
        Ok(user)
    }

    /// Sets the user's password (an admin's `PATCH`), voiding its tokens.
    pub async fn set_password(&self, user_id: &str, password: &str) -> Result<User, IdentityError> {
        let hash = self.hasher.hash(password).await?;
        self.store
            .update::<User>(user_id, |u| {
                u.password_hash = Some(hash);
                u.password_revision += 1;
                Ok(())
            })
            .await
    }

    /// The user's own change: `original` must be its current password
    /// (401 otherwise).
    pub async fn change_password(
        &self,
        user_id: &str,
        original: &str,
        password: &str,
    ) -> Result<User, IdentityError> {
        let user = self.store.must::<User>(user_id).await?;
        if !self
            .hasher
            .verify(original, user.password_hash.as_deref())
            .await
        {
            return Err(IdentityError::unauthorized("wrong original password"));
        }
        self.set_password(user_id, password).await
    }
}
