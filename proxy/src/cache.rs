//! A short-lived cache of container records, so object requests do not ask
//! the metadata service whether their container exists every time.
//!
//! Listings never come from here: they are read from the metadata service.
//! A stale entry can only make an object request see a container (or its
//! ACLs) up to `ttl` late; changes made through this proxy invalidate at once.

use cairn_meta_api::ContainerInfo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries kept before the cache is cleared wholesale.
pub const CONTAINER_CACHE_ENTRIES_MAX: usize = 65_536;

type Entries = HashMap<(String, String), (Instant, Arc<ContainerInfo>)>;

/// `(account, container)` → record, each valid for `ttl`.
#[derive(Debug)]
pub struct ContainerCache {
    ttl: Duration,
    map: Mutex<Entries>,
}

impl ContainerCache {
    pub fn new(ttl: Duration) -> Self {
        ContainerCache {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh record, if cached.
    pub fn get(&self, account: &str, container: &str, now: Instant) -> Option<Arc<ContainerInfo>> {
        let key = (account.to_owned(), container.to_owned());
        let map = self.lock();
        let (at, info) = map.get(&key)?;
        (now.duration_since(*at) < self.ttl).then(|| info.clone())
    }

    pub fn put(&self, info: Arc<ContainerInfo>, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= CONTAINER_CACHE_ENTRIES_MAX {
            map.clear();
        }
        map.insert((info.account.clone(), info.name.clone()), (now, info));
    }

    pub fn invalidate(&self, account: &str, container: &str) {
        self.lock()
            .remove(&(account.to_owned(), container.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_base::Timestamp;

    #[test]
    fn entries_expire_and_invalidate() {
        // A record is served within its ttl, not after, and not after invalidation.
        let c = ContainerCache::new(Duration::from_millis(100));
        let info = Arc::new(ContainerInfo {
            account: "a".into(),
            name: "c".into(),
            created: Timestamp::ZERO,
            put_ts: Timestamp::ZERO,
            meta: Default::default(),
            object_count: 0,
            bytes_used: 0,
        });
        let t0 = Instant::now();
        c.put(info, t0);
        assert!(c.get("a", "c", t0 + Duration::from_millis(50)).is_some());
        assert!(c.get("a", "c", t0 + Duration::from_millis(150)).is_none());
        assert!(c.get("a", "x", t0).is_none());
        c.invalidate("a", "c");
        assert!(c.get("a", "c", t0).is_none());
    }
}
