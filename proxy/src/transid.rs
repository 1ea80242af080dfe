//! Transaction ids: `tx` + 21 hex digits + `-` + the hex epoch, as Swift
//! stamps on every response (X-Trans-Id, X-Openstack-Request-Id).

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh, unique transaction id for a request arriving at `now_secs`.
pub fn new_trans_id(now_secs: u64) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let salt: u32 = rand::random();
    format!(
        "tx{:08x}{:013x}-{:010x}",
        salt,
        n & 0x1f_ffff_ffff_ffff,
        now_secs
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_tempest() {
        // Ids match ^tx[0-9a-f]{21}-[0-9a-f]{10}$ and differ between calls.
        let a = new_trans_id(1_700_000_000);
        let b = new_trans_id(1_700_000_000);
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 + 21 + 1 + 10);
        let (head, tail) = a.split_once('-').unwrap();
        assert!(head.starts_with("tx") && head[2..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(tail, "006553f100");
    }
}
