//! `LiveRing`: the ring in force for a running process, which a newer
//! ring replaces whole while lookups go on.

use std::sync::{Arc, RwLock};

use crate::Ring;

/// A ring that can be replaced while its users run (a rebalance published a
/// newer one): lookups take the current ring under a short read lock.
#[derive(Debug)]
pub struct LiveRing {
    current: RwLock<Arc<Ring>>,
}

impl LiveRing {
    pub fn new(ring: Ring) -> Self {
        LiveRing {
            current: RwLock::new(Arc::new(ring)),
        }
    }

    /// Installs `ring` for every later lookup.
    pub fn replace(&self, ring: Ring) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
    }

    /// The ring in use now.
    pub fn current(&self) -> Arc<Ring> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
