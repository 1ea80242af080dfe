//! Fuzzes the parsers of S3's XML request bodies: DeleteObjects'
//! `<Delete>`, `<CompleteMultipartUpload>` and `<CreateBucketConfiguration>`.
//! None may panic, whatever the bytes; what they accept keeps S3's limits
//! (1..=1000 objects with non-empty keys, 1..=10000 parts numbered
//! 1..=10000 with MD5 ETags in lowercase hex, a non-empty region).
#![no_main]

use cairn_proxy::s3::xml::{
    check_order, parse_complete_multipart_upload, parse_create_bucket_configuration, parse_delete,
    DELETE_OBJECTS_MAX, PARTS_MAX,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = parse_delete(data) {
        assert!((1..=DELETE_OBJECTS_MAX).contains(&d.objects.len()));
        assert!(d.objects.iter().all(|o| !o.key.is_empty()));
    }
    if let Ok(parts) = parse_complete_multipart_upload(data) {
        assert!((1..=PARTS_MAX as usize).contains(&parts.len()));
        for p in &parts {
            assert!((1..=PARTS_MAX).contains(&p.part_number), "{p:?}");
            assert!(p.etag.len() == 32, "{p:?}");
            assert!(
                p.etag
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{p:?}"
            );
        }
        let _ = check_order(&parts);
    }
    if let Ok(Some(region)) = parse_create_bucket_configuration(data) {
        assert!(!region.is_empty());
    }
});
