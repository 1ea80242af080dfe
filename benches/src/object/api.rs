//! The object operations over either API: one enum that builds the
//! request of each operation in Swift's or S3's form, so the workload
//! driver does not care which it speaks.

use super::conn::Endpoint;
use super::s3::S3;
use super::swift::Swift;
use super::wire::Request;
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but AWS's unreserved characters is escaped in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A query parameter value, percent-encoded.
pub fn query_encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// One page of a container listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub names: Vec<String>,
    /// Where the next page starts (a marker or a continuation token), if any.
    pub next: Option<String>,
}

/// The API a benchmark speaks.
#[derive(Debug, Clone)]
pub enum ObjectApi {
    Swift(Swift),
    S3(S3),
}

impl ObjectApi {
    pub fn name(&self) -> &'static str {
        match self {
            ObjectApi::Swift(_) => "swift",
            ObjectApi::S3(_) => "s3",
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        match self {
            ObjectApi::Swift(s) => s.endpoint(),
            ObjectApi::S3(s) => s.endpoint(),
        }
    }

    pub fn create_container(&mut self, container: &str) -> Request {
        match self {
            ObjectApi::Swift(s) => s.create_container(container),
            ObjectApi::S3(s) => s.create_bucket(container),
        }
    }

    pub fn delete_container(&mut self, container: &str) -> Request {
        match self {
            ObjectApi::Swift(s) => s.delete_container(container),
            ObjectApi::S3(s) => s.delete_bucket(container),
        }
    }

    pub fn put(&mut self, container: &str, name: &str, body: Bytes) -> Request {
        match self {
            ObjectApi::Swift(s) => s.put(container, name, body),
            ObjectApi::S3(s) => s.put(container, name, body),
        }
    }

    pub fn get(&mut self, container: &str, name: &str) -> Request {
        match self {
            ObjectApi::Swift(s) => s.get(container, name),
            ObjectApi::S3(s) => s.get(container, name),
        }
    }

    pub fn delete(&mut self, container: &str, name: &str) -> Request {
        match self {
            ObjectApi::Swift(s) => s.delete(container, name),
            ObjectApi::S3(s) => s.delete(container, name),
        }
    }

    /// A listing page of up to `limit` names, continuing at `next`.
    pub fn list(&mut self, container: &str, next: Option<&str>, limit: usize) -> Request {
        match self {
            ObjectApi::Swift(s) => s.list(container, next, limit),
            ObjectApi::S3(s) => s.list(container, next, limit),
        }
    }

    /// Reads a listing page this API answered; `None` if it is not one.
    pub fn parse_listing(&self, body: &[u8], limit: usize) -> Option<Listing> {
        match self {
            ObjectApi::Swift(_) => Swift::parse_listing(body, limit),
            ObjectApi::S3(_) => S3::parse_listing(body),
        }
    }
}
