//! The JSON shapes of Cinder's answers, with the fields `openstack volume`
//! and the SDK read.

use cairn_base::Timestamp;
use cairn_identity::iso8601;
use cairn_meta_api::VolumeRecord;
use serde_json::{json, Value};

use crate::store::{SnapshotMeta, VolumeMeta};

/// Bytes per GiB: Cinder sizes are whole GiB.
pub const GIB: u64 = 1 << 30;
/// The one volume type.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";
pub const DEFAULT_TYPE_ID: &str = "5f0a7c9e-0d3b-4c1e-9a57-3c2f0e6b1d01";

fn time(secs: u64) -> String {
    iso8601(Timestamp::from_secs(secs))
}

/// A volume's status as Cinder names it: attached (a gateway holds its
/// lease) is `in-use`.
pub fn status(rec: &VolumeRecord) -> &'static str {
    if rec.lease.is_some() {
        "in-use"
    } else {
        "available"
    }
}

pub fn volume(base: &str, m: &VolumeMeta, rec: &VolumeRecord) -> Value {
    let link = format!("{base}/v3/{}/volumes/{}", m.project_id, m.id);
    json!({
        "id": m.id,
        "name": m.name,
        "description": m.description,
        "size": rec.size / GIB,
        "status": status(rec),
        "volume_type": DEFAULT_TYPE,
        "volume_type_id": DEFAULT_TYPE_ID,
        "availability_zone": "nova",
        "bootable": "false",
        "encrypted": false,
        "multiattach": false,
        "attachments": [],
        "metadata": {},
        "volume_image_metadata": {},
        "snapshot_id": m.snapshot_id,
        "source_volid": m.source_volid,
        "consistencygroup_id": null,
        "group_id": null,
        "replication_status": null,
        "migration_status": null,
        "user_id": m.user_id,
        "os-vol-tenant-attr:tenant_id": m.project_id,
        "os-vol-host-attr:host": "cairn@block#cairn",
        "provider_id": m.block_name(),
        "created_at": time(m.created_secs),
        "updated_at": null,
        "links": [{"rel": "self", "href": link}],
    })
}

/// The short form of a plain `GET …/volumes`.
pub fn volume_brief(base: &str, m: &VolumeMeta) -> Value {
    let link = format!("{base}/v3/{}/volumes/{}", m.project_id, m.id);
    json!({"id": m.id, "name": m.name, "links": [{"rel": "self", "href": link}]})
}

pub fn snapshot(m: &SnapshotMeta, size_bytes: u64) -> Value {
    json!({
        "id": m.id,
        "name": m.name,
        "description": m.description,
        "volume_id": m.volume_id,
        "size": size_bytes / GIB,
        "status": "available",
        "progress": "100%",
        "metadata": {},
        "user_id": m.user_id,
        "os-extended-snapshot-attributes:project_id": m.project_id,
        "os-extended-snapshot-attributes:progress": "100%",
        "group_snapshot_id": null,
        "created_at": time(m.created_secs),
        "updated_at": null,
    })
}

pub fn volume_type(base: &str, project: &str) -> Value {
    json!({
        "id": DEFAULT_TYPE_ID,
        "name": DEFAULT_TYPE,
        "description": "3 replicas on the ring",
        "is_public": true,
        "extra_specs": {},
        "qos_specs_id": null,
        "os-volume-type-access:is_public": true,
        "links": [{"rel": "self", "href": format!("{base}/v3/{project}/types/{DEFAULT_TYPE_ID}")}],
    })
}

/// The version document of `GET /volume/` and `GET /volume/v3/`.
pub fn versions(base: &str) -> Value {
    json!({"versions": [{
        "id": "v3.0",
        "status": "CURRENT",
        "version": crate::http::MAX_VERSION,
        "min_version": "3.0",
        "updated": "2023-09-01T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.volume+json;version=3"}],
    }]})
}
