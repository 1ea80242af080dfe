//! The request bodies S3 clients send as XML: `Delete` (DeleteObjects),
//! `CompleteMultipartUpload` and `CreateBucketConfiguration`, each parsed
//! into a typed value or refused with the error Amazon S3 (and s3api) gives.

use super::read::{malformed, walk, Visitor};
use crate::s3::error::{S3Error, S3ErrorCode};

/// The most objects one DeleteObjects request may name (S3's limit).
pub const DELETE_OBJECTS_MAX: usize = 1000;
/// The largest DeleteObjects body: 1000 keys of up to 1024 bytes, twice
/// over for markup and escaping (s3api's allowance).
pub const DELETE_BODY_BYTES_MAX: usize = 2 * DELETE_OBJECTS_MAX * 1024;
/// The most parts one multipart upload may have (S3's limit).
pub const PARTS_MAX: u32 = 10_000;
/// The largest CompleteMultipartUpload body: 10000 parts, each with an
/// ETag, a checksum and indentation, fit in about 2 MiB; twice that leaves
/// room for every optional checksum element.
pub const COMPLETE_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The largest CreateBucket body (s3api's limit).
pub const CREATE_BUCKET_BODY_BYTES_MAX: usize = 10 * 1024;

/// One object a DeleteObjects request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectIdentifier {
    pub key: String,
    pub version_id: Option<String>,
}

/// A DeleteObjects request: in quiet mode only failures are reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    pub quiet: bool,
    pub objects: Vec<ObjectIdentifier>,
}

/// One part a CompleteMultipartUpload request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// In `1..=PARTS_MAX`.
    pub part_number: u32,
    /// The part's MD5, unquoted lowercase hex.
    pub etag: String,
}

/// Parses a DeleteObjects body: `<Delete>[<Quiet>true</Quiet>]<Object>
/// <Key>k</Key>[<VersionId>v</VersionId>]</Object>…</Delete>`. An empty body
/// is `MissingRequestBodyError`, an empty key `UserKeyMustBeSpecified`, no
/// objects or more than [`DELETE_OBJECTS_MAX`] `MalformedXML`. Unknown
/// elements are ignored.
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    if body.is_empty() {
        return Err(S3Error::new(S3ErrorCode::MissingRequestBodyError));
    }
    let mut v = DeleteVisitor::default();
    walk(body, "Delete", DELETE_BODY_BYTES_MAX, &mut v)?;
    if v.objects.is_empty() {
        return Err(malformed());
    }
    Ok(DeleteRequest {
        quiet: v.quiet,
        objects: v.objects,
    })
}

#[derive(Default)]
struct DeleteVisitor {
    quiet: bool,
    objects: Vec<ObjectIdentifier>,
    key: Option<String>,
    version_id: Option<String>,
}

impl Visitor for DeleteVisitor {
    fn start(&mut self, path: &str) -> Result<(), S3Error> {
        if path == "Object" {
            if self.objects.len() == DELETE_OBJECTS_MAX {
                return Err(malformed());
            }
            self.key = None;
            self.version_id = None;
        }
        Ok(())
    }

    fn end(&mut self, path: &str, text: &str) -> Result<(), S3Error> {
        match path {
            "Quiet" => self.quiet = parse_bool(text)?,
            "Object/Key" => set_once(&mut self.key, text)?,
            "Object/VersionId" => set_once(&mut self.version_id, text)?,
            "Object" => {
                let key = self.key.take().ok_or_else(malformed)?;
                if key.is_empty() {
                    return Err(S3Error::new(S3ErrorCode::UserKeyMustBeSpecified));
                }
                self.objects.push(ObjectIdentifier {
                    key,
                    version_id: self.version_id.take(),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// Parses a CompleteMultipartUpload body: `<CompleteMultipartUpload><Part>
/// <PartNumber>1</PartNumber><ETag>"…"</ETag>[<Checksum…>]</Part>…
/// </CompleteMultipartUpload>`. An empty body is `InvalidRequest` (s3api's
/// "You must specify at least one part"); no parts, more than [`PARTS_MAX`],
/// a missing or non-integer part number or a missing ETag `MalformedXML`; a
/// part number outside `1..=PARTS_MAX` `InvalidArgument`; an ETag that is no
/// MD5 `InvalidPart`. The order is left to [`check_order`].
pub fn parse_complete_multipart_upload(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    if body.is_empty() {
        return Err(S3Error::new(S3ErrorCode::InvalidRequest)
            .with_message("You must specify at least one part"));
    }
    let mut v = CompleteVisitor::default();
    walk(
        body,
        "CompleteMultipartUpload",
        COMPLETE_BODY_BYTES_MAX,
        &mut v,
    )?;
    if v.parts.is_empty() {
        return Err(malformed());
    }
    Ok(v.parts)
}

/// `InvalidPartOrder` unless part numbers strictly ascend (a repeated part
/// is out of order too, as in s3api).
pub fn check_order(parts: &[CompletedPart]) -> Result<(), S3Error> {
    if parts
        .windows(2)
        .all(|w| w[0].part_number < w[1].part_number)
    {
        Ok(())
    } else {
        Err(S3Error::new(S3ErrorCode::InvalidPartOrder))
    }
}

#[derive(Default)]
struct CompleteVisitor {
    parts: Vec<CompletedPart>,
    number: Option<String>,
    etag: Option<String>,
}

impl Visitor for CompleteVisitor {
    fn start(&mut self, path: &str) -> Result<(), S3Error> {
        if path == "Part" {
            if self.parts.len() == PARTS_MAX as usize {
                return Err(malformed());
            }
            self.number = None;
            self.etag = None;
        }
        Ok(())
    }

    fn end(&mut self, path: &str, text: &str) -> Result<(), S3Error> {
        match path {
            "Part/PartNumber" => set_once(&mut self.number, text)?,
            "Part/ETag" => set_once(&mut self.etag, text)?,
            "Part" => {
                let number = self.number.take().ok_or_else(malformed)?;
                let etag = self.etag.take().ok_or_else(malformed)?;
                let part_number = part_number(&number)?;
                let etag = part_etag(&etag).ok_or_else(|| {
                    S3Error::new(S3ErrorCode::InvalidPart)
                        .with("PartNumber", number.trim())
                        .with("ETag", etag.as_str())
                })?;
                self.parts.push(CompletedPart { part_number, etag });
            }
            _ => {}
        }
        Ok(())
    }
}

/// An integer (XML Schema's `int`: surrounding whitespace, an optional sign)
/// in `1..=PARTS_MAX`.
fn part_number(text: &str) -> Result<u32, S3Error> {
    let n: i64 = text.trim().parse().map_err(|_| malformed())?;
    match u32::try_from(n) {
        Ok(n) if (1..=PARTS_MAX).contains(&n) => Ok(n),
        _ => Err(S3Error::invalid_argument(
            "partNumber",
            text.trim(),
            format!("Part number must be an integer between 1 and {PARTS_MAX}, inclusive"),
        )),
    }
}

/// The MD5 hex inside an ETag, quotes and whitespace stripped, lowercased.
fn part_etag(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(t);
    (t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| t.to_ascii_lowercase())
}

/// Parses a CreateBucket body: `<CreateBucketConfiguration>
/// <LocationConstraint>region</LocationConstraint></CreateBucketConfiguration>`.
/// An empty body, a missing or an empty constraint (us-east-1) is `None`.
pub fn parse_create_bucket_configuration(body: &[u8]) -> Result<Option<String>, S3Error> {
    if body.trim_ascii().is_empty() {
        return Ok(None);
    }
    let mut v = LocationVisitor::default();
    walk(
        body,
        "CreateBucketConfiguration",
        CREATE_BUCKET_BODY_BYTES_MAX,
        &mut v,
    )?;
    Ok(v.location.filter(|l| !l.is_empty()))
}

#[derive(Default)]
struct LocationVisitor {
    location: Option<String>,
}

impl Visitor for LocationVisitor {
    fn start(&mut self, _path: &str) -> Result<(), S3Error> {
        Ok(())
    }

    fn end(&mut self, path: &str, text: &str) -> Result<(), S3Error> {
        if path == "LocationConstraint" {
            set_once(&mut self.location, text.trim())?;
        }
        Ok(())
    }
}

/// Stores an element's text, refusing a second occurrence.
fn set_once(slot: &mut Option<String>, text: &str) -> Result<(), S3Error> {
    if slot.is_some() {
        return Err(malformed());
    }
    *slot = Some(text.to_owned());
    Ok(())
}

/// XML Schema's boolean (`true`/`false`/`1`/`0`), case aside, as s3api reads `Quiet`.
fn parse_bool(text: &str) -> Result<bool, S3Error> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") || t == "1" => Ok(true),
        t if t.eq_ignore_ascii_case("false") || t == "0" => Ok(false),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::xml::testutil::{runner, xml_text};
    use proptest::prelude::*;

    fn code<T: std::fmt::Debug>(r: Result<T, S3Error>) -> S3ErrorCode {
        r.unwrap_err().code
    }

    fn obj(key: &str, version_id: Option<&str>) -> ObjectIdentifier {
        ObjectIdentifier {
            key: key.to_owned(),
            version_id: version_id.map(str::to_owned),
        }
    }

    fn delete_body(keys: &[&str]) -> String {
        let objects: String = keys
            .iter()
            .map(|k| format!("<Object><Key>{}</Key></Object>", xml_text(k)))
            .collect();
        format!("<Delete>{objects}</Delete>")
    }

    #[test]
    fn delete_reads_quiet_keys_and_versions() {
        // The documented shape, with the namespace, quiet mode and a version.
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Quiet>true</Quiet>
              <Object><Key>sample1.txt</Key></Object>
              <Object><Key>sample2.txt</Key><VersionId>v2</VersionId></Object>
            </Delete>"#;
        assert_eq!(
            parse_delete(body.as_bytes()).unwrap(),
            DeleteRequest {
                quiet: true,
                objects: vec![obj("sample1.txt", None), obj("sample2.txt", Some("v2"))],
            }
        );
    }

    #[test]
    fn delete_is_loud_by_default_and_ignores_unknown_elements() {
        // No Quiet means false; unknown elements anywhere are skipped.
        let body = "<Delete><Foo><Key>no</Key></Foo><Object><Key>a</Key><ETag>x</ETag>\
                    </Object><Quiet>FALSE</Quiet></Delete>";
        assert_eq!(
            parse_delete(body.as_bytes()).unwrap(),
            DeleteRequest {
                quiet: false,
                objects: vec![obj("a", None)],
            }
        );
    }

    #[test]
    fn delete_keys_decode_entities_and_keep_spaces() {
        // Escaped markup, CR/LF references and surrounding spaces survive.
        let body = "<Delete><Object><Key> a&lt;b&gt;&amp;&quot;&apos;&#xD;&#10;é </Key>\
                    </Object><Object><Key><![CDATA[x<y]]></Key></Object></Delete>";
        let got = parse_delete(body.as_bytes()).unwrap().objects;
        assert_eq!(got, vec![obj(" a<b>&\"'\r\né ", None), obj("x<y", None)]);
    }

    #[test]
    fn delete_refuses_bad_bodies_with_s3s_codes() {
        // Empty body, empty key, missing key, no objects, two keys, bad Quiet.
        use S3ErrorCode as C;
        assert_eq!(code(parse_delete(b"")), C::MissingRequestBodyError);
        let cases = [
            (
                "<Delete><Object><Key></Key></Object></Delete>",
                C::UserKeyMustBeSpecified,
            ),
            (
                "<Delete><Object><Key/></Object></Delete>",
                C::UserKeyMustBeSpecified,
            ),
            (
                "<Delete><Object><VersionId>1</VersionId></Object></Delete>",
                C::MalformedXML,
            ),
            ("<Delete></Delete>", C::MalformedXML),
            ("<Delete><Quiet>true</Quiet></Delete>", C::MalformedXML),
            (
                "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
                C::MalformedXML,
            ),
            (
                "<Delete><Quiet>yes</Quiet><Object><Key>a</Key></Object></Delete>",
                C::MalformedXML,
            ),
            (
                "<Remove><Object><Key>a</Key></Object></Remove>",
                C::MalformedXML,
            ),
            ("<Delete><Object><Key>a</Key></Object>", C::MalformedXML),
        ];
        for (body, want) in cases {
            assert_eq!(code(parse_delete(body.as_bytes())), want, "{body}");
        }
    }

    #[test]
    fn delete_takes_1000_objects_but_not_1001() {
        // S3's limit: the 1001st object makes the document malformed.
        let keys: Vec<String> = (0..=DELETE_OBJECTS_MAX).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let ok = parse_delete(delete_body(&refs[..DELETE_OBJECTS_MAX]).as_bytes()).unwrap();
        assert_eq!(ok.objects.len(), DELETE_OBJECTS_MAX);
        assert_eq!(
            code(parse_delete(delete_body(&refs).as_bytes())),
            S3ErrorCode::MalformedXML
        );
    }

    #[test]
    fn delete_of_1000_longest_keys_fits_the_body_limit() {
        // 1000 keys of 1024 bytes, in the documented markup, are accepted.
        let key = "k".repeat(1024);
        let keys = vec![key.as_str(); DELETE_OBJECTS_MAX];
        let body = delete_body(&keys);
        assert!(body.len() <= DELETE_BODY_BYTES_MAX);
        assert_eq!(parse_delete(body.as_bytes()).unwrap().objects.len(), 1000);
        let huge = format!("<Delete>{}</Delete>", " ".repeat(DELETE_BODY_BYTES_MAX));
        assert_eq!(
            code(parse_delete(huge.as_bytes())),
            S3ErrorCode::MalformedXML
        );
    }

    fn complete_body(parts: &[(&str, &str)]) -> String {
        let parts: String = parts
            .iter()
            .map(|(n, e)| format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"))
            .collect();
        format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
    }

    const MD5: &str = "0123456789abcdef0123456789abcdef";

    fn part(n: u32) -> CompletedPart {
        CompletedPart {
            part_number: n,
            etag: MD5.to_owned(),
        }
    }

    #[test]
    fn complete_reads_parts_and_normalizes_etags() {
        // Quoted (raw or &quot;), upper-case or bare ETags all become lowercase
        // hex; checksums and the namespace are accepted.
        let upper = format!("\"{}\"", MD5.to_uppercase());
        let body = format!(
            r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
                 <Part><PartNumber>1</PartNumber><ETag>&quot;{MD5}&quot;</ETag>
                       <ChecksumCRC32C>AAAAAA==</ChecksumCRC32C></Part>
                 <Part><ETag>{upper}</ETag><PartNumber> 2 </PartNumber></Part>
                 <Part><PartNumber>+10000</PartNumber><ETag>{MD5}</ETag></Part>
               </CompleteMultipartUpload>"#
        );
        let got = parse_complete_multipart_upload(body.as_bytes()).unwrap();
        assert_eq!(got, vec![part(1), part(2), part(10_000)]);
        assert!(check_order(&got).is_ok());
    }

    #[test]
    fn complete_refuses_bad_parts_with_s3s_codes() {
        // Out-of-range numbers are InvalidArgument, non-MD5 ETags InvalidPart,
        // structural faults MalformedXML, an empty body InvalidRequest.
        use S3ErrorCode as C;
        let q = format!("\"{MD5}\"");
        let cases = [
            (complete_body(&[("0", &q)]), C::InvalidArgument),
            (complete_body(&[("10001", &q)]), C::InvalidArgument),
            (complete_body(&[("-1", &q)]), C::InvalidArgument),
            (complete_body(&[("1", "\"abc\"")]), C::InvalidPart),
            (
                complete_body(&[("1", &format!("\"{MD5}-2\""))]),
                C::InvalidPart,
            ),
            (complete_body(&[("1", "")]), C::InvalidPart),
            (complete_body(&[("one", &q)]), C::MalformedXML),
            (
                complete_body(&[("99999999999999999999", &q)]),
                C::MalformedXML,
            ),
            (complete_body(&[]), C::MalformedXML),
            (
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>\
              </CompleteMultipartUpload>"
                    .to_owned(),
                C::MalformedXML,
            ),
            (
                "<CompleteMultipartUpload><Part><ETag>x</ETag></Part>\
              </CompleteMultipartUpload>"
                    .to_owned(),
                C::MalformedXML,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                code(parse_complete_multipart_upload(body.as_bytes())),
                want,
                "{body}"
            );
        }
        assert_eq!(
            code(parse_complete_multipart_upload(b"")),
            C::InvalidRequest
        );
    }

    #[test]
    fn complete_errors_name_the_argument_and_the_part() {
        // InvalidArgument carries partNumber and the value; InvalidPart the part.
        let e = parse_complete_multipart_upload(complete_body(&[("0", MD5)]).as_bytes());
        let e = e.unwrap_err();
        assert_eq!(
            e.extra,
            vec![
                ("ArgumentName", "partNumber".to_owned()),
                ("ArgumentValue", "0".to_owned())
            ]
        );
        let e = parse_complete_multipart_upload(complete_body(&[("3", "\"zz\"")]).as_bytes());
        let e = e.unwrap_err();
        assert_eq!(
            e.extra,
            vec![
                ("PartNumber", "3".to_owned()),
                ("ETag", "\"zz\"".to_owned())
            ]
        );
    }

    #[test]
    fn complete_takes_10000_parts_within_the_body_limit_but_not_10001() {
        // The largest legal upload, pretty-printed with a SHA-256 checksum
        // per part, fits; one more part is malformed.
        let one = |n: u32| {
            format!(
                "\n  <Part>\n    <PartNumber>{n}</PartNumber>\n    <ETag>\"{MD5}\"</ETag>\n    \
                 <ChecksumSHA256>{}</ChecksumSHA256>\n  </Part>",
                "A".repeat(44)
            )
        };
        let body = |n: u32| {
            let parts: String = (1..=n).map(one).collect();
            format!("<CompleteMultipartUpload>{parts}\n</CompleteMultipartUpload>")
        };
        let full = body(PARTS_MAX);
        assert!(full.len() <= COMPLETE_BODY_BYTES_MAX, "{}", full.len());
        let parts = parse_complete_multipart_upload(full.as_bytes()).unwrap();
        assert_eq!(parts.len(), PARTS_MAX as usize);
        assert_eq!(
            code(parse_complete_multipart_upload(
                body(PARTS_MAX + 1).as_bytes()
            )),
            S3ErrorCode::MalformedXML
        );
    }

    #[test]
    fn order_must_strictly_ascend() {
        // Gaps are fine; a descent or a repeat is InvalidPartOrder.
        assert!(check_order(&[]).is_ok());
        assert!(check_order(&[part(1), part(3), part(9)]).is_ok());
        assert_eq!(
            code(check_order(&[part(2), part(1)])),
            S3ErrorCode::InvalidPartOrder
        );
        assert_eq!(
            code(check_order(&[part(1), part(1)])),
            S3ErrorCode::InvalidPartOrder
        );
    }

    #[test]
    fn create_bucket_reads_the_location_constraint() {
        // The region, trimmed; empty body, empty or missing constraint are None.
        let body = r#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
                        <LocationConstraint> eu-west-1 </LocationConstraint>
                      </CreateBucketConfiguration>"#;
        assert_eq!(
            parse_create_bucket_configuration(body.as_bytes()).unwrap(),
            Some("eu-west-1".to_owned())
        );
        for none in [
            "",
            " \n",
            "<CreateBucketConfiguration/>",
            "<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>",
        ] {
            assert_eq!(
                parse_create_bucket_configuration(none.as_bytes()).unwrap(),
                None,
                "{none}"
            );
        }
    }

    #[test]
    fn create_bucket_refuses_bad_bodies() {
        // Wrong root, two constraints, broken XML, an oversized body.
        for body in [
            "<Config><LocationConstraint>x</LocationConstraint></Config>".to_owned(),
            "<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint>\
             <LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>"
                .to_owned(),
            "<CreateBucketConfiguration>".to_owned(),
            format!(
                "<CreateBucketConfiguration>{}</CreateBucketConfiguration>",
                " ".repeat(CREATE_BUCKET_BODY_BYTES_MAX)
            ),
        ] {
            assert_eq!(
                code(parse_create_bucket_configuration(body.as_bytes())),
                S3ErrorCode::MalformedXML,
                "{body}"
            );
        }
    }

    #[test]
    fn random_bytes_never_panic_any_parser() {
        // Arbitrary bytes and mutated valid documents only ever yield errors.
        let seeds = [
            delete_body(&["a", "b&c"]),
            complete_body(&[("1", MD5), ("2", MD5)]),
            "<CreateBucketConfiguration><LocationConstraint>x</LocationConstraint>\
             </CreateBucketConfiguration>"
                .to_owned(),
        ];
        let input = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            (
                0..seeds.len(),
                any::<usize>(),
                proptest::collection::vec(any::<u8>(), 0..8)
            )
                .prop_map(move |(i, at, bytes)| {
                    let mut doc = seeds[i].clone().into_bytes();
                    let at = at % (doc.len() + 1);
                    doc.splice(at..at, bytes);
                    doc
                }),
        ];
        runner()
            .run(&input, |body| {
                let _ = parse_delete(&body);
                let _ = parse_complete_multipart_upload(&body);
                let _ = parse_create_bucket_configuration(&body);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn any_key_round_trips_through_escaping_and_parsing() {
        // A key of any characters but NUL, escaped as we write XML, parses back.
        let key =
            proptest::collection::vec(any::<char>().prop_filter("NUL", |c| *c != '\0'), 1..40)
                .prop_map(|cs| cs.into_iter().collect::<String>());
        runner()
            .run(&proptest::collection::vec(key, 1..5), |keys| {
                let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                let got = parse_delete(delete_body(&refs).as_bytes()).unwrap();
                let got: Vec<String> = got.objects.into_iter().map(|o| o.key).collect();
                prop_assert_eq!(got, keys);
                Ok(())
            })
            .unwrap();
    }
}
