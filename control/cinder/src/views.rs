//! The JSON shapes of Cinder's answers, with the fields `openstack volume`
//! and the SDK read.

use cairn_base::Timestamp;
use cairn_identity::iso8601;
use cairn_meta_api::VolumeRecord;
use serde_json::{json, Value};

use crate::store::{AttachState, AttachmentMeta, SnapshotMeta, VolumeMeta};
use crate::types::VolumeType;
use crate::Exports;

/// Bytes per GiB: Cinder sizes are whole GiB.
pub const GIB: u64 = 1 << 30;

fn time(secs: u64) -> String {
    iso8601(Timestamp::from_secs(secs))
}

/// A volume's status as Cinder names it, from its `attachments`: an
/// attachment completed is `in-use`; connection info handed out is
/// `attaching`; a bare reservation is `reserved`. (A gateway's lease is
/// not a status: a gateway keeps it after its clients have gone.)
pub fn status(attachments: &[AttachmentMeta]) -> &'static str {
    let any = |s: AttachState| attachments.iter().any(|a| a.state == s);
    if any(AttachState::Attached) {
        "in-use"
    } else if any(AttachState::Attaching) {
        "attaching"
    } else if !attachments.is_empty() {
        "reserved"
    } else {
        "available"
    }
}

/// The `attachments` of a volume's view: the completed ones.
fn volume_attachments(attachments: &[AttachmentMeta]) -> Value {
    attachments
        .iter()
        .filter(|a| a.state == AttachState::Attached)
        .map(|a| {
            json!({
                "id": a.volume_id,
                "attachment_id": a.id,
                "volume_id": a.volume_id,
                "server_id": a.instance,
                "host_name": a.connector.as_ref().and_then(|c| c.get("host")),
                "device": a.connector.as_ref().and_then(|c| c.get("mountpoint")),
                "attached_at": a.attached_secs.map(time),
            })
        })
        .collect()
}

/// An attachment as `/attachments` shows it. The SDK reads `attach_time`
/// and `mode` where Cinder writes `attached_at` and `attach_mode`; both
/// are given.
pub fn attachment(a: &AttachmentMeta, connection_info: Option<Value>) -> Value {
    let status = a.state.as_str();
    let attached = a.attached_secs.map(time);
    json!({
        "id": a.id,
        "volume_id": a.volume_id,
        "instance": a.instance,
        "status": status,
        "attach_mode": a.mode.as_str(),
        "mode": a.mode.as_str(),
        "attached_at": attached,
        "attach_time": attached,
        "detached_at": null,
        "detach_time": null,
        "connector": a.connector,
        "connection_info": connection_info,
    })
}

/// What a host needs to attach volume `volume_id`: the iSCSI target when
/// its connector names an iSCSI initiator (os-brick's `initiator`), the
/// NBD export otherwise — with `"tls": true` and an `nbds://` URI when the
/// server requires TLS (never a key: the host presents its own
/// certificate, as libvirt and qemu take it from the host's config).
pub fn connection_info(exports: &Exports, volume_id: &str, connector: &Value, mode: &str) -> Value {
    let export = crate::store::block_volume(volume_id);
    if connector.get("initiator").is_some_and(Value::is_string) {
        let iscsi = &exports.iscsi;
        let mut data = json!({
            "target_discovered": false,
            "target_portal": iscsi.portal,
            "target_iqn": format!("{}:{export}", iscsi.iqn_prefix),
            "target_lun": 0,
            "volume_id": volume_id,
            "access_mode": mode,
            "encrypted": false,
            "discard": true,
        });
        if let Some(chap) = &iscsi.chap {
            data["auth_method"] = json!("CHAP");
            data["auth_username"] = json!(chap.user);
            data["auth_password"] = json!(chap.secret);
        }
        json!({"driver_volume_type": "iscsi", "data": data})
    } else {
        let (host, port) = exports
            .nbd
            .rsplit_once(':')
            .unwrap_or((exports.nbd.as_str(), "10809"));
        let scheme = if exports.nbd_tls { "nbds" } else { "nbd" };
        json!({"driver_volume_type": "nbd", "data": {
            "host": host,
            "port": port.parse::<u16>().unwrap_or(10809),
            "export_name": export,
            "uri": format!("{scheme}://{}/{export}", exports.nbd),
            "tls": exports.nbd_tls,
            "volume_id": volume_id,
            "access_mode": mode,
            "encrypted": false,
            "discard": true,
        }})
    }
}

/// What a volume's view shows: its records and its type.
pub struct VolumeParts<'a> {
    pub meta: &'a VolumeMeta,
    pub rec: &'a VolumeRecord,
    pub attachments: &'a [AttachmentMeta],
    pub volume_type: &'a VolumeType,
}

pub fn volume(base: &str, parts: VolumeParts<'_>) -> Value {
    let VolumeParts {
        meta: m,
        rec,
        attachments,
        volume_type,
    } = parts;
    let link = format!("{base}/v3/{}/volumes/{}", m.project_id, m.id);
    json!({
        "id": m.id,
        "name": m.name,
        "description": m.description,
        "size": rec.size / GIB,
        "status": status(attachments),
        "volume_type": volume_type.name,
        "volume_type_id": volume_type.id,
        "availability_zone": "nova",
        "bootable": "false",
        "encrypted": false,
        "multiattach": false,
        "attachments": volume_attachments(attachments),
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

/// A volume type; the extra specs are those the caller may see.
pub fn volume_type(base: &str, project: &str, t: &VolumeType, admin: bool) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "extra_specs": t.visible_specs(admin),
        "qos_specs_id": null,
        "os-volume-type-access:is_public": t.is_public,
        "links": [{"rel": "self", "href": format!("{base}/v3/{project}/types/{}", t.id)}],
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

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_block::iscsi::TargetConfig;

    #[test]
    fn nbd_connection_info_says_whether_tls_is_required() {
        let mut exports = Exports {
            nbd: "10.0.0.5:10809".into(),
            nbd_tls: false,
            iscsi: TargetConfig::new("10.0.0.5:3260"),
        };
        let info = connection_info(&exports, "v1", &json!({"host": "h"}), "rw");
        assert_eq!(info["driver_volume_type"], "nbd");
        assert_eq!(info["data"]["tls"], false);
        let uri = info["data"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("nbd://10.0.0.5:10809/"), "{uri}");
        exports.nbd_tls = true;
        let info = connection_info(&exports, "v1", &json!({"host": "h"}), "rw");
        assert_eq!(info["data"]["tls"], true);
        assert_eq!(info["data"]["port"], 10809);
        let uri = info["data"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("nbds://10.0.0.5:10809/"), "{uri}");
    }
}
