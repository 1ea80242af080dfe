//! Which checksum a request announces for its body, and where: one
//! `x-amz-checksum-*` header, or one checksum trailer that `x-amz-trailer`
//! names, agreeing with `x-amz-sdk-checksum-algorithm` when that is sent.
//! Every malformed combination is refused with the error S3 gives it, in
//! the order S3 checks them.

use super::checksum::ChecksumAlgorithm;
use super::error::AuthError;
use http::HeaderMap;

const CHECKSUM_PREFIX: &str = "x-amz-checksum-";
/// Headers of the `x-amz-checksum-` family that carry no checksum.
const NOT_CHECKSUMS: [&str; 2] = ["x-amz-checksum-algorithm", "x-amz-checksum-type"];

/// The checksum a request announces for its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    None,
    /// In a header: the algorithm and the digest it states.
    Header(ChecksumAlgorithm, Vec<u8>),
    /// In a trailer after the final chunk of an `aws-chunked` body.
    Trailer(ChecksumAlgorithm),
}

impl Announced {
    /// Reads and checks the request's checksum headers.
    pub fn from_headers(headers: &HeaderMap) -> Result<Announced, AuthError> {
        let in_headers = checksum_headers(headers)?;
        let in_trailer = trailer_names(headers)?;
        if in_headers.len() + in_trailer.len() > 1 {
            return Err(AuthError::ChecksumInHeaderAndTrailer);
        }
        let announced = match (in_headers.first(), in_trailer.first()) {
            (Some((algorithm, value)), _) => {
                let digest = algorithm
                    .parse_value(value)
                    .map_err(|_| AuthError::InvalidChecksum(algorithm.header_name()))?;
                Announced::Header(*algorithm, digest)
            }
            (None, Some(algorithm)) => Announced::Trailer(*algorithm),
            (None, None) => Announced::None,
        };
        announced.check_sdk_algorithm(headers)?;
        Ok(announced)
    }

    /// The announced algorithm, wherever its value travels.
    pub fn algorithm(&self) -> Option<ChecksumAlgorithm> {
        match self {
            Announced::None => None,
            Announced::Header(a, _) | Announced::Trailer(a) => Some(*a),
        }
    }

    /// The algorithm of the checksum trailer, if one is announced.
    pub fn trailer(&self) -> Option<ChecksumAlgorithm> {
        match self {
            Announced::Trailer(a) => Some(*a),
            _ => None,
        }
    }

    /// `x-amz-sdk-checksum-algorithm` must name the checksum that is sent.
    fn check_sdk_algorithm(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let Some(sdk) = headers.get("x-amz-sdk-checksum-algorithm") else {
            return Ok(());
        };
        let Some(algorithm) = self.algorithm() else {
            return Err(AuthError::SdkChecksumWithoutChecksum);
        };
        let named = sdk.to_str().map(str::trim).unwrap_or_default();
        if !named.eq_ignore_ascii_case(algorithm.label()) {
            return Err(AuthError::SdkChecksumMismatch);
        }
        Ok(())
    }
}

/// Every `x-amz-checksum-*` header with its value: all of known algorithms,
/// at most one.
fn checksum_headers(headers: &HeaderMap) -> Result<Vec<(ChecksumAlgorithm, &[u8])>, AuthError> {
    let mut found = Vec::new();
    for (name, value) in headers {
        let name = name.as_str();
        if !name.starts_with(CHECKSUM_PREFIX) || NOT_CHECKSUMS.contains(&name) {
            continue;
        }
        let algorithm =
            ChecksumAlgorithm::from_header_name(name).ok_or(AuthError::UnknownChecksumAlgorithm)?;
        found.push((algorithm, value.as_bytes()));
    }
    if found.len() > 1 {
        return Err(AuthError::MultipleChecksums);
    }
    Ok(found)
}

/// The trailers `x-amz-trailer` names: a comma-separated list (a trailing
/// comma is tolerated, an empty name is not) of at most one checksum.
fn trailer_names(headers: &HeaderMap) -> Result<Vec<ChecksumAlgorithm>, AuthError> {
    let mut text = String::new();
    for (i, value) in headers.get_all("x-amz-trailer").iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(value.to_str().map_err(|_| AuthError::UnsupportedTrailer)?);
    }
    let list = text.trim().trim_end_matches(',');
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let names = list
        .split(',')
        .map(|name| ChecksumAlgorithm::from_header_name(name.trim()))
        .collect::<Option<Vec<_>>>()
        .ok_or(AuthError::UnsupportedTrailer)?;
    if names.len() > 1 {
        return Err(AuthError::MultipleChecksums);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::auth::testkit::request;

    fn announced(headers: &[(&str, &str)]) -> Result<Announced, AuthError> {
        let (_, _, h) = request("PUT", "/b/k", headers);
        Announced::from_headers(&h)
    }

    const CRC32_OF_NOTHING: &str = "AAAAAA==";

    #[test]
    fn one_header_or_one_trailer_is_announced() {
        // A checksum header carries its digest; x-amz-trailer names the trailer; neither is None.
        assert_eq!(announced(&[]), Ok(Announced::None));
        assert_eq!(
            announced(&[("x-amz-checksum-crc32", CRC32_OF_NOTHING)]),
            Ok(Announced::Header(ChecksumAlgorithm::Crc32, vec![0; 4]))
        );
        let trailer = announced(&[("x-amz-trailer", "X-Amz-Checksum-Sha256")]).unwrap();
        assert_eq!(trailer.trailer(), Some(ChecksumAlgorithm::Sha256));
        // The algorithm and type headers of the family are no checksums.
        assert_eq!(
            announced(&[
                ("x-amz-checksum-algorithm", "crc32"),
                ("x-amz-checksum-type", "COMPOSITE")
            ]),
            Ok(Announced::None)
        );
    }

    #[test]
    fn trailer_lists_tolerate_only_trailing_commas() {
        // `name,`, `name,,` and `name, ` are one trailer; an empty name anywhere else is refused.
        for ok in [
            "x-amz-checksum-crc32,",
            "x-amz-checksum-crc32,,",
            "x-amz-checksum-crc32, ",
        ] {
            assert_eq!(
                announced(&[("x-amz-trailer", ok)]).unwrap().trailer(),
                Some(ChecksumAlgorithm::Crc32),
                "{ok}"
            );
        }
        for bad in [
            ", x-amz-checksum-crc32, ,",
            ",x-amz-checksum-crc32",
            "x-amz-checksum-crc32, ,",
            "x-amz-content-sha256",
            "x-amz-checksum-bad",
        ] {
            assert_eq!(
                announced(&[("x-amz-trailer", bad)]),
                Err(AuthError::UnsupportedTrailer),
                "{bad}"
            );
        }
    }

    #[test]
    fn more_than_one_checksum_is_refused_as_s3_words_it() {
        // Two headers or two trailers: "Multiple checksum Types"; one of each: the short message.
        let two_headers = [
            ("x-amz-checksum-crc32", CRC32_OF_NOTHING),
            ("x-amz-checksum-crc32c", CRC32_OF_NOTHING),
        ];
        assert_eq!(announced(&two_headers), Err(AuthError::MultipleChecksums));
        let two_trailers = [(
            "x-amz-trailer",
            "x-amz-checksum-crc32, x-amz-checksum-crc32",
        )];
        assert_eq!(announced(&two_trailers), Err(AuthError::MultipleChecksums));
        let both = [
            ("x-amz-checksum-crc32", CRC32_OF_NOTHING),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ];
        assert_eq!(announced(&both), Err(AuthError::ChecksumInHeaderAndTrailer));
    }

    #[test]
    fn unknown_algorithms_and_bad_values_are_refused() {
        // An unknown x-amz-checksum-* header, then a value that is no digest.
        assert_eq!(
            announced(&[("x-amz-checksum-bad", CRC32_OF_NOTHING)]),
            Err(AuthError::UnknownChecksumAlgorithm)
        );
        assert_eq!(
            announced(&[("x-amz-checksum-crc32", "bad")]),
            Err(AuthError::InvalidChecksum("x-amz-checksum-crc32"))
        );
    }

    #[test]
    fn the_sdk_algorithm_must_name_the_checksum_sent() {
        // x-amz-sdk-checksum-algorithm alone, or naming another algorithm, is refused.
        let crc = ("x-amz-checksum-crc32", CRC32_OF_NOTHING);
        assert!(announced(&[crc, ("x-amz-sdk-checksum-algorithm", "CRC32")]).is_ok());
        let trailer = ("x-amz-trailer", "x-amz-checksum-crc32");
        assert!(announced(&[trailer, ("x-amz-sdk-checksum-algorithm", "crc32")]).is_ok());
        assert_eq!(
            announced(&[("x-amz-sdk-checksum-algorithm", "CRC32")]),
            Err(AuthError::SdkChecksumWithoutChecksum)
        );
        assert_eq!(
            announced(&[crc, ("x-amz-sdk-checksum-algorithm", "CRC32C")]),
            Err(AuthError::SdkChecksumMismatch)
        );
    }
}
