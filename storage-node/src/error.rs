//! `EngineError`: why a storage node or one of its devices could not open.
//! Request-level failures are `cairn_nodeapi::NodeError`.

use cairn_nodeapi::NodeError;

/// A failure opening the node, a device, or its index.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("index error: {0}")]
    Index(String),
    #[error("index entry is corrupt: {0}")]
    CorruptEntry(String),
}

impl EngineError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<EngineError> for NodeError {
    fn from(e: EngineError) -> Self {
        NodeError::Io(e.to_string())
    }
}

/// Maps a disk error to the wire error: ENOSPC/EDQUOT are `DeviceFull`.
pub(crate) fn io_to_node(what: &str, e: &std::io::Error) -> NodeError {
    match e.raw_os_error() {
        Some(28) | Some(122) => NodeError::DeviceFull, // ENOSPC, EDQUOT
        _ => NodeError::Io(format!("{what}: {e}")),
    }
}
