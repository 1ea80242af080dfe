//! MD5, the ETag of Swift and S3 objects, computed so that concurrent
//! uploads share the work: [`Md5`] is one stream, [`lanes`] advances up to
//! four streams in one interleaved pass, and [`Batcher`] is the process's
//! hashing thread that groups the uploads in flight into those passes.
//! Decision 0023 says why.

mod batcher;
mod digest;
pub mod lanes;

pub use batcher::{Batcher, HasherGone, UploadMd5, BACKLOG_MAX, INLINE_MAX, SOLO_AFTER};
pub use digest::Md5;
