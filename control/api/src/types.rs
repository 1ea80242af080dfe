//! Records of the metadata service and the listing query.

use cairn_base::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metadata headers kept on an account or container, lowercase names
/// (`x-account-meta-*`, `x-container-meta-*`, `x-container-read`, …).
pub type MetaMap = BTreeMap<String, String>;

/// An account and its totals (exact: they are updated in the same Raft
/// commit as the listing entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub name: String,
    pub created: Timestamp,
    pub meta: MetaMap,
    pub container_count: u64,
    pub object_count: u64,
    pub bytes_used: u64,
}

/// A container and its totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub account: String,
    pub name: String,
    pub created: Timestamp,
    /// The last PUT or POST to the container itself.
    pub put_ts: Timestamp,
    pub meta: MetaMap,
    pub object_count: u64,
    pub bytes_used: u64,
}

/// Whether a container PUT created the container or updated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerPut {
    Created,
    Updated,
}

/// An object's listing entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub name: String,
    pub ts: Timestamp,
    pub size: u64,
    /// MD5 hex of the body.
    pub etag: String,
    pub content_type: String,
}

/// One row of an object listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectListItem {
    Object(ObjectEntry),
    /// A common prefix ending in the delimiter (`format=json`'s `subdir`).
    Subdir(String),
}

/// One row of a container listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerListItem {
    Container {
        name: String,
        object_count: u64,
        bytes_used: u64,
        last_modified: Timestamp,
    },
    Subdir(String),
}

/// Swift's listing parameters. Names compare as UTF-8 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    pub prefix: Option<String>,
    /// Rolls names up at the first occurrence of this string after the
    /// prefix (Swift allows several characters).
    pub delimiter: Option<String>,
    /// Only names strictly after this (before it when `reverse`).
    pub marker: Option<String>,
    /// Only names strictly before this (after it when `reverse`).
    pub end_marker: Option<String>,
    /// At most this many rows (objects and subdirs together).
    pub limit: usize,
    pub reverse: bool,
}
