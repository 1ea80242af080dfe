//! `cairn cluster status` for people: a summary line, then tables of the
//! nodes (with each node's view of the metadata group), the devices, the
//! replicator and the auditor.

use std::fmt::Write;
use std::path::Path;

use cairn_bench::units::format_bytes;
use cairn_internode::pki::node_name;

use super::{ClusterStatus, NodeReport, Summary};
use crate::node_status::{NodeStatus, RaftRole};

/// The whole report.
pub(super) fn render(root: &Path, status: &ClusterStatus) -> String {
    let mut out = String::new();
    let s = &status.summary;
    let draining = match s.draining {
        0 => String::new(),
        n => format!(", {n} removed still draining"),
    };
    let _ = writeln!(
        out,
        "cluster {}: {} of {} nodes up{draining}, {} devices; {}",
        root.display(),
        s.nodes_up,
        s.nodes_total,
        s.devices,
        metadata_line(s)
    );
    let up: Vec<&NodeStatus> = status
        .nodes
        .iter()
        .filter_map(|r| r.status.as_ref())
        .collect();
    let mut sections = vec![nodes_table(&status.nodes)];
    if !up.is_empty() {
        sections.extend([
            devices_table(&up),
            replication_table(&up),
            auditor_table(&up),
        ]);
    }
    for section in sections {
        out.push('\n');
        out.push_str(&section);
    }
    out
}

fn metadata_line(s: &Summary) -> String {
    match (s.leader, s.term) {
        (Some(leader), Some(term)) if s.leader_agreed => format!(
            "metadata leader {}, term {term} (all {} nodes up agree); {} partitions out of place",
            node_name(leader),
            s.nodes_up,
            s.out_of_place
        ),
        _ if s.nodes_up == 0 => "no node answered".to_owned(),
        _ => format!(
            "NO AGREED METADATA LEADER (see RAFT, TERM and LEADER); {} partitions out of place",
            s.out_of_place
        ),
    }
}

fn nodes_table(nodes: &[NodeReport]) -> String {
    let header = [
        "NODE",
        "ADDRESS",
        "STATE",
        "UPTIME",
        "VERSION",
        "RAFT",
        "TERM",
        "LEADER",
        "LOG",
        "APPLIED",
        "VOTERS",
        "OUT OF PLACE",
    ];
    let rows = nodes.iter().map(|r| {
        let mut row = vec![
            node_name(r.node_id),
            r.internode_addr.to_string(),
            r.state().to_owned(),
        ];
        match &r.status {
            Some(s) => {
                let m = &s.metadata;
                let voters: Vec<String> = m.voters.iter().map(u64::to_string).collect();
                row.extend([
                    duration(s.uptime_secs),
                    s.version.clone(),
                    role(m.role).to_owned(),
                    m.term.to_string(),
                    m.leader.map_or_else(|| "none".to_owned(), node_name),
                    optional(m.last_log_index),
                    optional(m.last_applied_index),
                    voters.join(","),
                    out_of_place(s),
                ]);
            }
            None => row.resize(header.len(), "-".to_owned()),
        }
        row
    });
    let mut out = table(&header, rows);
    for r in nodes {
        if let Some(e) = &r.error {
            let _ = writeln!(out, "{} is {}: {e}", node_name(r.node_id), r.state());
        }
    }
    out
}

/// Partitions out of place on a node's devices (`?` when a device could
/// not list its partitions).
fn out_of_place(s: &NodeStatus) -> String {
    let counts: Option<Vec<u32>> = s
        .devices
        .iter()
        .map(|d| d.placement.map(|p| p.out_of_place))
        .collect();
    counts.map_or_else(|| "?".to_owned(), |c| c.iter().sum::<u32>().to_string())
}

fn devices_table(up: &[&NodeStatus]) -> String {
    let header = [
        "DEVICE",
        "NODE",
        "USED",
        "FREE",
        "OBJECTS",
        "QUARANTINED",
        "PARTITIONS",
        "OUT OF PLACE",
        "HEALTH",
    ];
    let rows = up.iter().flat_map(|s| {
        s.devices.iter().map(|d| {
            vec![
                format!("{} (#{})", d.name, d.id),
                node_name(s.node_id),
                format_bytes(d.used_bytes),
                format_bytes(d.free_bytes),
                d.object_count.to_string(),
                d.quarantined_count.to_string(),
                optional(d.placement.map(|p| p.partitions_held.into())),
                optional(d.placement.map(|p| p.out_of_place.into())),
                if d.poisoned { "POISONED" } else { "ok" }.to_owned(),
            ]
        })
    });
    table(&header, rows)
}

fn replication_table(up: &[&NodeStatus]) -> String {
    let header = [
        "REPLICATION",
        "LAST PASS",
        "TOOK",
        "CHECKED",
        "DIFFERING",
        "PUSHED",
        "ERRORS",
        "PASSES",
        "PUSHED TOTAL",
        "ERRORS TOTAL",
    ];
    let rows = up.iter().map(|s| {
        let r = &s.replication;
        let mut row = vec![node_name(s.node_id)];
        match &r.last_pass {
            Some(p) => row.extend([
                format!("{} ago", duration(p.ended_secs_ago)),
                millis(p.duration_ms),
                p.partitions_checked.to_string(),
                p.buckets_differing.to_string(),
                p.objects_pushed.to_string(),
                p.errors.to_string(),
            ]),
            None => {
                row.push("none yet".to_owned());
                row.resize(7, "-".to_owned());
            }
        }
        row.extend([
            r.passes_completed.to_string(),
            r.objects_pushed.to_string(),
            r.errors.to_string(),
        ]);
        row
    });
    table(&header, rows)
}

fn auditor_table(up: &[&NodeStatus]) -> String {
    let header = ["AUDITOR", "PASSES", "OBJECTS", "BYTES", "CORRUPT"];
    let rows = up.iter().map(|s| {
        let a = &s.auditor;
        vec![
            node_name(s.node_id),
            a.passes_completed.to_string(),
            a.objects_audited.to_string(),
            format_bytes(a.bytes_audited),
            a.corrupt_found.to_string(),
        ]
    });
    table(&header, rows)
}

/// Left-aligned columns two spaces apart, each as wide as its widest cell.
fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

fn role(r: RaftRole) -> &'static str {
    match r {
        RaftRole::Leader => "leader",
        RaftRole::Follower => "follower",
        RaftRole::Candidate => "candidate",
        RaftRole::Learner => "learner",
        RaftRole::Shutdown => "shutdown",
    }
}

fn optional(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `310ms`, `2.5s`.
fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// `42s`, `4m 12s`, `3h 04m`, `2d 03h`.
fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}
