//! The `multipart` operation: one object uploaded in parts, timed as a
//! whole. S3: CreateMultipartUpload, UploadPart × n, CompleteMultipartUpload.
//! Swift: the parts as segments in the container's segments container, then
//! a Static Large Object manifest.

use super::api::ObjectApi;
use super::conn::{BodyMode, HttpClient};
use super::s3::S3;
use super::swift::{SloSegment, Swift};
use super::wire::ReplyHeader;
use crate::stats::ErrorKind;
use bytes::Bytes;

/// What to upload: `size` bytes in parts of `part` bytes, each a slice of `data`.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub container: &'a str,
    /// The Swift segments container (unused for S3, which keeps parts itself).
    pub segments: &'a str,
    pub name: &'a str,
    pub size: u64,
    pub part: u64,
    pub data: &'a Bytes,
}

impl Upload<'_> {
    /// The lengths of the parts: all `part` long but the last.
    fn part_lengths(&self) -> impl Iterator<Item = usize> + '_ {
        let count = self.size.div_ceil(self.part).max(1);
        (0..count).map(move |i| (self.size - i * self.part).min(self.part) as usize)
    }
}

/// Uploads one object in parts; `Ok` once it is complete.
pub async fn upload(
    http: &mut HttpClient,
    api: &mut ObjectApi,
    u: Upload<'_>,
) -> Result<(), ErrorKind> {
    match api {
        ObjectApi::Swift(s) => slo(http, s, u).await,
        ObjectApi::S3(s) => s3(http, s, u).await,
    }
}

async fn slo(http: &mut HttpClient, swift: &Swift, u: Upload<'_>) -> Result<(), ErrorKind> {
    let mut segments = Vec::new();
    for (i, len) in u.part_lengths().enumerate() {
        let seg_name = format!("{}/{:06}", u.name, i + 1);
        let req = swift.put(u.segments, &seg_name, u.data.slice(..len));
        let reply = http.call(req, BodyMode::Discard).await?.success()?;
        let etag = reply.header(ReplyHeader::ETag).ok_or(ErrorKind::Protocol)?;
        segments.push(SloSegment {
            path: format!("/{}/{seg_name}", u.segments),
            etag: etag.trim_matches('"').to_owned(),
            size_bytes: len as u64,
        });
    }
    let req = swift.put_manifest(u.container, u.name, &segments);
    http.call(req, BodyMode::Discard).await?.success()?;
    Ok(())
}

async fn s3(http: &mut HttpClient, s3: &mut S3, u: Upload<'_>) -> Result<(), ErrorKind> {
    let req = s3.create_upload(u.container, u.name);
    let reply = http.call(req, BodyMode::Keep).await?.success()?;
    let id = S3::parse_upload_id(&reply.body).ok_or(ErrorKind::Protocol)?;
    let mut etags = Vec::new();
    for (i, len) in u.part_lengths().enumerate() {
        let req = s3.upload_part(u.container, u.name, &id, i + 1, u.data.slice(..len));
        let reply = http.call(req, BodyMode::Discard).await?.success()?;
        etags.push(
            reply
                .header(ReplyHeader::ETag)
                .ok_or(ErrorKind::Protocol)?
                .to_owned(),
        );
    }
    let req = s3.complete_upload(u.container, u.name, &id, &etags);
    let reply = http.call(req, BodyMode::Keep).await?.success()?;
    if S3::is_error_document(&reply.body) {
        return Err(ErrorKind::Protocol);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_object_with_a_short_last_one() {
        // 20 MiB in 8 MiB parts: 8, 8, 4; an exact multiple has no empty tail part.
        let data = Bytes::new();
        let mut u = Upload {
            container: "c",
            segments: "s",
            name: "n",
            size: 20 << 20,
            part: 8 << 20,
            data: &data,
        };
        let lens: Vec<usize> = u.part_lengths().collect();
        assert_eq!(lens, [8 << 20, 8 << 20, 4 << 20]);
        u.size = 16 << 20;
        assert_eq!(u.part_lengths().count(), 2);
    }
}
