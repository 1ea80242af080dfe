//! The named records (domains, projects, users, groups, roles, application
//! credentials) share one life cycle: a record by id plus a unique name
//! index, created, renamed and deleted together in one transaction.

use cairn_meta_api::records::{Check, Op, Txn};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::model::{AppCredential, Domain, Endpoint, Group, Project, Region, Role, Service, User};
use super::{conflict, encode, rkey, Store, Versioned};
use super::{
    APP_CREDS, APP_CRED_NAMES, DOMAINS, DOMAIN_NAMES, ENDPOINTS, ENDPOINT_IDS, GROUPS, GROUP_NAMES,
    PROJECTS, PROJECT_NAMES, REGIONS, REGION_IDS, ROLES, ROLE_NAMES, SERVICES, SERVICE_IDS, USERS,
    USER_NAMES,
};
use crate::error::IdentityError;

/// A record with an id and a name unique within its scope.
pub trait Entity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The noun of Keystone's messages: "project".
    const KIND: &'static str;
    const TABLE: &'static str;
    const NAMES: &'static str;
    fn id(&self) -> &str;
    /// The key of this record's name in `NAMES`.
    fn name_key(&self) -> String;
}

/// `<scope>/<name>`: the name index key of a scoped name.
pub fn scoped(scope: &str, name: &str) -> String {
    format!("{scope}/{name}")
}

/// The catalog's records have no unique name: their "name" index is the
/// id, which makes a second create of an id (`PUT /v3/regions/{id}`) a 409.
macro_rules! id_keyed_entity {
    ($t:ty, $kind:literal, $table:ident, $names:ident) => {
        impl Entity for $t {
            const KIND: &'static str = $kind;
            const TABLE: &'static str = $table;
            const NAMES: &'static str = $names;
            fn id(&self) -> &str {
                &self.id
            }
            fn name_key(&self) -> String {
                self.id.clone()
            }
        }
    };
}

id_keyed_entity!(Region, "region", REGIONS, REGION_IDS);
id_keyed_entity!(Service, "service", SERVICES, SERVICE_IDS);
id_keyed_entity!(Endpoint, "endpoint", ENDPOINTS, ENDPOINT_IDS);

impl Entity for Domain {
    const KIND: &'static str = "domain";
    const TABLE: &'static str = DOMAINS;
    const NAMES: &'static str = DOMAIN_NAMES;
    fn id(&self) -> &str {
        &self.id
    }
    /// Domain names are unique regardless of case, so `default` finds `Default`.
    fn name_key(&self) -> String {
        self.name.to_lowercase()
    }
}

impl Entity for Project {
    const KIND: &'static str = "project";
    const TABLE: &'static str = PROJECTS;
    const NAMES: &'static str = PROJECT_NAMES;
    fn id(&self) -> &str {
        &self.id
    }
    fn name_key(&self) -> String {
        scoped(&self.domain_id, &self.name)
    }
}

impl Entity for User {
    const KIND: &'static str = "user";
    const TABLE: &'static str = USERS;
    const NAMES: &'static str = USER_NAMES;
    fn id(&self) -> &str {
        &self.id
    }
    fn name_key(&self) -> String {
        scoped(&self.domain_id, &self.name)
    }
}

impl Entity for Group {
    const KIND: &'static str = "group";
    const TABLE: &'static str = GROUPS;
    const NAMES: &'static str = GROUP_NAMES;
    fn id(&self) -> &str {
        &self.id
    }
    fn name_key(&self) -> String {
        scoped(&self.domain_id, &self.name)
    }
}

impl Entity for Role {
    const KIND: &'static str = "role";
    const TABLE: &'static str = ROLES;
    const NAMES: &'static str = ROLE_NAMES;
    fn id(&self) -> &str {
        &self.id
    }
    fn name_key(&self) -> String {
        self.name.clone()
    }
}

impl Entity for AppCredential {
    const KIND: &'static str = "application credential";
    const TABLE: &'static str = APP_CREDS;
    const NAMES: &'static str = APP_CRED_NAMES;
    fn id(&self) -> &str {
        &self.id
    }
    fn name_key(&self) -> String {
        scoped(&self.user_id, &self.name)
    }
}

impl Store {
    /// The record with this id.
    pub async fn entity<E: Entity>(&self, id: &str) -> Result<Option<E>, IdentityError> {
        Ok(self.get::<E>(E::TABLE, id).await?.map(|v| v.value))
    }

    /// The record with this id, or Keystone's 404.
    pub async fn must<E: Entity>(&self, id: &str) -> Result<E, IdentityError> {
        self.entity(id)
            .await?
            .ok_or_else(|| IdentityError::not_found(E::KIND, id))
    }

    /// The record whose name index key is `name_key` (see [`Entity::name_key`]).
    pub async fn by_name<E: Entity>(&self, name_key: &str) -> Result<Option<E>, IdentityError> {
        let Some(id) = self.get::<String>(E::NAMES, name_key).await? else {
            return Ok(None);
        };
        self.entity(&id.value).await
    }

    /// Every record of the kind, by id.
    pub async fn list<E: Entity>(&self) -> Result<Vec<E>, IdentityError> {
        Ok(self
            .scan::<E>(E::TABLE, "")
            .await?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// The records whose name keys start with `prefix` (a user's
    /// application credentials: `<user id>/`).
    pub async fn list_by_name_prefix<E: Entity>(
        &self,
        prefix: &str,
    ) -> Result<Vec<E>, IdentityError> {
        let mut out = Vec::new();
        for (_, id) in self.scan::<String>(E::NAMES, prefix).await? {
            if let Some(e) = self.entity(&id).await? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Stores a new record; 409 if its name (or id) is taken.
    pub async fn create<E: Entity>(&self, e: &E) -> Result<(), IdentityError> {
        let (k, n) = (rkey(E::TABLE, e.id()), rkey(E::NAMES, &e.name_key()));
        let txn = Txn::new()
            .check(Check::absent(n.clone()))
            .check(Check::absent(k.clone()))
            .put(k, encode(e))
            .put(n, encode(&e.id()));
        match self.commit(txn).await? {
            None => Ok(()),
            Some(key) => Err(conflict(E::KIND, &key)),
        }
    }

    /// Read-modify-write of one record: `change` edits it, a rename moves
    /// its name index (409 if the new name is taken or the record changed
    /// since it was read).
    pub async fn update<E: Entity>(
        &self,
        id: &str,
        change: impl FnOnce(&mut E) -> Result<(), IdentityError>,
    ) -> Result<E, IdentityError> {
        let Versioned { value, revision } = self
            .get::<E>(E::TABLE, id)
            .await?
            .ok_or_else(|| IdentityError::not_found(E::KIND, id))?;
        let mut next = value.clone();
        change(&mut next)?;
        let k = rkey(E::TABLE, id);
        let mut txn = Txn::new()
            .check(Check::at(k.clone(), revision))
            .put(k, encode(&next));
        if next.name_key() != value.name_key() {
            let n = rkey(E::NAMES, &next.name_key());
            txn = txn
                .check(Check::absent(n.clone()))
                .delete(rkey(E::NAMES, &value.name_key()))
                .put(n, encode(&id));
        }
        match self.commit(txn).await? {
            None => Ok(next),
            Some(key) => Err(conflict(E::KIND, &key)),
        }
    }

    /// Deletes `e`, its name, and the dependent records in `cascade`, at
    /// once.
    pub async fn delete<E: Entity>(&self, e: &E, cascade: Vec<Op>) -> Result<(), IdentityError> {
        let mut txn = Txn::new()
            .delete(rkey(E::TABLE, e.id()))
            .delete(rkey(E::NAMES, &e.name_key()));
        txn.ops.extend(cascade);
        match self.commit(txn).await? {
            None => Ok(()),
            Some(key) => Err(conflict(E::KIND, &key)),
        }
    }
}
