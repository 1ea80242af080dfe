//! The NBD server: fixed newstyle negotiation and the transmission phase,
//! serving [`crate::Exports`].
