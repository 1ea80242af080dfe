//! Where a run's objects live: its containers (`<prefix>-<run id>-<i>`,
//! valid as S3 bucket names too), the names and sizes of the prepared
//! objects, and the names workers write. Names are functions of numbers,
//! so nothing needs remembering to read or clean up.

use crate::error::BenchError;
use crate::size::SizeDist;
use rand::SeedableRng;

/// The longest container prefix (S3 bucket names stop at 63 characters).
const PREFIX_CHARS_MAX: usize = 40;

/// A run's containers and object names.
#[derive(Debug, Clone)]
pub struct Layout {
    containers: Vec<String>,
    /// Swift segments containers, one per container (multipart over Swift only).
    segments: Vec<String>,
    prepared: u64,
    size: SizeDist,
    seed: u64,
}

/// How a layout is made.
#[derive(Debug, Clone)]
pub struct LayoutSpec<'a> {
    pub prefix: &'a str,
    pub run_id: &'a str,
    pub containers: usize,
    pub with_segments: bool,
    pub prepared: u64,
    pub size: SizeDist,
    pub seed: u64,
}

impl Layout {
    pub fn new(spec: LayoutSpec<'_>) -> Result<Layout, BenchError> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if spec.prefix.is_empty()
            || spec.prefix.len() > PREFIX_CHARS_MAX
            || !spec.prefix.chars().all(ok_char)
        {
            return Err(BenchError::invalid(
                "container prefix",
                format!("{:?}: 1-{PREFIX_CHARS_MAX} of a-z, 0-9, -", spec.prefix),
            ));
        }
        if spec.containers == 0 {
            return Err(BenchError::invalid("containers", "at least 1"));
        }
        let containers: Vec<String> = (0..spec.containers)
            .map(|i| format!("{}-{}-{i}", spec.prefix, spec.run_id))
            .collect();
        let segments = if spec.with_segments {
            containers.iter().map(|c| format!("{c}-segments")).collect()
        } else {
            Vec::new()
        };
        Ok(Layout {
            containers,
            segments,
            prepared: spec.prepared,
            size: spec.size,
            seed: spec.seed,
        })
    }

    pub fn container_count(&self) -> usize {
        self.containers.len()
    }

    pub fn container(&self, i: usize) -> &str {
        &self.containers[i % self.containers.len()]
    }

    /// The segments container beside container `i` (Swift multipart).
    pub fn segments(&self, i: usize) -> &str {
        self.segments
            .get(i % self.containers.len())
            .map_or("", String::as_str)
    }

    /// Every container the run creates (and deletes).
    pub fn all_containers(&self) -> impl Iterator<Item = &str> {
        self.containers
            .iter()
            .chain(&self.segments)
            .map(String::as_str)
    }

    /// The sizes objects are written with.
    pub fn size(&self) -> &SizeDist {
        &self.size
    }

    pub fn prepared_count(&self) -> u64 {
        self.prepared
    }

    /// Prepared object `j`: its container index and name.
    pub fn prepared(&self, j: u64) -> (usize, String) {
        (
            (j % self.containers.len() as u64) as usize,
            format!("p{j:09}"),
        )
    }

    /// The size of prepared object `j`: drawn from a generator seeded by
    /// the run's seed and `j`, so a reader knows it without asking.
    pub fn prepared_size(&self, j: u64) -> u64 {
        if let SizeDist::Fixed(n) = self.size {
            return n;
        }
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(self.seed ^ j.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.size.sample(&mut rng)
    }

    /// The `seq`th object worker `worker` writes: container index and name.
    pub fn written(&self, worker: usize, seq: u64) -> (usize, String) {
        let c = (worker as u64 + seq) % self.containers.len() as u64;
        (c as usize, format!("w{worker:04}-{seq:09}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: SizeDist, segments: bool) -> Layout {
        Layout::new(LayoutSpec {
            prefix: "cairn-bench",
            run_id: "ab12",
            containers: 3,
            with_segments: segments,
            prepared: 10,
            size,
            seed: 99,
        })
        .unwrap()
    }

    #[test]
    fn names_spread_over_containers_and_never_collide() {
        // Prepared and written names differ; consecutive objects land in different containers.
        let l = layout(SizeDist::Fixed(1), false);
        assert_eq!(l.container(4), "cairn-bench-ab12-1");
        assert_eq!(l.prepared(4), (1, "p000000004".into()));
        assert_eq!(l.written(2, 7), (0, "w0002-000000007".into()));
        assert_ne!(l.written(0, 1).0, l.written(0, 2).0);
        assert_eq!(l.all_containers().count(), 3);
        assert_eq!(layout(SizeDist::Fixed(1), true).all_containers().count(), 6);
    }

    #[test]
    fn prepared_sizes_are_reproducible() {
        // The same object always has the same drawn size; sizes vary between objects.
        let l = layout(
            SizeDist::Uniform {
                min: 1,
                max: 1 << 20,
            },
            false,
        );
        let sizes: Vec<u64> = (0..10).map(|j| l.prepared_size(j)).collect();
        assert_eq!(
            sizes,
            (0..10).map(|j| l.prepared_size(j)).collect::<Vec<_>>()
        );
        assert!(sizes.iter().any(|s| *s != sizes[0]));
    }

    #[test]
    fn prefixes_that_are_not_bucket_names_are_refused() {
        // Upper case, underscores and empty prefixes cannot name an S3 bucket.
        for bad in ["", "Bench", "a_b", &"x".repeat(41)] {
            let spec = LayoutSpec {
                prefix: bad,
                run_id: "1",
                containers: 1,
                with_segments: false,
                prepared: 0,
                size: SizeDist::Fixed(1),
                seed: 0,
            };
            assert!(Layout::new(spec).is_err(), "{bad:?}");
        }
    }
}
