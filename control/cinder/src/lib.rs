//! The Block Storage API (Cinder v3) at `/volume`, over the block gateway:
//! what `openstack volume …` and the SDKs send (version discovery,
//! volumes with create/list/show/update/extend/delete, create from a
//! snapshot or a volume, snapshots, the volume types list), authenticated
//! with Keystone tokens and confined to the token's project.
//!
//! A Cinder volume `<uuid>` is the Cairn volume `volume-<uuid>` (its NBD
//! export name and iSCSI target suffix) and a snapshot `<uuid>` the Cairn
//! snapshot `snapshot-<uuid>` of its volume; what Cinder keeps besides (the
//! display name, description, project, origin) is a record in the metadata
//! group's `cinder-volumes` and `cinder-snapshots` tables ([`store`]).
//!
//! Attachments (`/attachments`, microversion 3.27 on, and the older
//! `os-initialize_connection` action) hand a host the connection info of
//! the volume's NBD export or iSCSI target ([`Exports`]); a volume with an
//! attachment is `reserved`, `attaching` or `in-use` and cannot be deleted.
//!
//! Not here yet: quotas and limits, volume types that choose a replica
//! count, backups, transfers, QoS.

mod error;
mod http;
mod store;
mod views;

pub use error::CinderError;
pub use http::router;

use std::sync::Arc;

use cairn_block::gateway::Gateway;
use cairn_block::iscsi::TargetConfig;
use cairn_identity::Identity;
use cairn_meta_api::records::Records;

/// Where hosts reach volumes, as connection info names it.
#[derive(Debug, Clone)]
pub struct Exports {
    /// The NBD server, `host:port`; a volume is the export of its name.
    pub nbd: String,
    /// The iSCSI target: portal, IQN prefix, CHAP.
    pub iscsi: TargetConfig,
}

/// The volume service: who checks tokens, who carries out volume
/// operations, where Cinder's own records are, its public URL, and where
/// hosts attach volumes.
pub struct Cinder {
    identity: Arc<Identity>,
    gateway: Arc<Gateway>,
    records: Arc<dyn Records>,
    /// `http://host:port/volume`.
    public_url: String,
    exports: Exports,
}

impl Cinder {
    pub fn new(
        identity: Arc<Identity>,
        gateway: Arc<Gateway>,
        records: Arc<dyn Records>,
        public_url: impl Into<String>,
        exports: Exports,
    ) -> Self {
        Cinder {
            identity,
            gateway,
            records,
            public_url: public_url.into(),
            exports,
        }
    }
}
