//! Integration tests: the target on 127.0.0.1 with RAM-backed exports,
//! driven by libiscsi's command-line tools (`iscsi-ls`, `iscsi-inq`,
//! `iscsi-readcapacity16`). libiscsi's conformance suite runs against a real
//! Cairn volume in `tests/tests/block_iscsi.rs`.

use super::{serve, Credentials, TargetConfig};
use crate::device::mem::{MemDevice, MemExports};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const MIB: u64 = 1 << 20;

/// A running target; dropping it stops the server.
struct Target {
    port: u16,
    _stop: oneshot::Sender<()>,
}

impl Target {
    fn url(&self, name: &str) -> String {
        format!(
            "iscsi://127.0.0.1:{}/iqn.2026-11.io.cairn:{name}/0",
            self.port
        )
    }
}

async fn start(
    config: impl FnOnce(String) -> TargetConfig,
    devices: Vec<Arc<MemDevice>>,
) -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = oneshot::channel::<()>();
    let cfg = config(format!("127.0.0.1:{port}"));
    tokio::spawn(async move {
        let _ = serve(listener, MemExports::new(devices), cfg, async {
            let _ = rx.await;
        })
        .await;
    });
    Target { port, _stop: tx }
}

async fn start_plain(devices: Vec<Arc<MemDevice>>) -> Target {
    start(TargetConfig::new, devices).await
}

/// Runs a libiscsi tool with a deadline.
async fn tool(program: &str, args: &[&str], limit: Duration) -> Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(limit, child)
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} timed out"))
        .unwrap_or_else(|e| panic!("{program} could not run: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SHORT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iscsi_ls_lists_every_export_with_its_lun() {
    // Discovery (SendTargets) lists both exports; -s logs into each and
    // reports LUN 0 as a disk of the right size.
    let t = start_plain(vec![
        MemDevice::new("alpha", 64 * MIB),
        MemDevice::new("beta", 8 * MIB),
    ])
    .await;
    let portal = format!("iscsi://127.0.0.1:{}", t.port);
    let o = tool("iscsi-ls", &["-s", &portal], SHORT).await;
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Target:iqn.2026-11.io.cairn:alpha"), "{out}");
    assert!(out.contains("Target:iqn.2026-11.io.cairn:beta"), "{out}");
    assert!(
        out.contains(&format!("Portal:127.0.0.1:{},1", t.port)),
        "{out}"
    );
    assert!(out.contains("Lun:0"), "{out}");
    assert!(
        out.contains("67108864") || out.contains("64M") || out.contains("(Size:"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inquiry_vpd_pages_and_capacity() {
    // iscsi-inq reads the standard page and each VPD page we list, and
    // iscsi-readcapacity16 sees the size and thin provisioning; the same
    // works with CRC32C header digests negotiated.
    let t = start_plain(vec![MemDevice::new("vol", 64 * MIB)]).await;
    let url = t.url("vol");
    let o = tool("iscsi-inq", &[&url], SHORT).await;
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Vendor:CAIRN"), "{out}");
    assert!(out.contains("04c0 SBC-3"), "{out}");
    let o = tool("iscsi-inq", &["-e", "1", "-c", "0", &url], SHORT).await;
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for page in ["0xb0", "0xb1", "0xb2", "0x80", "0x83"] {
        assert!(
            out.to_lowercase().contains(page),
            "{page} missing from {out}"
        );
        let o = tool(
            "iscsi-inq",
            &[
                "-e",
                "1",
                "-c",
                &u8::from_str_radix(&page[2..], 16).unwrap().to_string(),
                &url,
            ],
            SHORT,
        )
        .await;
        assert!(o.status.success(), "page {page}: {}", text(&o));
    }
    let o = tool("iscsi-inq", &["-e", "1", "-c", "178", &url], SHORT).await;
    let out = text(&o).to_lowercase();
    assert!(out.contains("lbpu:1") && out.contains("lbpws:1"), "{out}");
    let o = tool("iscsi-readcapacity16", &[&url], SHORT).await;
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("LOGICAL BLOCK LENGTH IN BYTES:512"), "{out}");
    assert!(out.contains("LBPME:1"), "{out}");
    assert!(out.contains(&format!("Total size:{}", 64 * MIB)), "{out}");
    let digest_url = format!("{url}?header_digest=crc32c");
    let o = tool("iscsi-readcapacity16", &[&digest_url], SHORT).await;
    assert!(o.status.success(), "{}", text(&o));
}

fn creds(user: &str, secret: &str) -> Option<Credentials> {
    Some(Credentials {
        user: user.into(),
        secret: secret.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chap_one_way_and_mutual() {
    // With CHAP configured the right secret logs in; a wrong secret or no
    // credentials is refused; mutual CHAP works when the initiator expects
    // the target's secret and fails when it expects another.
    let t = start(
        |portal| TargetConfig {
            chap: creds("alice", "alice-secret-1"),
            mutual_chap: creds("target", "target-secret-1"),
            ..TargetConfig::new(portal)
        },
        vec![MemDevice::new("vol", 8 * MIB)],
    )
    .await;
    let url = |userinfo: &str, query: &str| {
        format!(
            "iscsi://{userinfo}127.0.0.1:{}/iqn.2026-11.io.cairn:vol/0{query}",
            t.port
        )
    };
    let ok = tool("iscsi-inq", &[&url("alice%alice-secret-1@", "")], SHORT).await;
    assert!(ok.status.success(), "{}", text(&ok));
    let wrong = tool("iscsi-inq", &[&url("alice%not-the-secret@", "")], SHORT).await;
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("Authentication failure"),
        "{}",
        text(&wrong)
    );
    let none = tool("iscsi-inq", &[&url("", "")], SHORT).await;
    assert!(!none.status.success());
    let mutual = tool(
        "iscsi-inq",
        &[&url(
            "alice%alice-secret-1@",
            "?target_user=target&target_password=target-secret-1",
        )],
        SHORT,
    )
    .await;
    assert!(mutual.status.success(), "{}", text(&mutual));
    let bad_mutual = tool(
        "iscsi-inq",
        &[&url(
            "alice%alice-secret-1@",
            "?target_user=target&target_password=other-secret-1",
        )],
        SHORT,
    )
    .await;
    assert!(!bad_mutual.status.success());
    let ls = tool(
        "iscsi-ls",
        &[
            "-s",
            &format!("iscsi://alice%alice-secret-1@127.0.0.1:{}", t.port),
        ],
        SHORT,
    )
    .await;
    assert!(
        text(&ls).contains("iqn.2026-11.io.cairn:vol"),
        "{}",
        text(&ls)
    );
}
