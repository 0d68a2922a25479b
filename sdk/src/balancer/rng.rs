//! A seeded, lock-free random source pickers can share across threads.
//!
//! wyrand (the generator `fastrand` uses) over an atomic counter: every draw is one relaxed
//! `fetch_add` plus a 128-bit multiply, so an immutable `Send + Sync` picker can draw without a
//! lock. With one thread and a fixed seed the sequence is fully deterministic, which is what the
//! tests rely on. Not cryptographic; it only spreads load.

use std::sync::atomic::{AtomicU64, Ordering};

const INCREMENT: u64 = 0xa076_1d64_78bd_642f;
const MIX: u64 = 0xe703_7ed1_a0b4_28db;

/// A shareable seeded random number generator.
#[derive(Debug)]
pub struct AtomicRng(AtomicU64);

impl AtomicRng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        AtomicRng(AtomicU64::new(seed))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&self) -> u64 {
        let s = self
            .0
            .fetch_add(INCREMENT, Ordering::Relaxed)
            .wrapping_add(INCREMENT);
        let t = u128::from(s) * u128::from(s ^ MIX);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A uniform draw in `0..n` (Lemire's multiply-shift; `n` = 0 gives 0).
    #[inline]
    pub fn below(&self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform index in `0..n`.
    #[inline]
    pub fn index(&self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_bounded() {
        let (a, b) = (AtomicRng::new(7), AtomicRng::new(7));
        for _ in 0..100 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
        assert_ne!(AtomicRng::new(1).next_u64(), AtomicRng::new(2).next_u64());
    }

    #[test]
    fn draws_cover_the_range_evenly() {
        let r = AtomicRng::new(42);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[r.index(4)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }
}
