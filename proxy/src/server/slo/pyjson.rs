//! JSON written the way Python's `json.dumps` writes it (`", "` and `": "`
//! separators, every non-ASCII character escaped), so that stored manifests
//! and report bodies are byte for byte what Swift writes.

use std::fmt::Write;

/// One value of a JSON object written here.
pub enum Value<'a> {
    Str(&'a str),
    Int(u64),
    Bool(bool),
    /// A list of two-string lists (a report's `Errors`).
    Pairs(&'a [(String, String)]),
}

/// Writes `{"k": v, …}` with the fields in the order given.
pub fn object(out: &mut String, fields: &[(&str, Value<'_>)]) {
    out.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        string(out, k);
        out.push_str(": ");
        value(out, v);
    }
    out.push('}');
}

fn value(out: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(s) => string(out, s),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Pairs(pairs) => {
            out.push('[');
            for (i, (a, b)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('[');
                string(out, a);
                out.push_str(", ");
                string(out, b);
                out.push(']');
            }
            out.push(']');
        }
    }
}

/// Writes `s` as a JSON string with Python's `ensure_ascii` escaping.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_python_json_dumps_writes() {
        // Separators, escapes, DEL and non-ASCII (with a surrogate pair) match json.dumps.
        let mut out = String::new();
        let errors = [("/c/o".to_owned(), "404 Not Found".to_owned())];
        object(
            &mut out,
            &[
                ("name", Value::Str("/c/\u{e9}\u{1f600}\"\\\n\u{1}\u{7f}")),
                ("bytes", Value::Int(7)),
                ("sub_slo", Value::Bool(true)),
                ("Errors", Value::Pairs(&errors)),
            ],
        );
        assert_eq!(
            out,
            r#"{"name": "/c/\u00e9\ud83d\ude00\"\\\n\u0001\u007f", "bytes": 7, "sub_slo": true, "Errors": [["/c/o", "404 Not Found"]]}"#
        );
    }
}
