//! Swift's bulk-style reports (`Response Status`, `Response Body`, `Errors`,
//! …) in text, JSON or XML as `get_heartbeat_response_body` renders them,
//! and the heartbeat that keeps a long request's connection open: whitespace
//! every [`YIELD_FREQUENCY_SECS`], then the report.

use super::pyjson::{self, Value};
use crate::listing::{choose_format, Format};
use crate::server::reader::ChunkSender;
use bytes::Bytes;
use http::StatusCode;
use std::future::Future;
use std::time::Duration;

/// Seconds between heartbeat whitespace (Swift's `yield_frequency`).
pub const YIELD_FREQUENCY_SECS: u64 = 10;

/// The body a 400 report carries in `Response Body` (swob's reason text).
pub const BAD_REQUEST_TEXT: &str = "Bad Request\nThe server could not comply with the request since it is either malformed or otherwise incorrect.";
/// The body a 422 report carries in `Response Body`.
pub const UNPROCESSABLE_TEXT: &str =
    "Unprocessable Entity\nUnable to process the contained instructions";

/// A report's format, from the request's `Accept` (Swift's `ACCEPTABLE_FORMATS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Json,
    /// XML, answered with the media type the client asked for.
    Xml(&'static str),
}

impl ReportFormat {
    /// The format `accept` prefers; `None` when it accepts none of them.
    pub fn negotiate(accept: Option<&str>) -> Option<Self> {
        Some(match choose_format(None, accept)? {
            Format::Plain => ReportFormat::Text,
            Format::Json => ReportFormat::Json,
            Format::Xml(t) => ReportFormat::Xml(t.split(';').next().unwrap_or(t)),
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Text => "text/plain",
            ReportFormat::Json => "application/json",
            ReportFormat::Xml(t) => t,
        }
    }
}

/// `404 Not Found`: a status as Swift writes it in reports.
pub fn status_line(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

/// One field's value.
pub enum Field {
    Text(String),
    Count(u64),
}

/// A report: named fields (in the order JSON shows them) and the failed names.
#[derive(Default)]
pub struct Report {
    pub fields: Vec<(&'static str, Field)>,
    pub errors: Vec<(String, String)>,
}

impl Report {
    /// Renders the report; `root` is the XML element (`upload`, `delete`).
    /// `None` renders text, as Swift does for a request that accepts nothing.
    pub fn render(&self, fmt: Option<ReportFormat>, root: &str) -> String {
        match fmt {
            Some(ReportFormat::Json) => self.json(),
            Some(ReportFormat::Xml(_)) => self.xml(root),
            Some(ReportFormat::Text) | None => self.text(),
        }
    }

    fn json(&self) -> String {
        let mut fields: Vec<(&str, Value<'_>)> = self
            .fields
            .iter()
            .map(|(k, v)| match v {
                Field::Text(s) => (*k, Value::Str(s)),
                Field::Count(n) => (*k, Value::Int(*n)),
            })
            .collect();
        fields.push(("Errors", Value::Pairs(&self.errors)));
        let mut out = String::new();
        pyjson::object(&mut out, &fields);
        out
    }

    fn sorted(&self) -> Vec<(&'static str, String)> {
        let mut v: Vec<(&'static str, String)> = self
            .fields
            .iter()
            .map(|(k, f)| match f {
                Field::Text(s) => (*k, s.clone()),
                Field::Count(n) => (*k, n.to_string()),
            })
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for (k, v) in self.sorted() {
            out.push_str(&format!("{k}: {v}\n"));
        }
        out.push_str("Errors:\n");
        for (name, status) in &self.errors {
            out.push_str(&format!("{name}, {status}\n"));
        }
        out
    }

    fn xml(&self, root: &str) -> String {
        let mut out = format!("<{root}>\n");
        for (k, v) in self.sorted() {
            let key = k.replace(' ', "_").to_lowercase();
            out.push_str(&format!("<{key}>{}</{key}>\n", xml_escape(&v)));
        }
        out.push_str("<errors>\n");
        for (name, status) in &self.errors {
            out.push_str(&format!(
                "<object><name>{}</name><status>{}</status></object>\n",
                xml_escape(name),
                xml_escape(status)
            ));
        }
        out.push_str(&format!("</errors>\n</{root}>\n"));
        out
    }
}

/// Python's `xml.sax.saxutils.escape`.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Runs `work` while sending `first_beat`, then a space, every
/// [`YIELD_FREQUENCY_SECS`] into `tx` (at once too when `beat_at_start`);
/// then sends the report it returns, after a blank line when any beat went
/// out. A client that left does not stop the work.
pub async fn with_heartbeat<F>(
    tx: ChunkSender,
    beat_at_start: bool,
    first_beat: &'static str,
    work: F,
) where
    F: Future<Output = String>,
{
    let period = Duration::from_secs(YIELD_FREQUENCY_SECS);
    let mut beats = 0usize;
    let beat = |n: usize| if n == 0 { first_beat } else { " " };
    if beat_at_start {
        let _ = tx
            .send(Ok(Bytes::from_static(beat(beats).as_bytes())))
            .await;
        beats += 1;
    }
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tokio::pin!(work);
    let report = loop {
        tokio::select! {
            report = &mut work => break report,
            _ = tick.tick() => {
                let _ = tx.send(Ok(Bytes::from_static(beat(beats).as_bytes()))).await;
                beats += 1;
            }
        }
    };
    let separator = if beats > 0 { "\r\n\r\n" } else { "" };
    let _ = tx
        .send(Ok(Bytes::from(format!("{separator}{report}"))))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            fields: vec![
                ("Response Status", Field::Text("400 Bad Request".into())),
                ("Response Body", Field::Text("a<b".into())),
                ("Number Deleted", Field::Count(2)),
            ],
            errors: vec![("/c/o".into(), "404 Not Found".into())],
        }
    }

    #[test]
    fn reports_render_as_swift_renders_them() {
        // Text and XML sort the keys; JSON keeps their order and adds Errors.
        let r = report();
        assert_eq!(
            r.render(Some(ReportFormat::Text), "delete"),
            "Number Deleted: 2\nResponse Body: a<b\nResponse Status: 400 Bad Request\nErrors:\n/c/o, 404 Not Found\n"
        );
        assert_eq!(
            r.render(Some(ReportFormat::Json), "delete"),
            r#"{"Response Status": "400 Bad Request", "Response Body": "a<b", "Number Deleted": 2, "Errors": [["/c/o", "404 Not Found"]]}"#
        );
        assert_eq!(
            r.render(Some(ReportFormat::Xml("application/xml")), "delete"),
            "<delete>\n<number_deleted>2</number_deleted>\n<response_body>a&lt;b</response_body>\n\
             <response_status>400 Bad Request</response_status>\n<errors>\n\
             <object><name>/c/o</name><status>404 Not Found</status></object>\n</errors>\n</delete>\n"
        );
    }

    #[test]
    fn formats_follow_the_accept_header() {
        // Plain text by default, JSON or XML on request, nothing for an unacceptable Accept.
        assert_eq!(ReportFormat::negotiate(None), Some(ReportFormat::Text));
        assert_eq!(
            ReportFormat::negotiate(Some("application/json")),
            Some(ReportFormat::Json)
        );
        assert_eq!(
            ReportFormat::negotiate(Some("text/xml")).map(ReportFormat::content_type),
            Some("text/xml")
        );
        assert_eq!(ReportFormat::negotiate(Some("image/png")), None);
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_precede_the_report_while_work_runs() {
        // Whitespace goes out every yield period until the work ends, then a blank line and the report.
        let (tx, body) = crate::server::reader::body_channel();
        let work = async {
            tokio::time::sleep(Duration::from_secs(2 * YIELD_FREQUENCY_SECS + 1)).await;
            "done".to_owned()
        };
        with_heartbeat(tx, true, " ", work).await;
        let got = axum::body::to_bytes(body, 1024).await.unwrap();
        assert_eq!(&got[..], b"   \r\n\r\ndone");
    }
}
