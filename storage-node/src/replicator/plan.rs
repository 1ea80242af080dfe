//! The push plan for one suffix bucket: given what this replica and a peer
//! hold, which entries to send the peer. Pure: no I/O, no time.
//!
//! Push only, as Swift's replicator: an entry is sent when the peer lacks it
//! or holds an older version; what the peer has newer, it pushes back from
//! its own pass. Newest timestamp wins, as on every device:
//! - a newer `data_ts` here: the object (PUT of its bytes and metadata) or
//!   the tombstone (DELETE at its timestamp);
//! - the same live object with a newer `meta_ts` here: its metadata (POST).
//!
//! Tombstones older than the reclaim horizon are not sent: each replica is
//! about to drop its own, and sending them would bring them back.

use cairn_base::Timestamp;
use cairn_nodeapi::EntryVersion;
use std::cmp::Ordering;

/// One thing to send a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Push {
    Object(EntryVersion),
    Metadata(EntryVersion),
    Tombstone(EntryVersion),
}

impl Push {
    /// The local version the push sends.
    pub(crate) fn version(&self) -> &EntryVersion {
        match self {
            Push::Object(v) | Push::Metadata(v) | Push::Tombstone(v) => v,
        }
    }
}

/// What to push to a peer whose bucket holds `peer`, from `local`; both
/// sorted by key, as `list_bucket` returns them.
pub(crate) fn plan_bucket(
    local: &[EntryVersion],
    peer: &[EntryVersion],
    reclaim_before: Timestamp,
) -> Vec<Push> {
    let mut out = Vec::new();
    let mut theirs = peer.iter().peekable();
    for mine in local {
        while theirs.next_if(|t| t.key < mine.key).is_some() {}
        let other = theirs.next_if(|t| t.key == mine.key);
        if let Some(p) = push_for(mine, other, reclaim_before) {
            out.push(p);
        }
    }
    out
}

fn push_for(
    mine: &EntryVersion,
    theirs: Option<&EntryVersion>,
    reclaim_before: Timestamp,
) -> Option<Push> {
    if mine.tombstone && mine.data_ts < reclaim_before {
        return None;
    }
    let data = theirs.map_or(Ordering::Greater, |t| mine.data_ts.cmp(&t.data_ts));
    match data {
        Ordering::Greater if mine.tombstone => Some(Push::Tombstone(mine.clone())),
        Ordering::Greater => Some(Push::Object(mine.clone())),
        Ordering::Equal => {
            let t = theirs?;
            let newer_meta = !mine.tombstone && !t.tombstone && mine.meta_ts > t.meta_ts;
            newer_meta.then(|| Push::Metadata(mine.clone()))
        }
        Ordering::Less => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_nodeapi::ObjectKey;

    fn v(id: u8, data: u64, meta: u64, tombstone: bool) -> EntryVersion {
        let mut hash = [0u8; 16];
        hash[1] = id;
        EntryVersion {
            key: ObjectKey { partition: 1, hash },
            name: format!("/a/c/{id}"),
            data_ts: Timestamp::from_ticks(data),
            meta_ts: Timestamp::from_ticks(meta),
            tombstone,
        }
    }

    #[test]
    fn pushes_only_what_the_peer_lacks_or_has_older() {
        // Each case of the newest-wins rule, side by side in one bucket.
        let local = vec![
            v(1, 10, 10, false), // peer lacks it → object
            v(2, 20, 20, false), // peer older → object
            v(3, 10, 15, false), // same data, newer metadata → POST
            v(4, 30, 30, true),  // newer tombstone → DELETE
            v(5, 10, 10, false), // peer newer → nothing
            v(6, 10, 10, false), // identical → nothing
            v(7, 10, 12, false), // peer has newer metadata → nothing
            v(8, 10, 10, true),  // peer lacks an old tombstone → nothing (reclaimed)
        ];
        let peer = vec![
            v(0, 1, 1, false),
            v(2, 10, 10, false),
            v(3, 10, 11, false),
            v(4, 20, 20, false),
            v(5, 11, 11, true),
            v(6, 10, 10, false),
            v(7, 10, 14, false),
            v(9, 1, 1, false),
        ];
        let plan = plan_bucket(&local, &peer, Timestamp::from_ticks(11));
        assert_eq!(
            plan,
            vec![
                Push::Object(local[0].clone()),
                Push::Object(local[1].clone()),
                Push::Metadata(local[2].clone()),
                Push::Tombstone(local[3].clone()),
            ]
        );
        assert!(plan_bucket(&local, &local, Timestamp::ZERO).is_empty());
    }
}
