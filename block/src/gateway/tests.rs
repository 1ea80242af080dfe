//! Attaching with devices down, over the in-memory extent service (three
//! devices, each with a replica of every extent) and a one-node metadata
//! group: with one device down the attach succeeds, records the device as
//! unfenced before serving, and the repairer fences and repairs it once
//! it is back; with two down the attach is refused and records nothing.

use super::*;
use crate::volume::testing::{MemNode, ThreeDevices};
use crate::volume::UNFENCED_TABLE;
use bytes::Bytes;
use cairn_meta_api::records::Records;
use cairn_nodeapi::ExtentKey;
use std::time::Duration;

const MIB: u64 = 1 << 20;
/// How long the test waits for the repairer (it runs every
/// [`REPAIR_INTERVAL`]).
const REPAIR_WAIT: Duration = Duration::from_secs(15);

async fn gateway(node: &Arc<MemNode>, dir: &std::path::Path) -> Arc<Gateway> {
    let meta = cairn_meta::MetaNode::open_single(&dir.join("meta"), 1)
        .await
        .unwrap();
    let backend = Backend {
        nodes: node.clone(),
        placements: Arc::new(crate::volume::Fixed(Arc::new(ThreeDevices))),
        records: node.records.clone(),
    };
    Gateway::start(meta, backend, "gw").await.unwrap()
}

fn create(name: &str) -> CreateVolume {
    CreateVolume {
        name: name.into(),
        account: "AUTH_test".into(),
        size: Some(16 * MIB),
        source: Source::Empty,
        replica_count: None,
    }
}

async fn unfenced_recorded(node: &MemNode) -> usize {
    let page = node.records.scan(UNFENCED_TABLE, "", None, 100).await;
    page.unwrap().len()
}

fn pat(len: usize, seed: u8) -> Bytes {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_attaches_with_one_device_down_and_not_with_two() {
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(MemNode::default());
    let gw = gateway(&node, dir.path()).await;
    let id = gw.create(create("v")).await.unwrap().id;
    gw.create(create("w")).await.unwrap();

    node.down.lock().unwrap().extend([DeviceId(0), DeviceId(1)]);
    match gw.open("w").await {
        // The refusal says why each fence failed.
        Err(BlockError::Io(why)) => assert!(
            why.contains("fences failed: device 0: ") && why.contains("device 1 is down"),
            "{why}"
        ),
        other => panic!("attached with two of three devices down: {:?}", other.err()),
    }
    assert_eq!(unfenced_recorded(&node).await, 0);

    node.down.lock().unwrap().remove(&DeviceId(1));
    let v = gw.open("v").await.unwrap();
    assert_eq!(unfenced_recorded(&node).await, 1);
    // Extent 0 keeps device 0 as its first replica: it is written around.
    v.write(0, pat(8192, 1), false).await.unwrap();
    v.flush().await.unwrap();
    assert_eq!(v.read(0, 8192).await.unwrap(), pat(8192, 1));

    node.down.lock().unwrap().clear();
    let deadline = tokio::time::Instant::now() + REPAIR_WAIT;
    while unfenced_recorded(&node).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "not repaired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let epoch = gw.show("v").await.unwrap().epoch;
    assert_eq!(node.fences.lock().unwrap()[&(DeviceId(0), id)], epoch);
    let key = ExtentKey {
        volume: id,
        index: 0,
        generation: 0,
    };
    let extents = node.extents.lock().unwrap();
    assert_eq!(extents[&(DeviceId(0), key)], extents[&(DeviceId(1), key)]);
    assert_eq!(&extents[&(DeviceId(0), key)][..8192], &pat(8192, 1)[..]);
}
