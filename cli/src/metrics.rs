//! `/metrics`: Prometheus text exposition of the storage devices' state
//! (used and free bytes, objects, quarantined replicas).

use axum::{extract::State, routing::get, Router};
use std::fmt::Write;
use std::sync::Arc;

type Storage = cairn_storage_node::AnyStorageNode;

/// A gauge: its name, its help text, and how to read it off a device.
type Gauge = (
    &'static str,
    &'static str,
    fn(&cairn_storage_node::DeviceStats) -> u64,
);

/// A router serving `GET /metrics`.
pub fn router(storage: Arc<Storage>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(storage)
}

async fn render(State(storage): State<Arc<Storage>>) -> String {
    let mut out = String::new();
    let stats = storage.device_stats();
    let gauges: [Gauge; 4] = [
        (
            "cairn_device_used_bytes",
            "Bytes used on the device's filesystem.",
            |s| s.used_bytes,
        ),
        (
            "cairn_device_free_bytes",
            "Bytes free on the device's filesystem.",
            |s| s.free_bytes,
        ),
        (
            "cairn_device_objects",
            "Live objects stored on the device.",
            |s| s.object_count,
        ),
        (
            "cairn_device_quarantined_objects",
            "Replicas quarantined after failing their checksum.",
            |s| s.quarantined_count,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for s in &stats {
            let _ = writeln!(out, "{name}{{device=\"{}\"}} {}", s.device.0, value(s));
        }
    }
    out
}
