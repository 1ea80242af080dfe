//! XML text escaping, shared by the S3 documents and the SVG chart.

/// `s` safe inside XML text and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// XML text with the five predefined entities decoded.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_markup_characters() {
        // Every character XML reserves comes back unchanged; &amp; is decoded last.
        let s = r#"a<b>&"c"&amp;"#;
        assert_eq!(escape(s), "a&lt;b&gt;&amp;&quot;c&quot;&amp;amp;");
        assert_eq!(unescape(&escape(s)), s);
    }
}
