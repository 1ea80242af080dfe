//! The Block Storage API (Cinder v3) at `/volume`, over the block gateway:
//! what `openstack volume …`, `openstack quota …`, `openstack limits show`
//! and the SDKs send (version discovery, volumes with
//! create/list/show/update/extend/delete, create from a snapshot or a
//! volume, snapshots, volume types with extra specs, quota sets and
//! limits), authenticated with Keystone tokens and confined to the token's
//! project; what Cinder keeps to admins (types, quotas) is an admin's.
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
//! Volume types ([`types`]) are the cloud's; the extra spec `replicas`
//! (1 to the ring's replica count) is how many copies a volume of the type
//! keeps, recorded in its block volume's record when it is created (the
//! first that many of each extent's ring primaries). A clone or a volume
//! from a snapshot takes its source's type unless it names one.
//!
//! Quotas ([`quota`]): per project, Cinder's resources and defaults; a
//! volume created (from anything), extended, or a snapshot taken over its
//! project's limits is refused with Cinder's 413 `overLimit`. Usage is
//! counted from the records, and the check commits with the project's
//! ledger, so racing creates cannot both pass a limit.
//!
//! Not here yet: per-type quotas (`volumes_<type>`), private types' access
//! lists, quota classes, backups, groups, transfers, QoS.

mod error;
mod http;
mod quota;
mod store;
mod types;
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
    /// Whether the NBD server requires TLS with a client certificate
    /// (`nbds://`); the host brings its own certificate.
    pub nbd_tls: bool,
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
