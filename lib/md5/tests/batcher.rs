//! The batcher against the reference MD5: concurrent uploads of random
//! sizes and chunkings, an idle upload beside a busy one, abandoned ones.

use bytes::Bytes;
use cairn_md5::{Batcher, INLINE_MAX};
use rand::{Rng, SeedableRng};
use std::time::Duration;

fn reference(data: &[u8]) -> [u8; 16] {
    <md5::Md5 as md5::Digest>::digest(data).into()
}

fn seed() -> u64 {
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("SEED={seed}");
    seed
}

/// Sends `data` in random chunks and returns the digest.
async fn upload(b: &Batcher, data: Bytes, hint: Option<u64>, seed: u64) -> [u8; 16] {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut md5 = b.upload(hint).unwrap();
    let mut at = 0;
    while at < data.len() {
        let n = rng.gen_range(1..=300_000).min(data.len() - at);
        md5.update(data.slice(at..at + n)).await.unwrap();
        at += n;
        if rng.gen_ratio(1, 8) {
            tokio::task::yield_now().await;
        }
    }
    md5.finalize().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_get_their_own_digests() {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let b = Batcher::start().unwrap();
    for _round in 0..3 {
        let mut tasks = Vec::new();
        for i in 0..rng.gen_range(1..=12) {
            let len = match i % 3 {
                0 => rng.gen_range(0..3 << 20),
                1 => rng.gen_range(0..INLINE_MAX as usize * 2),
                _ => rng.gen_range(0..200),
            };
            let data: Bytes = (0..len).map(|_| rng.gen::<u8>()).collect::<Vec<_>>().into();
            let hint = rng.gen_bool(0.5).then_some(len as u64);
            let (b, s) = (b.clone(), rng.gen());
            tasks.push(tokio::spawn(async move {
                let got = upload(&b, data.clone(), hint, s).await;
                (got, reference(&data), len, hint)
            }));
        }
        for t in tasks {
            let (got, want, len, hint) = t.await.unwrap();
            assert_eq!(got, want, "{len} bytes, hint {hint:?}");
        }
    }
}

#[tokio::test]
async fn an_idle_upload_does_not_hold_back_a_busy_one() {
    let b = Batcher::start().unwrap();
    let mut idle = b.upload(None).unwrap();
    let data: Bytes = (0..8u32 << 20)
        .map(|i| (i * 7 + i / 4096) as u8)
        .collect::<Vec<_>>()
        .into();
    let got = tokio::time::timeout(Duration::from_secs(30), upload(&b, data.clone(), None, 1))
        .await
        .expect("the busy upload finishes");
    assert_eq!(got, reference(&data));
    idle.update(Bytes::from_static(b"late")).await.unwrap();
    assert_eq!(idle.finalize().await.unwrap(), reference(b"late"));
}

#[tokio::test]
async fn abandoned_uploads_are_forgotten() {
    let b = Batcher::start().unwrap();
    for _ in 0..4 {
        let mut md5 = b.upload(None).unwrap();
        md5.update(Bytes::from(vec![1u8; 100_000])).await.unwrap();
    }
    let data = Bytes::from(vec![2u8; 3 << 20]);
    let got = tokio::time::timeout(Duration::from_secs(30), upload(&b, data.clone(), None, 2))
        .await
        .expect("abandoned uploads do not hold the thread");
    assert_eq!(got, reference(&data));
}
