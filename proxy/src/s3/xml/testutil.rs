//! Test helpers for S3's XML: reading our documents back with quick-xml
//! (independently of the request reader), escaping text for hand-written
//! bodies, and the seeded proptest runner (`SEED=` replays a run).

use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

/// `s` escaped as our writer escapes element text.
pub(crate) fn xml_text(s: &str) -> String {
    let mut out = String::new();
    super::write::escape_into(&mut out, s);
    out
}

/// Every leaf element of a well-formed document as (`Root/A/B`, decoded
/// text), in document order. Panics on malformed XML: our output must
/// always parse.
pub(crate) fn leaves(xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut path: Vec<String> = Vec::new();
    let mut had_child: Vec<bool> = Vec::new();
    let mut text = String::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("our XML parses") {
            Event::Start(e) => {
                if let Some(parent) = had_child.last_mut() {
                    *parent = true;
                }
                path.push(e.local_name().as_ref().to_owned());
                had_child.push(false);
                text.clear();
            }
            Event::End(_) => {
                if had_child.pop() == Some(false) {
                    out.push((path.join("/"), std::mem::take(&mut text)));
                }
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref().expect("valid reference") {
                Some(c) => text.push(c),
                None => text.push_str(resolve_predefined_entity(&r).expect("known entity")),
            },
            Event::Eof => break,
            Event::DocType(_) | Event::CData(_) | Event::Empty(_) => panic!("unexpected event"),
            _ => {}
        }
    }
    assert!(path.is_empty(), "unclosed: {path:?}");
    out
}

/// The `xmlns` of the root element, if any. Also checks the declaration.
pub(crate) fn root_namespace(xml: &str) -> Option<String> {
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().expect("our XML parses") {
            Event::Start(e) | Event::Empty(e) => {
                return e
                    .try_get_attribute("xmlns")
                    .expect("attributes parse")
                    .map(|a| a.value.into_owned());
            }
            Event::Eof => panic!("no root"),
            _ => {}
        }
    }
}

/// Asserts the document's leaves, in order, and that its root carries S3's
/// namespace.
#[track_caller]
pub(crate) fn assert_leaves(xml: &str, want: &[(&str, &str)]) {
    assert_eq!(root_namespace(xml).as_deref(), Some(super::S3_NAMESPACE));
    let got = leaves(xml);
    let got: Vec<(&str, &str)> = got.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    assert_eq!(got, want, "{xml}");
}

/// A proptest runner seeded from `SEED=` or at random; prints its seed.
pub(crate) fn runner() -> TestRunner {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(random_seed);
    println!("SEED={seed}");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
