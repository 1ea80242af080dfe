//! The iSCSI target (RFC 7143) and its SCSI command set, serving
//! [`crate::Exports`].
