//! [`Identity`]: the identity service's core, between the HTTP API and the
//! store: authentication, token issue and validation, password and secret
//! hashing, credential lookups and bootstrap.

mod auth;
mod bootstrap;
mod credentials;
mod users;
mod validate;

pub use auth::{
    AppCredMethod, Auth, AuthBody, AuthIdentity, NameOrId, PasswordMethod, ProjectRef, ScopeObject,
    ScopeRequest, TokenMethod, UserRef,
};
pub use bootstrap::{BootstrapIds, BootstrapSpec};
pub use credentials::{Ec2Grant, NewAppCredential};
pub use users::NewUser;
pub use validate::{Issued, TokenInfo};

use cairn_base::{Clock, Timestamp};
use cairn_meta_api::records::Records;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::config::{ConfigError, IdentityConfig, Settings};
use crate::password::PasswordHasher;
use crate::store::Store;
use crate::token::TokenCodec;

/// The identity service. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct Identity {
    store: Store,
    settings: Settings,
    tokens: TokenCodec,
    hasher: PasswordHasher,
    catalog: Catalog,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The service over `records`, sealing tokens with keys derived from
    /// `token_secrets` (each 32 bytes or more; the first seals, all open).
    pub fn new(
        records: Arc<dyn Records>,
        config: IdentityConfig,
        token_secrets: &[Vec<u8>],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let settings = Settings::from_config(config)?;
        let hasher = PasswordHasher::new(settings.password_hash)?;
        let tokens = TokenCodec::new(token_secrets)?;
        let catalog = Catalog::new(settings.catalog.clone(), settings.region.clone());
        Ok(Identity {
            store: Store::new(records),
            settings,
            tokens,
            hasher,
            catalog,
            clock,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
