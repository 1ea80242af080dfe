//! The reader under every request parser: walks a request body with
//! quick-xml and hands each element's path and text to a [`Visitor`].
//!
//! It is where the safety rules for XML from the network live: the body is
//! bounded before a byte is parsed, nesting is bounded, a DOCTYPE is refused
//! (so no entity can be declared, let alone expanded), only XML's five
//! predefined entities and character references are decoded, and every
//! failure is `MalformedXML`, never a panic. Namespaces are ignored: S3
//! clients send the S3 namespace, or none.

use crate::s3::error::{S3Error, S3ErrorCode};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

/// How deep elements may nest, the root being depth 0. S3's request
/// documents need 3; the slack is for elements we ignore.
pub(crate) const DEPTH_MAX: usize = 16;

/// Receives the elements under the root, by path: `"Object/Key"` for
/// `<Delete><Object><Key>`. Paths are unambiguous because `/` cannot appear
/// in an XML name.
pub(crate) trait Visitor {
    /// An element opened.
    fn start(&mut self, path: &str) -> Result<(), S3Error>;
    /// An element closed, with the text it held since its last child closed
    /// (its whole text, for the leaf elements S3 documents use).
    fn end(&mut self, path: &str, text: &str) -> Result<(), S3Error>;
}

/// The error for any body that is not the document we expect.
pub(crate) fn malformed() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML)
}

/// Walks `body`, whose root element must be `root`, refusing bodies over
/// `body_bytes_max`.
pub(crate) fn walk(
    body: &[u8],
    root: &str,
    body_bytes_max: usize,
    visitor: &mut impl Visitor,
) -> Result<(), S3Error> {
    if body.len() > body_bytes_max {
        return Err(malformed());
    }
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut walk = Walk::default();
    loop {
        match reader.read_event().map_err(|_| malformed())? {
            Event::Start(e) => walk.start(&e, root, visitor)?,
            Event::End(_) => walk.end(visitor)?,
            // Not produced with `expand_empty_elements`; handled all the same.
            Event::Empty(e) => {
                walk.start(&e, root, visitor)?;
                walk.end(visitor)?;
            }
            Event::Text(t) => walk.text(&t.xml10_content())?,
            Event::CData(c) => walk.text(&c.xml10_content())?,
            Event::GeneralRef(r) => walk.reference(&r)?,
            Event::DocType(_) => return Err(malformed()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => return walk.finish(),
        }
    }
}

/// Where the walk is relative to the root element.
#[derive(Default)]
enum Phase {
    #[default]
    Before,
    Inside,
    After,
}

/// The walk's state: where we are, the path below the root, and the text
/// gathered since the last tag.
#[derive(Default)]
struct Walk {
    phase: Phase,
    path: String,
    /// Where each open element's name starts in `path`, to pop it.
    starts: Vec<usize>,
    text: String,
}

impl Walk {
    fn start(
        &mut self,
        e: &BytesStart<'_>,
        root: &str,
        visitor: &mut impl Visitor,
    ) -> Result<(), S3Error> {
        for attr in e.attributes() {
            attr.map_err(|_| malformed())?;
        }
        let local = e.local_name();
        let name = local.as_ref();
        match self.phase {
            Phase::Before if name == root => {
                self.phase = Phase::Inside;
                Ok(())
            }
            Phase::Before | Phase::After => Err(malformed()),
            Phase::Inside => {
                if self.starts.len() >= DEPTH_MAX {
                    return Err(malformed());
                }
                self.starts.push(self.path.len());
                if !self.path.is_empty() {
                    self.path.push('/');
                }
                self.path.push_str(name);
                self.text.clear();
                visitor.start(&self.path)
            }
        }
    }

    fn end(&mut self, visitor: &mut impl Visitor) -> Result<(), S3Error> {
        match self.starts.pop() {
            // quick-xml checks that end tags match, so this closes the root.
            None => {
                self.phase = Phase::After;
                Ok(())
            }
            Some(at) => {
                let result = visitor.end(&self.path, &self.text);
                self.path.truncate(at);
                self.text.clear();
                result
            }
        }
    }

    /// Text inside the root is gathered; outside it only whitespace may stand.
    fn text(&mut self, t: &str) -> Result<(), S3Error> {
        match self.phase {
            Phase::Inside => {
                self.text.push_str(t);
                Ok(())
            }
            _ if t.trim_ascii().is_empty() => Ok(()),
            _ => Err(malformed()),
        }
    }

    /// `&lt;`-style entities and `&#13;`-style character references; an
    /// entity XML does not predefine cannot have been declared (no DOCTYPE).
    fn reference(&mut self, r: &BytesRef<'_>) -> Result<(), S3Error> {
        if !matches!(self.phase, Phase::Inside) {
            return Err(malformed());
        }
        match r.resolve_char_ref().map_err(|_| malformed())? {
            Some(c) => self.text.push(c),
            None => {
                let s = resolve_predefined_entity(r).ok_or_else(malformed)?;
                self.text.push_str(s);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), S3Error> {
        match self.phase {
            Phase::After => Ok(()),
            Phase::Before | Phase::Inside => Err(malformed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every event as `+path` / `-path=text`.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Visitor for Log {
        fn start(&mut self, path: &str) -> Result<(), S3Error> {
            self.0.push(format!("+{path}"));
            Ok(())
        }
        fn end(&mut self, path: &str, text: &str) -> Result<(), S3Error> {
            self.0.push(format!("-{path}={text}"));
            Ok(())
        }
    }

    fn log(body: &str) -> Result<Vec<String>, S3Error> {
        let mut v = Log::default();
        walk(body.as_bytes(), "R", 1 << 20, &mut v).map(|()| v.0)
    }

    fn is_malformed(body: &str) -> bool {
        log(body).is_err_and(|e| e.code == S3ErrorCode::MalformedXML)
    }

    #[test]
    fn paths_and_texts_reach_the_visitor() {
        // Paths are relative to the root; empty elements have empty text.
        let got = log("<?xml version=\"1.0\"?>\n<R><A><B>x</B><C/></A><D>y</D></R>\n").unwrap();
        assert_eq!(
            got,
            ["+A", "+A/B", "-A/B=x", "+A/C", "-A/C=", "-A=", "+D", "-D=y"]
        );
    }

    #[test]
    fn namespaces_prefixes_comments_and_cdata_are_handled() {
        // Names are local names; comments vanish; CDATA and references are text.
        let got = log("<s:R xmlns:s=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <s:K>a<!-- c -->b<![CDATA[<&>]]>&amp;&#xD;&#10;&quot;</s:K></s:R>")
        .unwrap();
        assert_eq!(got, ["+K", "-K=ab<&>&\r\n\""]);
    }

    #[test]
    fn literal_line_ends_are_normalized_but_references_are_not() {
        // XML turns a literal CR LF into LF; `&#13;` stays a carriage return.
        let got = log("<R><K>a\r\nb&#13;</K></R>").unwrap();
        assert_eq!(got, ["+K", "-K=a\nb\r"]);
    }

    #[test]
    fn doctype_and_undeclared_entities_are_refused() {
        // No DTD, so no billion laughs, and no entity beyond XML's five.
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE R [<!ENTITY a \"aaaa\">\
                      <!ENTITY b \"&a;&a;&a;&a;\">]><R><K>&b;</K></R>";
        assert!(is_malformed(laughs));
        assert!(is_malformed("<R><K>&a;</K></R>"));
        assert!(is_malformed(
            "<!DOCTYPE R SYSTEM \"file:///etc/passwd\"><R></R>"
        ));
    }

    #[test]
    fn broken_documents_are_malformed() {
        // Wrong root, unclosed or mismatched tags, stray text, two roots, bad
        // attributes, bad references, non-UTF-8 and empty input.
        for body in [
            "",
            "   ",
            "<X></X>",
            "<R>",
            "<R><A></B></R>",
            "text<R></R>",
            "<R></R>text",
            "<R></R><R></R>",
            "<R a=\"1\" a=\"2\"></R>",
            "<R><K>&#0;</K></R>",
            "<R><K>&#xD800;</K></R>",
            "<R><K>& </K></R>",
            "&amp;<R></R>",
        ] {
            assert!(is_malformed(body), "{body:?}");
        }
        let mut v = Log::default();
        assert!(walk(b"<R>\xff</R>", "R", 100, &mut v).is_err());
    }

    #[test]
    fn bodies_over_the_limit_are_refused_unread() {
        // The size check comes before parsing.
        let mut v = Log::default();
        let body = b"<R></R>";
        assert!(walk(body, "R", body.len(), &mut v).is_ok());
        assert!(walk(body, "R", body.len() - 1, &mut v).is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        // DEPTH_MAX levels under the root pass; one more is malformed.
        let nest = |n: usize| format!("<R>{}{}</R>", "<a>".repeat(n), "</a>".repeat(n));
        assert!(log(&nest(DEPTH_MAX)).is_ok());
        assert!(is_malformed(&nest(DEPTH_MAX + 1)));
    }

    #[test]
    fn visitor_errors_stop_the_walk() {
        // The first error a visitor returns is the walk's result.
        struct Refuse;
        impl Visitor for Refuse {
            fn start(&mut self, _: &str) -> Result<(), S3Error> {
                Err(S3Error::new(S3ErrorCode::InvalidPart))
            }
            fn end(&mut self, _: &str, _: &str) -> Result<(), S3Error> {
                Ok(())
            }
        }
        let e = walk(b"<R><A/></R>", "R", 100, &mut Refuse).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidPart);
    }
}
