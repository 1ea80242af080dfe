//! On-disk faults for whole-system tests: find where an object's bytes are
//! stored on a device, by a pattern taken from its body (so a test needs
//! no knowledge of the segment or blob layout), and flip one of them in
//! place under a running node.

use anyhow::{Context, Result};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Every regular file under `dir`, recursively (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Where each of `needles` occurs in the files under `dir`: for each
/// needle, every `(file, offset)` holding it. Each file is read once; a
/// file removed meanwhile (a compacted segment, a rocksdb file) is skipped.
pub fn find_all(dir: &Path, needles: &[&[u8]]) -> Result<Vec<Vec<(PathBuf, u64)>>> {
    let finders: Vec<_> = needles.iter().map(memchr::memmem::Finder::new).collect();
    let mut found = vec![Vec::new(); needles.len()];
    for file in files_under(dir) {
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        for (finder, hits) in finders.iter().zip(&mut found) {
            for at in finder.find_iter(&bytes) {
                hits.push((file.clone(), at as u64));
            }
        }
    }
    Ok(found)
}

/// XORs the byte at `offset` of `path` with 0x5a, in place: no truncation
/// or rewrite, so a node appending to the same file meanwhile loses nothing.
pub fn flip_byte(path: &Path, offset: u64) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset)?;
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset)?;
    Ok(())
}
