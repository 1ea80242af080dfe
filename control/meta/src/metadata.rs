//! `Metadata` for `MetaNode`: each mutation is one Raft command, each read a
//! linearizable read of the local state machine.

use async_trait::async_trait;
use cairn_base::Timestamp;
use cairn_meta_api::{
    AccountInfo, ContainerInfo, ContainerListItem, ContainerPut, ListQuery, MetaError, MetaMap,
    Metadata, ObjectEntry, ObjectListItem,
};

use crate::keys;
use crate::node::MetaNode;
use crate::reads;
use crate::types::{Reply, Request};

/// A name that cannot be stored (empty or with NUL, which Swift rejects too).
fn invalid(what: &str, name: &str) -> MetaError {
    MetaError::Storage(format!(
        "invalid {what} name {name:?}: empty or contains NUL"
    ))
}

/// Refuses names that cannot exist; `missing` is what a lookup would say.
fn check(account: &str, container: Option<&str>, missing: MetaError) -> Result<(), MetaError> {
    let ok = keys::valid_component(account) && container.is_none_or(keys::valid_component);
    if ok {
        Ok(())
    } else {
        Err(missing)
    }
}

fn unexpected(reply: Reply) -> MetaError {
    MetaError::Storage(format!("state machine gave an unexpected reply: {reply:?}"))
}

#[async_trait]
impl Metadata for MetaNode {
    async fn account(&self, account: &str) -> Result<AccountInfo, MetaError> {
        self.read(|db| reads::account(db, account)).await
    }

    async fn ensure_account(&self, account: &str, ts: Timestamp) -> Result<AccountInfo, MetaError> {
        check(account, None, invalid("account", account))?;
        match self
            .write(Request::EnsureAccount {
                account: account.into(),
                ts,
            })
            .await?
        {
            Reply::Account(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    async fn update_account_meta(
        &self,
        account: &str,
        meta: MetaMap,
        ts: Timestamp,
    ) -> Result<AccountInfo, MetaError> {
        check(account, None, MetaError::AccountNotFound)?;
        match self
            .write(Request::UpdateAccountMeta {
                account: account.into(),
                meta,
                ts,
            })
            .await?
        {
            Reply::Account(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    async fn list_containers(
        &self,
        account: &str,
        query: &ListQuery,
    ) -> Result<Vec<ContainerListItem>, MetaError> {
        self.read(|db| reads::list_containers(db, account, query))
            .await
    }

    async fn put_container(
        &self,
        account: &str,
        container: &str,
        meta: MetaMap,
        ts: Timestamp,
    ) -> Result<ContainerPut, MetaError> {
        check(account, None, invalid("account", account))?;
        check(account, Some(container), invalid("container", container))?;
        let req = Request::PutContainer {
            account: account.into(),
            container: container.into(),
            meta,
            ts,
            containers_max: self.opts.containers_per_account_max,
        };
        match self.write(req).await? {
            Reply::ContainerPut(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    async fn container(&self, account: &str, container: &str) -> Result<ContainerInfo, MetaError> {
        self.read(|db| reads::container(db, account, container))
            .await
    }

    async fn update_container_meta(
        &self,
        account: &str,
        container: &str,
        meta: MetaMap,
        ts: Timestamp,
    ) -> Result<ContainerInfo, MetaError> {
        check(account, Some(container), MetaError::ContainerNotFound)?;
        let req = Request::UpdateContainerMeta {
            account: account.into(),
            container: container.into(),
            meta,
            ts,
        };
        match self.write(req).await? {
            Reply::Container(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    async fn delete_container(
        &self,
        account: &str,
        container: &str,
        ts: Timestamp,
    ) -> Result<(), MetaError> {
        check(account, Some(container), MetaError::ContainerNotFound)?;
        let req = Request::DeleteContainer {
            account: account.into(),
            container: container.into(),
            ts,
        };
        self.write(req).await.map(drop)
    }

    async fn list_objects(
        &self,
        account: &str,
        container: &str,
        query: &ListQuery,
    ) -> Result<Vec<ObjectListItem>, MetaError> {
        self.read(|db| reads::list_objects(db, account, container, query))
            .await
    }

    async fn put_object_entry(
        &self,
        account: &str,
        container: &str,
        entry: ObjectEntry,
    ) -> Result<(), MetaError> {
        check(account, Some(container), MetaError::ContainerNotFound)?;
        if !keys::valid_object_name(&entry.name) {
            return Err(invalid("object", &entry.name));
        }
        let req = Request::PutObject {
            account: account.into(),
            container: container.into(),
            entry,
        };
        self.write(req).await.map(drop)
    }

    async fn delete_object_entry(
        &self,
        account: &str,
        container: &str,
        name: &str,
        ts: Timestamp,
    ) -> Result<(), MetaError> {
        check(account, Some(container), MetaError::ContainerNotFound)?;
        if !keys::valid_object_name(name) {
            return Err(invalid("object", name));
        }
        let req = Request::DeleteObject {
            account: account.into(),
            container: container.into(),
            name: name.into(),
            ts,
        };
        self.write(req).await.map(drop)
    }
}
