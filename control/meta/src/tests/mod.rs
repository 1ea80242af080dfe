//! In-crate tests of the state machine's semantics and of the listing
//! algorithm against a naive oracle, on a real rocksdb in a temp dir.

mod corrupt;
mod fixture;
mod listing_prop;
mod semantics;
mod snapshot_roundtrip;
mod volumes;
