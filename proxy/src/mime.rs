//! Content-Type guessing from the object name's extension, as Swift does
//! with Python's `mimetypes` when a PUT carries no Content-Type.

/// The default when nothing better is known.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

const TABLE: &[(&str, &str)] = &[
    ("bin", "application/octet-stream"),
    ("bmp", "image/bmp"),
    ("css", "text/css"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("ico", "image/vnd.microsoft.icon"),
    ("iso", "application/x-iso9660-image"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "text/javascript"),
    ("json", "application/json"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("py", "text/x-python"),
    ("qcow2", "application/octet-stream"),
    ("sh", "application/x-sh"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tgz", "application/gzip"),
    ("txt", "text/plain"),
    ("wav", "audio/x-wav"),
    ("webp", "image/webp"),
    ("xml", "text/xml"),
    ("yaml", "application/yaml"),
    ("zip", "application/zip"),
];

/// The type registered for the object name's extension, or the default.
pub fn guess(object: &str) -> &'static str {
    let base = object.rsplit('/').next().unwrap_or(object);
    let Some((stem, ext)) = base.rsplit_once('.') else {
        return DEFAULT_CONTENT_TYPE;
    };
    if stem.is_empty() {
        return DEFAULT_CONTENT_TYPE;
    }
    let ext = ext.to_ascii_lowercase();
    TABLE
        .iter()
        .find(|(e, _)| *e == ext)
        .map(|(_, t)| *t)
        .unwrap_or(DEFAULT_CONTENT_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_by_extension() {
        // Known extensions map, case-insensitively; others and dotfiles get the default.
        assert_eq!(guess("a/b/c.TXT"), "text/plain");
        assert_eq!(guess("x.jpg"), "image/jpeg");
        assert_eq!(guess("noext"), DEFAULT_CONTENT_TYPE);
        assert_eq!(guess(".bashrc"), DEFAULT_CONTENT_TYPE);
        assert_eq!(guess("a.txt/b"), DEFAULT_CONTENT_TYPE);
        assert_eq!(guess("a.unknownext"), DEFAULT_CONTENT_TYPE);
    }
}
