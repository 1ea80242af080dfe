//! The NBD server: fixed newstyle negotiation and the transmission phase,
//! serving [`crate::Exports`].
//!
//! - [`proto`]: the wire format's constants and fixed headers (pure).
//! - [`options`]: option haggling as pure logic: payload decoding, the
//!   negotiation state, reply bytes.
//! - [`command`]: requests checked against the session, device errors as
//!   NBD errors, read and block status results as reply chunks (pure).
//! - [`reply`]: replies as values and their zero-copy encoding.
//! - `handshake`, `transmission`, `server`: the drivers that do the I/O.
//!
//! What is served: `NBD_OPT_EXPORT_NAME`, `ABORT`, `LIST`, `INFO`, `GO`,
//! `STRUCTURED_REPLY`, `LIST_META_CONTEXT`/`SET_META_CONTEXT` with
//! `base:allocation`; READ (holes as `OFFSET_HOLE` chunks), WRITE, DISC,
//! FLUSH, TRIM, CACHE, WRITE_ZEROES (with `NO_HOLE` and `FAST_ZERO`) and
//! BLOCK_STATUS; FUA; multi-conn; with [`NbdServer::with_tls`],
//! `NBD_OPT_STARTTLS` and nothing else before it (the spec's FORCEDTLS
//! mode: TLS 1.3, a client certificate from the CA required). Not served:
//! extended headers, oldstyle and non-fixed newstyle clients.
//!
//! - [`starttls`]: which options a connection may use before and after
//!   TLS (pure).
//! - [`tls`], [`pki`]: the server's (and a client's) rustls
//!   configuration, and the certificates (qemu's `tls-creds-x509`
//!   layout) they are made from.
//!
//! Choices where the spec leaves room:
//! - the empty export name (the "default export") is the only export when
//!   there is exactly one, and unknown otherwise;
//! - `NBD_OPT_INFO` attaches the export to learn its size (the device
//!   seam has no lighter look-up); metadata context options only check
//!   that it is listed;
//! - size constraints are the spec's defaults (1 / 4096 / 32 MiB);
//! - a WRITE over 32 MiB is answered `EINVAL` after its payload is read
//!   and dropped; past 64 MiB the connection is closed instead.

pub mod command;
mod handshake;
pub mod options;
pub mod pki;
pub mod proto;
pub mod reply;
mod server;
pub mod starttls;
pub mod tls;
mod transmission;

#[cfg(test)]
mod tests;

pub use server::NbdServer;
pub use tls::{ServerTls, TlsError};
