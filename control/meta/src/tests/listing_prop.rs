//! Object and container listings against a naive oracle of Swift's rules,
//! on random small name sets and random queries.

use std::collections::BTreeSet;

use cairn_meta_api::{ContainerListItem, ListQuery, ObjectListItem};
use proptest::prelude::*;

use super::fixture::{seeded_runner, Fixture};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Row {
    Name(String),
    Dir(String),
}

/// Swift's listing by its definition: filter, roll up, order, skip the
/// marker's own subdir, take `limit`.
fn oracle(names: &BTreeSet<String>, q: &ListQuery) -> Vec<Row> {
    let prefix = q.prefix.clone().unwrap_or_default();
    let in_range = |n: &String| {
        let (lo, hi) = if q.reverse {
            (&q.end_marker, &q.marker)
        } else {
            (&q.marker, &q.end_marker)
        };
        n.starts_with(&prefix)
            && lo.as_ref().is_none_or(|m| n.as_bytes() > m.as_bytes())
            && hi.as_ref().is_none_or(|m| n.as_bytes() < m.as_bytes())
    };
    let mut cands: Vec<&String> = names.iter().filter(|n| in_range(n)).collect();
    if q.reverse {
        cands.reverse();
    }
    let mut rows = Vec::new();
    let mut last_dir: Option<String> = None;
    for n in cands {
        let dir = q.delimiter.as_deref().and_then(|d| {
            n[prefix.len()..]
                .find(d)
                .map(|i| n[..prefix.len() + i + d.len()].to_string())
        });
        match dir {
            Some(dir) => {
                if last_dir.as_ref() == Some(&dir) {
                    continue;
                }
                last_dir = Some(dir.clone());
                if q.marker.as_ref() != Some(&dir) {
                    rows.push(Row::Dir(dir));
                }
            }
            None => rows.push(Row::Name(n.clone())),
        }
    }
    rows.truncate(q.limit);
    rows
}

const ALPHABET: &[char] = &['a', 'b', '/', '-', 'é'];

fn name(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 1..=max)
        .prop_map(|cs| cs.into_iter().collect())
}

fn query() -> impl Strategy<Value = ListQuery> {
    (
        proptest::option::of(name(2)),
        // One- and several-character delimiters, as Swift allows both.
        proptest::option::of(
            proptest::sample::select(vec!["/", "-", "é", "-/", "a/"]).prop_map(String::from),
        ),
        proptest::option::of(name(4)),
        proptest::option::of(name(4)),
        0usize..12,
        any::<bool>(),
    )
        .prop_map(
            |(prefix, delimiter, marker, end_marker, limit, reverse)| ListQuery {
                prefix,
                delimiter,
                marker,
                end_marker,
                limit,
                reverse,
            },
        )
}

// Checks list_objects against the oracle for random names and queries
// (prefix, delimiter, marker, end_marker, limit, reverse).
#[test]
fn object_listing_matches_oracle() {
    let fixture = std::cell::RefCell::new(Fixture::new());
    let case = std::cell::Cell::new(0u32);
    let mut runner = seeded_runner("object_listing_matches_oracle", 400);
    let strategy = (
        proptest::collection::btree_set(name(5), 0..25),
        proptest::collection::vec(query(), 1..6),
    );
    runner
        .run(&strategy, |(names, queries)| {
            case.set(case.get() + 1);
            let mut f = fixture.borrow_mut();
            let c = format!("c{}", case.get());
            f.put_container("a", &c, 1);
            for n in &names {
                f.put_object("a", &c, n, 5, 1);
            }
            for q in &queries {
                let got: Vec<Row> = crate::reads::list_objects(&f.db, "a", &c, q)
                    .unwrap()
                    .into_iter()
                    .map(|r| match r {
                        ObjectListItem::Object(e) => Row::Name(e.name),
                        ObjectListItem::Subdir(s) => Row::Dir(s),
                    })
                    .collect();
                prop_assert_eq!(got, oracle(&names, q), "names {:?} query {:?}", names, q);
            }
            Ok(())
        })
        .unwrap();
}

// Checks list_containers against the same oracle, and that each row carries
// the container's totals.
#[test]
fn container_listing_matches_oracle() {
    let fixture = std::cell::RefCell::new(Fixture::new());
    let case = std::cell::Cell::new(0u32);
    let mut runner = seeded_runner("container_listing_matches_oracle", 200);
    let strategy = (
        proptest::collection::btree_set(name(4), 1..15),
        proptest::collection::vec(query(), 1..6),
    );
    runner
        .run(&strategy, |(names, queries)| {
            case.set(case.get() + 1);
            let mut f = fixture.borrow_mut();
            let a = format!("AUTH_{}", case.get());
            for n in &names {
                f.put_container(&a, n, 3);
            }
            let first = names.iter().next().cloned().unwrap_or_default();
            f.put_object(&a, &first, "obj", 4, 11);
            for q in &queries {
                let got = crate::reads::list_containers(&f.db, &a, q).unwrap();
                let rows: Vec<Row> = got
                    .iter()
                    .map(|r| match r {
                        ContainerListItem::Container { name, .. } => Row::Name(name.clone()),
                        ContainerListItem::Subdir(s) => Row::Dir(s.clone()),
                    })
                    .collect();
                prop_assert_eq!(rows, oracle(&names, q), "names {:?} query {:?}", names, q);
                for r in &got {
                    if let ContainerListItem::Container {
                        name,
                        object_count,
                        bytes_used,
                        last_modified,
                    } = r
                    {
                        let want = if *name == first { (1, 11) } else { (0, 0) };
                        prop_assert_eq!((*object_count, *bytes_used), want);
                        prop_assert_eq!(last_modified.ticks(), 3);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

// Checks a hand-written Swift paging example: delimiter listing resumed
// from a subdir marker neither repeats the subdir nor walks into it.
#[test]
fn delimiter_paging_example() {
    let mut f = Fixture::new();
    f.put_container("a", "c", 1);
    for n in ["a/1", "a/2", "a/3", "b", "c/1", "d"] {
        f.put_object("a", "c", n, 2, 1);
    }
    let list = |q: ListQuery| -> Vec<String> {
        crate::reads::list_objects(&f.db, "a", "c", &q)
            .unwrap()
            .into_iter()
            .map(|r| match r {
                ObjectListItem::Object(e) => e.name,
                ObjectListItem::Subdir(s) => format!("{s}*"),
            })
            .collect()
    };
    let q = ListQuery {
        delimiter: Some("/".into()),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(list(q.clone()), ["a/*", "b"]);
    assert_eq!(
        list(ListQuery {
            marker: Some("a/".into()),
            ..q.clone()
        }),
        ["b", "c/*"]
    );
    assert_eq!(
        list(ListQuery {
            marker: Some("c/".into()),
            ..q.clone()
        }),
        ["d"]
    );
    assert_eq!(
        list(ListQuery {
            reverse: true,
            limit: 10,
            ..q.clone()
        }),
        ["d", "c/*", "b", "a/*"]
    );
    assert_eq!(
        list(ListQuery {
            reverse: true,
            marker: Some("c/1".into()),
            end_marker: Some("a/2".into()),
            ..q
        }),
        ["b", "a/*"]
    );
}
