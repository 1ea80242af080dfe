//! `/metrics`: Prometheus text exposition of the storage devices' state
//! (used and free bytes, objects, quarantined replicas), of the requests
//! the proxy answered (by API, method and status class), and of the
//! replicator's and the auditor's work (`cairn_replication_*`, `cairn_auditor_*`),
//! and of this node's view of the metadata group (`cairn_meta_*`: leader,
//! term, applied index).

use axum::{extract::State, routing::get, Router};
use cairn_storage_node::replicator::{Replicator, ReplicatorStats};
use cairn_storage_node::AuditorStats;
use std::fmt::Write;
use std::sync::Arc;

type Storage = cairn_storage_node::AnyStorageNode;

/// A gauge: its name, its help text, and how to read it off a device.
type Gauge = (
    &'static str,
    &'static str,
    fn(&cairn_storage_node::DeviceStats) -> u64,
);

/// A series of the replicator's or the auditor's: name, type, help, value.
type Series<S> = (&'static str, &'static str, &'static str, fn(&S) -> f64);

/// What `/metrics` reads.
#[derive(Clone)]
struct Sources {
    storage: Arc<Storage>,
    proxy: cairn_proxy::Proxy,
    replicator: Arc<Replicator>,
    meta: Arc<cairn_meta::MetaNode>,
}

/// A router serving `GET /metrics`.
pub fn router(
    storage: Arc<Storage>,
    proxy: cairn_proxy::Proxy,
    replicator: Arc<Replicator>,
    meta: Arc<cairn_meta::MetaNode>,
) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Sources {
            storage,
            proxy,
            replicator,
            meta,
        })
}

async fn render(State(src): State<Sources>) -> String {
    let mut out = String::new();
    render_devices(&src.storage, &mut out);
    render_requests(&src.proxy, &mut out);
    render_series(&src.replicator.stats(), &REPLICATION, &mut out);
    render_series(&src.storage.auditor_stats(), &AUDITOR, &mut out);
    let raft = src.meta.raft().metrics().borrow().clone();
    render_series(&(src.meta.node_id(), raft), &META, &mut out);
    out
}

/// This node's id and its Raft metrics.
type MetaView = (u64, openraft::RaftMetrics<u64, cairn_meta::Node>);

const META: [Series<MetaView>; 4] = [
    (
        "cairn_meta_leader",
        "gauge",
        "The metadata leader's node id as this node sees it (0: none known).",
        |(_, m)| m.current_leader.unwrap_or(0) as f64,
    ),
    (
        "cairn_meta_is_leader",
        "gauge",
        "1 when this node leads the metadata group.",
        |(id, m)| f64::from(u8::from(m.current_leader == Some(*id))),
    ),
    (
        "cairn_meta_term",
        "gauge",
        "This node's current Raft term.",
        |(_, m)| m.current_term as f64,
    ),
    (
        "cairn_meta_last_applied_index",
        "gauge",
        "The last log index this node applied to its state machine.",
        |(_, m)| m.last_applied.map_or(0.0, |l| l.index as f64),
    ),
];

const REPLICATION: [Series<ReplicatorStats>; 12] = [
    (
        "cairn_replication_passes_total",
        "counter",
        "Replication passes completed.",
        |s| s.passes_completed as f64,
    ),
    (
        "cairn_replication_partitions_checked_total",
        "counter",
        "Partitions of local devices compared with their peers.",
        |s| s.partitions_checked as f64,
    ),
    (
        "cairn_replication_buckets_differing_total",
        "counter",
        "Suffix buckets whose digest differed from a peer's.",
        |s| s.buckets_differing as f64,
    ),
    (
        "cairn_replication_objects_pushed_total",
        "counter",
        "Objects pushed to a peer that lacked them.",
        |s| s.objects_pushed as f64,
    ),
    (
        "cairn_replication_bytes_pushed_total",
        "counter",
        "Body bytes of the objects pushed.",
        |s| s.bytes_pushed as f64,
    ),
    (
        "cairn_replication_metadata_pushed_total",
        "counter",
        "Metadata updates (POSTs) pushed.",
        |s| s.metadata_pushed as f64,
    ),
    (
        "cairn_replication_tombstones_pushed_total",
        "counter",
        "Tombstones pushed.",
        |s| s.tombstones_pushed as f64,
    ),
    (
        "cairn_replication_handoff_entries_dropped_total",
        "counter",
        "Handoff entries removed once every primary had them.",
        |s| s.handoff_entries_dropped as f64,
    ),
    (
        "cairn_replication_tombstones_reclaimed_total",
        "counter",
        "Tombstones removed after the reclaim age.",
        |s| s.tombstones_reclaimed as f64,
    ),
    (
        "cairn_replication_errors_total",
        "counter",
        "Replication requests that failed.",
        |s| s.errors as f64,
    ),
    (
        "cairn_replication_last_pass_duration_seconds",
        "gauge",
        "Duration of the last pass.",
        |s| s.last_pass_duration_ms as f64 / 1000.0,
    ),
    (
        "cairn_replication_last_pass_end_seconds",
        "gauge",
        "Unix time the last pass ended (0: none yet).",
        |s| s.last_pass_end.map_or(0.0, |t| t.micros() as f64 / 1e6),
    ),
];

const AUDITOR: [Series<AuditorStats>; 4] = [
    (
        "cairn_auditor_objects_audited_total",
        "counter",
        "Objects re-read and verified.",
        |s| s.objects_audited as f64,
    ),
    (
        "cairn_auditor_bytes_audited_total",
        "counter",
        "Bytes re-read and verified.",
        |s| s.bytes_audited as f64,
    ),
    (
        "cairn_auditor_corrupt_total",
        "counter",
        "Replicas found corrupt (and quarantined).",
        |s| s.corrupt_found as f64,
    ),
    (
        "cairn_auditor_passes_total",
        "counter",
        "Audit passes completed.",
        |s| s.passes_completed as f64,
    ),
];

fn render_series<S>(stats: &S, series: &[Series<S>], out: &mut String) {
    for (name, kind, help, value) in series {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
            value(stats)
        );
    }
}

fn render_requests(proxy: &cairn_proxy::Proxy, out: &mut String) {
    let name = "cairn_requests_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests answered, by API, method and status class.\n# TYPE {name} counter"
    );
    for c in proxy.request_stats().snapshot() {
        let _ = writeln!(
            out,
            "{name}{{api=\"{}\",method=\"{}\",status=\"{}\"}} {}",
            c.api.as_str(),
            c.method,
            c.status_class,
            c.count
        );
    }
}

fn render_devices(storage: &Storage, out: &mut String) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_base::Timestamp;

    #[test]
    fn replication_series_are_prometheus_text() {
        // Each series gets its HELP, TYPE and value lines; the last pass's
        // timing is in seconds.
        let stats = ReplicatorStats {
            objects_pushed: 7,
            last_pass_duration_ms: 1500,
            last_pass_end: Some(Timestamp::from_secs(1_700_000_000)),
            ..ReplicatorStats::default()
        };
        let mut out = String::new();
        render_series(&stats, &REPLICATION, &mut out);
        assert!(out.contains(
            "# TYPE cairn_replication_objects_pushed_total counter\n\
             cairn_replication_objects_pushed_total 7\n"
        ));
        assert!(out.contains("\ncairn_replication_last_pass_duration_seconds 1.5\n"));
        assert!(out.contains("\ncairn_replication_last_pass_end_seconds 1700000000\n"));
        assert!(out.contains("\ncairn_replication_errors_total 0\n"));
        assert_eq!(out.lines().count(), 3 * REPLICATION.len());
    }
}
