//! Fuzzes the proxy's parsers of Swift request input: the path, the query
//! string, `Range`, `X-Copy-From`/`Destination` and container ACLs. None
//! may panic, whatever the bytes; a parsed range plan stays inside the object.
#![no_main]

use cairn_proxy::{parse_path, parse_query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_path(text);
    let _ = parse_query(text);
    let _ = cairn_proxy::path::parse_copy_ref(text);
    let _ = cairn_proxy::auth::Acl::parse(text);
    if let Some(specs) = cairn_proxy::range::parse_range(text) {
        let length = data.len() as u64 * 7919;
        let _ = cairn_proxy::range::plan(&specs, length);
    }
});
