//! `/metrics`: Prometheus text exposition of the storage devices' state
//! (used and free bytes, objects, quarantined replicas) and of the requests
//! the proxy answered (by API, method and status class).

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

/// What `/metrics` reads.
#[derive(Clone)]
struct Sources {
    storage: Arc<Storage>,
    proxy: cairn_proxy::Proxy,
}

/// A router serving `GET /metrics`.
pub fn router(storage: Arc<Storage>, proxy: cairn_proxy::Proxy) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Sources { storage, proxy })
}

async fn render(State(src): State<Sources>) -> String {
    let mut out = String::new();
    render_devices(&src.storage, &mut out);
    render_requests(&src.proxy, &mut out);
    out
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
