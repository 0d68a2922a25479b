//! ring_hash (gRFC A42, A61, A76): consistent hashing of a request hash onto a ring of endpoint
//! entries, so that requests with the same hash keep going to the same endpoint while the
//! endpoint set is stable.
//!
//! Ring: each endpoint key (`hash_key` metadata per A76, else `ip:port`) gets entries
//! `xxh64("{key}_{i}", seed 0)` in proportion to its normalised weight (endpoint weight × locality
//! weight, since ring hash has no locality layer), the total being the smallest size ≥
//! `minimum_ring_size` at which the lightest endpoint gets a whole entry, capped at
//! `maximum_ring_size` and at the local cap (4096 by default, like gRPC). Lookup finds the first
//! entry at or after the hash, wrapping around: a bucket table on the hash's top bits narrows it
//! to about one entry, then a binary search inside the bucket (O(1) expected, O(log n) worst).
//!
//! Pick (A42 as amended by A61): skip entries in TRANSIENT_FAILURE and use the first other one;
//! READY → pick, CONNECTING → queue, IDLE → queue and ask the channel to connect it (endpoints
//! connect lazily). No request hash (A76: no hash policy matched) → a random ring position and the
//! first READY entry from there; if none is READY, as above. All TRANSIENT_FAILURE → fail.
//! The "next usable entry" tables are precomputed per picker, so a pick is O(log ring).

use std::sync::Arc;

use xxhash_rust::xxh64::xxh64;

use crate::xds::resource::cluster::RingHashConfig;

use super::Built;
use super::endpoint::{Connectivity, EndpointHandle, Member};
use super::picker::{PickRequest, PickResult, Picker};
use super::rng::AtomicRng;

/// Local cap on the ring size, as gRPC's `ringHashSizeCap` default.
pub const DEFAULT_RING_SIZE_CAP: u64 = 4096;
const NONE: u32 = u32::MAX;

/// Ring keys with their weights, in member order: what a ring is built from.
type RingKeys = Vec<(Arc<str>, u64)>;

/// Builds ring-hash pickers; keeps the ring while the endpoint keys and weights stay the same.
#[derive(Debug)]
pub(crate) struct RingHash {
    min: u64,
    max: u64,
    cached: Option<(RingKeys, Arc<Ring>)>,
}

/// The sorted ring: (hash, index into the member list), plus a bucket index on the top bits of
/// the hash so that a lookup is O(1) on average instead of a full binary search.
#[derive(Debug)]
pub(crate) struct Ring {
    hashes: Box<[u64]>,
    owners: Box<[u32]>,
    /// `starts[b]` = first entry whose hash is ≥ `b << shift`; one extra slot = `len`.
    starts: Box<[u32]>,
    shift: u32,
}

impl Ring {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Index of the first entry whose hash is ≥ `h`, wrapping to 0.
    fn locate(&self, h: u64) -> usize {
        let b = (h >> self.shift) as usize;
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        let i = lo + self.hashes[lo..hi].partition_point(|&x| x < h);
        if i == self.hashes.len() { 0 } else { i }
    }

    fn new(mut entries: Vec<(u64, u32)>) -> Self {
        entries.sort_unstable();
        let hashes: Box<[u64]> = entries.iter().map(|e| e.0).collect();
        let bits = (entries.len().max(2) as u64)
            .next_power_of_two()
            .trailing_zeros();
        let shift = 64 - bits;
        let starts = (0..=1u64 << bits)
            .map(|b| match b.checked_shl(shift) {
                Some(lower) if b < 1 << bits => hashes.partition_point(|&x| x < lower) as u32,
                _ => hashes.len() as u32,
            })
            .collect();
        Ring {
            hashes,
            owners: entries.iter().map(|e| e.1).collect(),
            starts,
            shift,
        }
    }
}

impl RingHash {
    /// A policy with `config`'s sizes, both capped at `cap`.
    pub fn new(config: &RingHashConfig, cap: u64) -> Self {
        let cap = cap.max(1);
        RingHash {
            min: config.minimum_ring_size.clamp(1, cap),
            max: config.maximum_ring_size.clamp(1, cap),
            cached: None,
        }
    }

    /// The ring for these members, rebuilt only when keys or weights changed.
    pub fn ring(&mut self, members: &[Member]) -> Arc<Ring> {
        let key: RingKeys = members
            .iter()
            .map(|m| (m.ring_key.clone(), m.weight.max(1)))
            .collect();
        if let Some((k, ring)) = &self.cached
            && *k == key
        {
            return ring.clone();
        }
        let ring = Arc::new(build_ring(&key, self.min, self.max));
        self.cached = Some((key, ring.clone()));
        ring
    }

    /// A picker over the ring with the members' current connectivity.
    pub fn build(&mut self, members: &[Member], seed: &AtomicRng, fail: &PickResult) -> Built {
        let state = aggregate(members);
        if members.is_empty() {
            return Built::fixed(state, fail.clone());
        }
        let ring = self.ring(members);
        if ring.len() == 0 {
            return Built::fixed(Connectivity::TransientFailure, fail.clone());
        }
        let states: Vec<Connectivity> = members.iter().map(|m| m.state).collect();
        let entry_state = |i: usize| states[ring.owners[i] as usize];
        let next_usable = next_matching(ring.len(), |i| {
            entry_state(i) != Connectivity::TransientFailure
        });
        let next_ready = next_matching(ring.len(), |i| entry_state(i) == Connectivity::Ready);
        Built::new(
            state,
            RingHashPicker {
                ring,
                endpoints: members
                    .iter()
                    .map(|m| (m.handle.clone(), m.state))
                    .collect(),
                next_usable: next_usable.into_boxed_slice(),
                next_ready: next_ready.into_boxed_slice(),
                rng: AtomicRng::new(seed.next_u64()),
                fail: fail.clone(),
            },
        )
    }
}

/// Builds the ring per A42's weight normalisation.
fn build_ring(keys: &[(Arc<str>, u64)], min: u64, max: u64) -> Ring {
    let total: u64 = keys.iter().map(|(_, w)| *w).sum();
    let total = total.max(1) as f64;
    let min_norm = keys
        .iter()
        .map(|(_, w)| *w as f64 / total)
        .fold(1.0_f64, f64::min);
    let scale = ((min_norm * min as f64).ceil() / min_norm).min(max as f64);
    let mut entries: Vec<(u64, u32)> = Vec::with_capacity(scale.ceil() as usize);
    let (mut current, mut target) = (0.0_f64, 0.0_f64);
    for (owner, (key, w)) in keys.iter().enumerate() {
        target += scale * (*w as f64 / total);
        let mut i = 0u64;
        while current < target {
            let h = xxh64(format!("{key}_{i}").as_bytes(), 0);
            entries.push((h, owner as u32));
            i += 1;
            current += 1.0;
        }
    }
    Ring::new(entries)
}

/// For each ring index, the first index at or after it (circularly) where `is` holds.
fn next_matching(n: usize, is: impl Fn(usize) -> bool) -> Vec<u32> {
    let mut out = vec![NONE; n];
    let mut next = NONE;
    for pass in 0..2 {
        for i in (0..n).rev() {
            if is(i) {
                next = i as u32;
            }
            if pass == 1 || next != NONE {
                out[i] = next;
            }
        }
    }
    out
}

/// Aggregate state per A42: ≥1 READY → READY; ≥2 TF → TF; ≥1 CONNECTING → CONNECTING;
/// one TF among several → CONNECTING; ≥1 IDLE → IDLE; else TF.
fn aggregate(members: &[Member]) -> Connectivity {
    let count = |s| members.iter().filter(|m| m.state == s).count();
    let tf = count(Connectivity::TransientFailure);
    if count(Connectivity::Ready) > 0 {
        Connectivity::Ready
    } else if tf >= 2 {
        Connectivity::TransientFailure
    } else if count(Connectivity::Connecting) > 0 || (tf == 1 && members.len() > 1) {
        Connectivity::Connecting
    } else if count(Connectivity::Idle) > 0 {
        Connectivity::Idle
    } else {
        Connectivity::TransientFailure
    }
}

/// Picks on a ring snapshot.
#[derive(Debug)]
pub(crate) struct RingHashPicker {
    ring: Arc<Ring>,
    endpoints: Box<[(EndpointHandle, Connectivity)]>,
    next_usable: Box<[u32]>,
    next_ready: Box<[u32]>,
    rng: AtomicRng,
    fail: PickResult,
}

impl RingHashPicker {
    fn answer(&self, entry: u32) -> PickResult {
        if entry == NONE {
            return self.fail.clone();
        }
        let (handle, state) = &self.endpoints[self.ring.owners[entry as usize] as usize];
        match state {
            Connectivity::Ready => PickResult::Pick(handle.clone()),
            Connectivity::Idle => PickResult::Queue {
                connect: Some(handle.clone()),
            },
            Connectivity::Connecting => PickResult::queue(),
            Connectivity::TransientFailure => self.fail.clone(),
        }
    }
}

impl Picker for RingHashPicker {
    fn pick(&self, request: &PickRequest) -> PickResult {
        match request.hash {
            Some(h) => self.answer(self.next_usable[self.ring.locate(h)]),
            None => {
                let at = self.rng.index(self.ring.len());
                match self.next_ready[at] {
                    NONE => self.answer(self.next_usable[at]),
                    ready => self.answer(ready),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
