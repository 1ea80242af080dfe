"""The attach flow of a hypervisor's volume driver, through openstacksdk
(what Nova's and os-brick's callers send): reserve the volume for an
instance with an iSCSI connector, complete the attachment, check that a
second attachment and a delete are refused, detach; then attach over NBD
(a connector without an iSCSI initiator). Prints one JSON object for the
Rust test to check and to use (the connection info is tried with real
initiators there).

    python attach_flow.py VOLUME_NAME_OR_ID        (OS_* in the environment)
"""
import json
import sys

import openstack
from openstack import exceptions

INSTANCE = "8a5c2b4e-7d1f-4e0a-9b3c-2f6d8e1a0c55"
ISCSI_CONNECTOR = {
    "initiator": "iqn.2026-11.io.cairn:hv1",
    "host": "hv1",
    "ip": "127.0.0.1",
    "platform": "x86_64",
    "os_type": "linux",
    "multipath": False,
}


def main(name):
    bs = openstack.connect().block_storage
    vol = bs.find_volume(name, ignore_missing=False)
    out = {}
    att = bs.create_attachment(vol, connector=ISCSI_CONNECTOR, instance=INSTANCE)
    out["iscsi"] = att.connection_info
    out["created_status"] = att.status
    out["while_attaching"] = bs.get_volume(vol).status
    bs.complete_attachment(att)
    done = bs.get_volume(vol)
    out["after_complete"] = done.status
    out["volume_attachments"] = done.attachments
    out["listed"] = [a.id for a in bs.attachments(volume_id=vol.id)]
    out["attachment_id"] = att.id
    try:
        bs.create_attachment(vol, instance=INSTANCE)
        out["second"] = "created"
    except exceptions.HttpException as e:
        out["second"] = e.status_code
    try:
        bs.delete_volume(vol)
        out["delete_attached"] = "deleted"
    except exceptions.HttpException as e:
        out["delete_attached"] = e.status_code
    bs.delete_attachment(att)
    out["after_detach"] = bs.get_volume(vol).status

    nbd = bs.create_attachment(vol, connector={"host": "hv2"}, instance=INSTANCE)
    out["nbd"] = nbd.connection_info
    bs.delete_attachment(nbd)
    out["at_end"] = bs.get_volume(vol).status
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
