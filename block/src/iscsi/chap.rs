//! CHAP with MD5 (RFC 1994, algorithm 5) as iSCSI uses it (RFC 7143
//! §12.1.3): responses, and the hex (`0x`) and base64 (`0b`) encodings of
//! binary values.

use md5::{Digest, Md5};

/// The CHAP algorithm number of MD5.
pub const ALGORITHM_MD5: &str = "5";
/// Bytes of challenge we send.
pub const CHALLENGE_LEN: usize = 16;
/// Longest challenge we accept from an initiator (mutual CHAP).
pub const CHALLENGE_MAX: usize = 1024;

/// One side's CHAP credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// MD5(identifier || secret || challenge).
pub fn response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// `0x`-prefixed lowercase hex.
pub fn encode_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Decodes a `0x` hex or `0b` base64 binary value.
pub fn decode_binary(v: &str) -> Option<Vec<u8>> {
    let (prefix, body) = v.split_at_checked(2)?;
    match prefix {
        "0x" | "0X" => decode_hex(body),
        "0b" | "0B" => decode_base64(body),
        _ => None,
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    // An odd count has an implied leading zero.
    let mut digits: Vec<u8> = Vec::with_capacity(s.len() + 1);
    if s.len() % 2 == 1 {
        digits.push(0);
    }
    for &c in s {
        digits.push(char::from(c).to_digit(16)? as u8);
    }
    Some(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().take_while(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Whether `got` is the right response to our `challenge` under `secret`.
pub fn verify(id: u8, secret: &str, challenge: &[u8], got: &[u8]) -> bool {
    let want = response(id, secret.as_bytes(), challenge);
    // Compare every byte so the time taken says nothing about where they differ.
    got.len() == want.len()
        && got
            .iter()
            .zip(want.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_is_md5_of_id_secret_challenge() {
        // MD5 of the single byte 0x01 followed by "secret" and "chal".
        let r = response(1, b"secret", b"chal");
        let mut h = Md5::new();
        h.update(b"\x01secretchal");
        let want: [u8; 16] = h.finalize().into();
        assert_eq!(r, want);
        assert!(verify(1, "secret", b"chal", &r));
        assert!(!verify(2, "secret", b"chal", &r));
        assert!(!verify(1, "secret", b"chal", &r[..15]));
    }

    #[test]
    fn binary_encodings() {
        // Hex (with an odd digit count) and base64 both decode; junk does not.
        assert_eq!(decode_binary("0x0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_binary("0xabc"), Some(vec![0x0a, 0xbc]));
        assert_eq!(decode_binary("0bAAEC/w=="), Some(vec![0, 1, 2, 0xff]));
        assert_eq!(decode_binary("0xzz"), None);
        assert_eq!(decode_binary("12"), None);
        assert_eq!(decode_binary("0"), None);
        assert_eq!(encode_hex(&[1, 0xab]), "0x01ab");
        assert_eq!(decode_binary(&encode_hex(&[9, 8, 7])), Some(vec![9, 8, 7]));
    }
}
