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
//! Not here yet: attachments and connection info, quotas and limits,
//! volume types that choose a replica count, backups, transfers, QoS.

mod error;
mod http;
mod store;
mod views;

pub use error::CinderError;
pub use http::router;

use std::sync::Arc;

use cairn_block::gateway::Gateway;
use cairn_identity::Identity;
use cairn_meta_api::records::Records;

/// The volume service: who checks tokens, who carries out volume
/// operations, where Cinder's own records are, and its public URL.
pub struct Cinder {
    identity: Arc<Identity>,
    gateway: Arc<Gateway>,
    records: Arc<dyn Records>,
    /// `http://host:port/volume`.
    public_url: String,
}

impl Cinder {
    pub fn new(
        identity: Arc<Identity>,
        gateway: Arc<Gateway>,
        records: Arc<dyn Records>,
        public_url: impl Into<String>,
    ) -> Self {
        Cinder {
            identity,
            gateway,
            records,
            public_url: public_url.into(),
        }
    }
}
