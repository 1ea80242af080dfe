//! What an object benchmark does: the workloads, their operations, and the
//! weights of a `mixed` workload (`get=70,put=20,delete=10`).

use crate::error::BenchError;
use rand::Rng;

/// One measured object operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectOp {
    /// Write a new object.
    Put,
    /// Read a prepared object (and check its length).
    Get,
    /// Delete an object (a prepared one, or in `mixed` one this worker wrote).
    Delete,
    /// One listing page (up to 1000 names) of a container.
    List,
    /// Upload one object in parts (S3 multipart, Swift SLO).
    Multipart,
}

impl ObjectOp {
    pub fn name(self) -> &'static str {
        match self {
            ObjectOp::Put => "put",
            ObjectOp::Get => "get",
            ObjectOp::Delete => "delete",
            ObjectOp::List => "list",
            ObjectOp::Multipart => "multipart",
        }
    }

    fn parse(name: &str) -> Option<ObjectOp> {
        [
            ObjectOp::Put,
            ObjectOp::Get,
            ObjectOp::Delete,
            ObjectOp::List,
            ObjectOp::Multipart,
        ]
        .into_iter()
        .find(|op| op.name() == name)
    }
}

/// Weighted operations; each draw picks one with probability weight / total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(ObjectOp, u32)>,
    total: u32,
}

impl Mix {
    /// `get=70,put=20,delete=10`: names of operations with positive whole
    /// weights, each named once (multipart is not mixable).
    pub fn parse(spec: &str) -> Result<Mix, BenchError> {
        let bad = |why: &str| BenchError::invalid("mix", format!("{spec:?}: {why}"));
        let mut weights: Vec<(ObjectOp, u32)> = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| bad("expected op=weight"))?;
            let op = ObjectOp::parse(name.trim())
                .filter(|op| *op != ObjectOp::Multipart)
                .ok_or_else(|| bad("operations are get, put, delete, list"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| bad("weights are whole numbers"))?;
            if weights.iter().any(|(o, _)| *o == op) {
                return Err(bad("an operation is named twice"));
            }
            if weight > 0 {
                weights.push((op, weight));
            }
        }
        let total = weights
            .iter()
            .try_fold(0u32, |t, (_, w)| t.checked_add(*w))
            .ok_or_else(|| bad("weights too large"))?;
        if total == 0 {
            return Err(bad("no operation has a weight"));
        }
        Ok(Mix { weights, total })
    }

    /// The operation at `ticket` in `0..total`.
    fn at(&self, mut ticket: u32) -> ObjectOp {
        for (op, w) in &self.weights {
            if ticket < *w {
                return *op;
            }
            ticket -= w;
        }
        unreachable!("a ticket below the total falls in some weight")
    }

    pub fn pick(&self, rng: &mut impl Rng) -> ObjectOp {
        self.at(rng.gen_range(0..self.total))
    }

    pub fn contains(&self, op: ObjectOp) -> bool {
        self.weights.iter().any(|(o, _)| *o == op)
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .weights
            .iter()
            .map(|(op, w)| format!("{}={w}", op.name()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// An object workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    Put,
    Get,
    Delete,
    List,
    Multipart { part_bytes: u64 },
    Mixed(Mix),
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Get => "get",
            Workload::Delete => "delete",
            Workload::List => "list",
            Workload::Multipart { .. } => "multipart",
            Workload::Mixed(_) => "mixed",
        }
    }

    /// Whether objects are written before the measurement (get, list, delete, mixed).
    pub fn needs_prepared_objects(&self) -> bool {
        !matches!(self, Workload::Put | Workload::Multipart { .. })
    }

    /// The operation a worker does next.
    pub fn pick(&self, rng: &mut impl Rng) -> ObjectOp {
        match self {
            Workload::Put => ObjectOp::Put,
            Workload::Get => ObjectOp::Get,
            Workload::Delete => ObjectOp::Delete,
            Workload::List => ObjectOp::List,
            Workload::Multipart { .. } => ObjectOp::Multipart,
            Workload::Mixed(mix) => mix.pick(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mix_weights_map_tickets_to_operations_in_order() {
        // get=70,put=20,delete=10: tickets 0..70 get, 70..90 put, 90..100 delete.
        let mix = Mix::parse("get=70,put=20,delete=10").unwrap();
        assert_eq!(mix.total, 100);
        assert_eq!(mix.at(0), ObjectOp::Get);
        assert_eq!(mix.at(69), ObjectOp::Get);
        assert_eq!(mix.at(70), ObjectOp::Put);
        assert_eq!(mix.at(89), ObjectOp::Put);
        assert_eq!(mix.at(90), ObjectOp::Delete);
        assert_eq!(mix.at(99), ObjectOp::Delete);
        assert_eq!(mix.to_string(), "get=70,put=20,delete=10");
    }

    #[test]
    fn mix_draws_follow_the_weights() {
        // 100,000 draws of get=3,list=1 come out near 75 % / 25 %.
        let mix = Mix::parse("get=3, list=1").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let gets = (0..100_000)
            .filter(|_| mix.pick(&mut rng) == ObjectOp::Get)
            .count();
        assert!((74_000..76_000).contains(&gets), "{gets}");
    }

    #[test]
    fn bad_mixes_are_refused() {
        // Unknown or repeated ops, non-numeric weights, multipart, and all-zero weights.
        for bad in [
            "",
            "get",
            "get=x",
            "copy=1",
            "get=1,get=2",
            "multipart=1",
            "get=0,put=0",
        ] {
            assert!(Mix::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!Mix::parse("get=1,put=0").unwrap().contains(ObjectOp::Put));
    }
}
