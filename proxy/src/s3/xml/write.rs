//! `XmlDoc`, the writer of S3's response documents (declaration, namespaced
//! root, escaped text), and the values every document shares: the owner and
//! the `encoding-type=url` key encoding.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::borrow::Cow;
use std::fmt::Write;

/// The namespace of every S3 response document's root (not of `<Error>`).
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// What Python's `quote(s, safe='/')` leaves alone, as s3api encodes keys:
/// letters, digits, `_.-~` and `/`. Everything else is `%XX` of its UTF-8
/// bytes, which botocore's `unquote_plus` decodes (a space is `%20`, a `+`
/// is `%2B`).
const URL_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// How keys and prefixes are written: as they are, or URL-encoded when the
/// request asked for `encoding-type=url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyEncoding {
    #[default]
    Plain,
    Url,
}

impl KeyEncoding {
    /// `value` as this encoding writes it.
    pub fn apply(self, value: &str) -> Cow<'_, str> {
        match self {
            KeyEncoding::Plain => Cow::Borrowed(value),
            KeyEncoding::Url => utf8_percent_encode(value, URL_KEY).into(),
        }
    }

    /// The `<EncodingType>` value, if the request asked for one.
    pub(crate) fn name(self) -> Option<&'static str> {
        match self {
            KeyEncoding::Plain => None,
            KeyEncoding::Url => Some("url"),
        }
    }
}

/// The owner (and initiator) of buckets, objects and uploads: the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub display_name: String,
}

/// A document being written. Element names are `&'static str` from our
/// code; every text value is escaped.
pub(crate) struct XmlDoc {
    out: String,
    open: Vec<&'static str>,
    root_start_len: usize,
}

impl XmlDoc {
    /// A response document: its root carries S3's namespace.
    pub(crate) fn new(root: &'static str) -> Self {
        Self::start(root, Some(S3_NAMESPACE))
    }

    /// A document whose root has no namespace (S3's `<Error>`).
    pub(crate) fn plain(root: &'static str) -> Self {
        Self::start(root, None)
    }

    fn start(root: &'static str, namespace: Option<&str>) -> Self {
        let mut out = String::with_capacity(256);
        out.push_str(DECLARATION);
        out.push('<');
        out.push_str(root);
        if let Some(ns) = namespace {
            out.push_str(" xmlns=\"");
            out.push_str(ns);
            out.push('"');
        }
        out.push('>');
        let root_start_len = out.len();
        XmlDoc {
            out,
            open: vec![root],
            root_start_len,
        }
    }

    /// Opens `<name>`; [`close`](Self::close) ends it.
    pub(crate) fn open(&mut self, name: &'static str) -> &mut Self {
        self.open_with(name, &[])
    }

    /// Opens `<name a="v"…>` with escaped attribute values.
    pub(crate) fn open_with(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        for (attr, value) in attrs {
            self.out.push(' ');
            self.out.push_str(attr);
            self.out.push_str("=\"");
            escape_attribute_into(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('>');
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub(crate) fn close(&mut self) -> &mut Self {
        assert!(self.open.len() > 1, "close() past the root");
        if let Some(name) = self.open.pop() {
            self.close_tag(name);
        }
        self
    }

    /// `<name>value</name>`, the value escaped.
    pub(crate) fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape_into(&mut self.out, value);
        self.close_tag(name);
        self
    }

    /// Escaped text directly inside the innermost open element.
    pub(crate) fn text_value(&mut self, value: &str) -> &mut Self {
        escape_into(&mut self.out, value);
        self
    }

    /// `<name>value</name>` only when there is a value.
    pub(crate) fn text_opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.text(name, v);
        }
        self
    }

    /// `<name>n</name>` for a number.
    pub(crate) fn number(&mut self, name: &str, n: u64) -> &mut Self {
        self.text(name, &n.to_string())
    }

    /// `<name>true</name>` or `<name>false</name>`.
    pub(crate) fn boolean(&mut self, name: &str, b: bool) -> &mut Self {
        self.text(name, if b { "true" } else { "false" })
    }

    /// `<name><ID>…</ID><DisplayName>…</DisplayName></name>`.
    pub(crate) fn user(&mut self, name: &'static str, owner: &Owner) -> &mut Self {
        self.open(name)
            .text("ID", &owner.id)
            .text("DisplayName", &owner.display_name)
            .close()
    }

    /// `<EncodingType>url</EncodingType>` when the request asked for it.
    pub(crate) fn encoding_type(&mut self, encoding: KeyEncoding) -> &mut Self {
        self.text_opt("EncodingType", encoding.name())
    }

    /// Closes the root and returns the document; an empty root is written
    /// `<Root xmlns="…"/>`, as S3 writes it.
    pub(crate) fn finish(mut self) -> String {
        assert_eq!(self.open.len(), 1, "unclosed elements: {:?}", self.open);
        if self.out.len() == self.root_start_len {
            self.out.pop();
            self.out.push_str("/>");
        } else {
            let root = self.open[0];
            self.close_tag(root);
        }
        self.out
    }

    fn close_tag(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
}

/// Escapes element text: `&`, `<`, `>` and `"` as entities and every C0
/// control character but the line feed and the tab as a decimal character
/// reference (`\r` is `&#13;`), as S3 does, so that no parser normalizes a
/// carriage return away. A line feed and a tab stay as they are (parsers
/// keep them in text; S3's `<StringToSign>` shows its lines so), and so
/// does an apostrophe (S3 writes `The provided 'x-amz-content-sha256'
/// header…`).
pub(crate) fn escape_into(out: &mut String, s: &str) {
    escape(out, s, |c| c == '\n' || c == '\t');
}

/// Escapes an attribute value (in double quotes): as text, but every
/// control character is a reference, since parsers turn a literal line
/// feed or tab there into a space.
fn escape_attribute_into(out: &mut String, s: &str) {
    escape(out, s, |_| false);
}

fn escape(out: &mut String, s: &str, literal_control: impl Fn(char) -> bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if u32::from(c) < 0x20 && !literal_control(c) => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// An ETag as S3 writes it: in double quotes (unless already quoted).
pub(crate) fn quoted_etag(etag: &str) -> Cow<'_, str> {
    if etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"') {
        Cow::Borrowed(etag)
    } else {
        Cow::Owned(format!("\"{etag}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        escape_into(&mut out, s);
        out
    }

    #[test]
    fn escapes_markup_and_control_characters() {
        // Markup but the apostrophe become entities, C0 controls (not LF, tab in text) char refs.
        assert_eq!(
            escaped("<a & 'b' \"c\">"),
            "&lt;a &amp; 'b' &quot;c&quot;&gt;"
        );
        assert_eq!(escaped("x\r\n\t\u{0}\u{1f}y"), "x&#13;\n\t&#0;&#31;y");
        let mut attribute = String::new();
        escape_attribute_into(&mut attribute, "a\nb\t'");
        assert_eq!(attribute, "a&#10;b&#9;'");
        assert_eq!(escaped("é/ü\u{7f}😀"), "é/ü\u{7f}😀");
    }

    #[test]
    fn url_encoding_matches_python_quote_with_slash_safe() {
        // Unreserved characters and '/' stay; all else is %XX of UTF-8, upper hex.
        let url = KeyEncoding::Url;
        assert_eq!(url.apply("a/b_c.d-e~f"), "a/b_c.d-e~f");
        assert_eq!(url.apply("a b+c&d%e"), "a%20b%2Bc%26d%25e");
        assert_eq!(url.apply("é\r\n"), "%C3%A9%0D%0A");
        assert_eq!(KeyEncoding::Plain.apply("a b"), "a b");
    }

    #[test]
    fn empty_root_is_self_closing_and_namespaced() {
        // A document with nothing in its root is written as S3 does: `<Root …/>`.
        assert_eq!(
            XmlDoc::new("VersioningConfiguration").finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
        );
    }

    #[test]
    fn nested_elements_close_in_order() {
        // open/close nest; text is escaped; attributes are escaped too.
        let mut doc = XmlDoc::plain("R");
        doc.open_with("A", &[("k", "v\"")])
            .text("B", "1<2")
            .close()
            .boolean("C", true)
            .number("D", 7);
        assert_eq!(
            doc.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <R><A k=\"v&quot;\"><B>1&lt;2</B></A><C>true</C><D>7</D></R>"
        );
    }

    #[test]
    #[should_panic(expected = "unclosed elements")]
    fn finishing_with_an_open_element_is_a_bug() {
        // A document left with an element open is a programming error.
        let mut doc = XmlDoc::new("R");
        doc.open("A");
        let _ = doc.finish();
    }

    #[test]
    fn etags_are_quoted_once() {
        // A bare ETag gains quotes; an already quoted one keeps its own.
        assert_eq!(quoted_etag("abc"), "\"abc\"");
        assert_eq!(quoted_etag("\"abc-2\""), "\"abc-2\"");
        assert_eq!(quoted_etag("\""), "\"\"\"");
    }
}
