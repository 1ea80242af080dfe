//! How voters reach each other. openraft's `RaftNetworkFactory` is the
//! abstraction: a transport (QUIC, later) implements it for `TypeConfig`.
//! Here: the single-voter network, which reaches nobody, and an in-process
//! network that joins several `MetaNode`s in one process (tests).

mod in_process;
mod unreachable;

pub use in_process::{InProcessNetwork, InProcessRouter};
pub use unreachable::{SoloNetwork, UnreachablePeer};
