//! Ring and builder files: JSON, written atomically (temp file, fsync, rename, fsync
//! the directory), and the compact base64 encoding of the big per-partition tables.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::RingError;

/// Largest ring or builder file we agree to read, in bytes (part power 24 fits).
pub const FILE_SIZE_MAX: u64 = 1 << 30;

/// Serialises `value` as JSON into `path`, replacing it atomically: readers see the old
/// file or the new one, never a torn one, even across a crash.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RingError> {
    let io = |source| RingError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec(value).map_err(|source| RingError::Json {
        path: path.to_owned(),
        source,
    })?;
    let file_name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("path has no file name")))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp_name = file_name.to_owned();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    // 1. write the whole file under a temporary name   2. fsync it
    // 3. rename over the target   4. fsync the directory so the rename is durable.
    // If interrupted before 3, the target is untouched and the temp file is removed.
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Reads and parses a JSON file written by [`save_json`].
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T, RingError> {
    let io = |source| RingError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > FILE_SIZE_MAX {
        return Err(RingError::Corrupt(format!(
            "{}: {len} bytes is larger than {FILE_SIZE_MAX}",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    serde_json::from_slice(&bytes).map_err(|source| RingError::Json {
        path: path.to_owned(),
        source,
    })
}

/// Little-endian u32s as base64.
pub fn encode_u32s(values: &[u32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    B64.encode(bytes)
}

/// Inverse of [`encode_u32s`]; checks the length.
pub fn decode_u32s(text: &str, expected_len: usize) -> Result<Vec<u32>, RingError> {
    let bytes = decode(text, expected_len, 4)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Little-endian u64s as base64.
pub fn encode_u64s(values: &[u64]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    B64.encode(bytes)
}

/// Inverse of [`encode_u64s`]; checks the length.
pub fn decode_u64s(text: &str, expected_len: usize) -> Result<Vec<u64>, RingError> {
    let bytes = decode(text, expected_len, 8)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect())
}

fn decode(text: &str, expected_len: usize, width: usize) -> Result<Vec<u8>, RingError> {
    let bytes = B64
        .decode(text)
        .map_err(|e| RingError::Corrupt(format!("table is not base64: {e}")))?;
    if bytes.len() != expected_len * width {
        return Err(RingError::Corrupt(format!(
            "table has {} bytes, expected {}",
            bytes.len(),
            expected_len * width
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Tables survive an encode/decode round trip and a wrong length is refused.
    #[test]
    fn table_round_trip() {
        let v = vec![0, 1, u32::MAX, 7];
        assert_eq!(decode_u32s(&encode_u32s(&v), 4).unwrap(), v);
        assert!(decode_u32s(&encode_u32s(&v), 5).is_err());
        assert!(decode_u32s("!!", 0).is_err());
        let w = vec![0, u64::MAX, 3];
        assert_eq!(decode_u64s(&encode_u64s(&w), 3).unwrap(), w);
    }

    // save_json replaces the file and leaves no temp file behind.
    #[test]
    fn atomic_save_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        save_json(&p, &vec![1u32, 2]).unwrap();
        save_json(&p, &vec![3u32]).unwrap();
        let back: Vec<u32> = load_json(&p).unwrap();
        assert_eq!(back, vec![3]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
