//! Key layout of the rocksdb column families: what each family holds and how
//! names become keys.
//!
//! Every state-machine key starts with the account, then the container, each
//! followed by a 0x00 separator, then the object name — all as raw UTF-8. So
//! rocksdb's byte order is Swift's listing order, one container's objects are
//! one contiguous range, and a later split of the keyspace into several Raft
//! groups (by account or container range) needs no change of format. Swift
//! rejects NUL in names, which makes the separator unambiguous; UTF-8 never
//! contains 0xFF, so `[0xFF]` is above every key.

/// The column families of the metadata store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cf {
    /// Raft log entries, key = big-endian index.
    Log,
    /// Raft vote, committed and last purged log ids.
    LogMeta,
    /// `account` -> `AccountInfo`.
    Accounts,
    /// `account 0 container` -> `ContainerInfo`.
    Containers,
    /// `account 0 container 0 name` -> `StoredObject`.
    Objects,
    /// `account 0 container 0 name` -> deletion timestamp (8 bytes BE).
    Tombstones,
    /// Last applied log id and membership of the state machine.
    SmMeta,
    /// `i` + volume id (16 bytes) -> `VolumeRecord`; `n` + name -> volume id.
    Volumes,
    /// `table 0 key` -> revision (8 bytes BE) + value: the control plane's
    /// record tables (`records`).
    Records,
}

impl Cf {
    /// Every column family, in a fixed order.
    pub const ALL: [Cf; 9] = [
        Cf::Log,
        Cf::LogMeta,
        Cf::Accounts,
        Cf::Containers,
        Cf::Objects,
        Cf::Tombstones,
        Cf::SmMeta,
        Cf::Volumes,
        Cf::Records,
    ];

    /// The families that make up the state machine's data (snapshot content,
    /// besides `SmMeta`, which a snapshot's metadata replaces).
    pub const DATA: [Cf; 6] = [
        Cf::Accounts,
        Cf::Containers,
        Cf::Objects,
        Cf::Tombstones,
        Cf::Volumes,
        Cf::Records,
    ];

    /// The rocksdb name of the family.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Log => "log",
            Cf::LogMeta => "log_meta",
            Cf::Accounts => "accounts",
            Cf::Containers => "containers",
            Cf::Objects => "objects",
            Cf::Tombstones => "tombstones",
            Cf::SmMeta => "sm_meta",
            Cf::Volumes => "volumes",
            Cf::Records => "records",
        }
    }

    /// A one-byte tag for snapshot records.
    pub fn tag(self) -> u8 {
        self as u8
    }

    /// The data family with this snapshot tag.
    pub fn from_tag(tag: u8) -> Option<Cf> {
        Cf::DATA.into_iter().find(|cf| cf.tag() == tag)
    }
}

/// Separator between account, container and object name.
pub const SEP: u8 = 0;

/// A key greater than every state-machine key (UTF-8 never contains 0xFF).
pub const KEY_END: &[u8] = &[0xFF];

/// `LogMeta` key of the vote.
pub const META_VOTE: &[u8] = b"vote";
/// `LogMeta` key of the committed log id.
pub const META_COMMITTED: &[u8] = b"committed";
/// `LogMeta` key of the last purged log id.
pub const META_PURGED: &[u8] = b"purged";
/// `SmMeta` key of the last applied log id.
pub const META_APPLIED: &[u8] = b"applied";
/// `SmMeta` key of the last applied membership.
pub const META_MEMBERSHIP: &[u8] = b"membership";

/// Whether `name` can be an account or container name in a key.
pub fn valid_component(name: &str) -> bool {
    !name.is_empty() && !name.as_bytes().contains(&SEP)
}

/// Whether `name` can be an object name in a key.
pub fn valid_object_name(name: &str) -> bool {
    !name.is_empty() && !name.as_bytes().contains(&SEP)
}

/// Key of an account record.
pub fn account(account: &str) -> Vec<u8> {
    account.as_bytes().to_vec()
}

/// Prefix of all container records of an account.
pub fn containers_prefix(account: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(account.len() + 1);
    k.extend_from_slice(account.as_bytes());
    k.push(SEP);
    k
}

/// Key of a container record.
pub fn container(account: &str, container: &str) -> Vec<u8> {
    let mut k = containers_prefix(account);
    k.extend_from_slice(container.as_bytes());
    k
}

/// Prefix of all object (and tombstone) keys of a container.
pub fn objects_prefix(account: &str, container_name: &str) -> Vec<u8> {
    let mut k = container(account, container_name);
    k.push(SEP);
    k
}

/// Key of an object entry or tombstone.
pub fn object(account: &str, container_name: &str, name: &str) -> Vec<u8> {
    let mut k = objects_prefix(account, container_name);
    k.extend_from_slice(name.as_bytes());
    k
}

/// The smallest key greater than every key that starts with `prefix`, or
/// `None` when there is none (all bytes 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Prefix of the volume records in `Volumes`.
pub const VOLUME_RECORDS: &[u8] = b"i";

/// Key of a volume record.
pub fn volume(id: &cairn_base::VolumeId) -> Vec<u8> {
    let mut k = VOLUME_RECORDS.to_vec();
    k.extend_from_slice(&id.0);
    k
}

/// Key of a volume's name entry.
pub fn volume_name(name: &str) -> Vec<u8> {
    let mut k = b"n".to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

/// Key of a log entry.
pub fn log_index(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The index in a log key, or `None` if the key is malformed.
pub fn parse_log_index(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Checks that key order equals Swift's (byte) order of names and that a
    // container's keys never interleave with a sibling container's.
    #[test]
    fn object_keys_sort_by_container_then_name_bytes() {
        let a = object("acct", "c", "a");
        let b = object("acct", "c", "a/b");
        let c = object("acct", "c", "b");
        let other = object("acct", "c0", "");
        assert!(a < b && b < c && c < other);
        assert!(
            object("acct", "c", "\u{10FFFF}") < prefix_end(&objects_prefix("acct", "c")).unwrap()
        );
    }

    // Checks the successor of a prefix, including trailing 0xFF bytes.
    #[test]
    fn prefix_end_increments_last_non_ff_byte() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
