use super::*;
use crate::balancer::test_util::{fail, members, pick_counts};

fn config(min: u64, max: u64) -> RingHashConfig {
    RingHashConfig {
        minimum_ring_size: min,
        maximum_ring_size: max,
    }
}

fn picked(p: &dyn Picker, hash: u64) -> PickResult {
    p.pick(&PickRequest::with_hash(hash))
}

#[test]
fn same_hash_sticks_to_one_endpoint() {
    let ms = members(10, Connectivity::Ready);
    let built = RingHash::new(&config(1024, 4096), DEFAULT_RING_SIZE_CAP).build(
        &ms,
        &AtomicRng::new(1),
        &fail(),
    );
    let counts = pick_counts(&*built.picker, 100, Some(0xdead_beef));
    assert_eq!(counts.len(), 1, "{counts:?}");
}

#[test]
fn distinct_hashes_spread_over_endpoints() {
    let ms = members(10, Connectivity::Ready);
    let mut policy = RingHash::new(&config(1024, 4096), DEFAULT_RING_SIZE_CAP);
    let built = policy.build(&ms, &AtomicRng::new(1), &fail());
    let mut counts = std::collections::HashMap::new();
    let rng = AtomicRng::new(77);
    for _ in 0..10_000 {
        if let PickResult::Pick(h) = picked(&*built.picker, rng.next_u64()) {
            *counts.entry(h.id()).or_insert(0usize) += 1;
        }
    }
    assert_eq!(counts.len(), 10);
    // 1024 entries over 10 endpoints: every share within ±40 % of even.
    assert!(
        counts.values().all(|&c| (600..1_400).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn ring_size_respects_min_and_max() {
    let mut ms = members(3, Connectivity::Ready);
    let ring = RingHash::new(&config(100, 4096), DEFAULT_RING_SIZE_CAP).ring(&ms);
    assert!((100..=102).contains(&ring.len()), "min 100: {}", ring.len());
    // A very light endpoint would need a huge ring: the max wins.
    ms[0].weight = 1;
    ms[1].weight = 10_000;
    ms[2].weight = 10_000;
    let ring = RingHash::new(&config(100, 500), DEFAULT_RING_SIZE_CAP).ring(&ms);
    assert!(ring.len() <= 501, "max 500: {}", ring.len());
    // The local cap bounds an xDS maximum of 8M.
    let ring = RingHash::new(&config(1024, 8 << 20), DEFAULT_RING_SIZE_CAP).ring(&ms);
    assert!(ring.len() <= 4097, "cap 4096: {}", ring.len());
}

#[test]
fn weights_set_the_share_of_the_ring() {
    let mut ms = members(2, Connectivity::Ready);
    ms[1].weight = 3;
    let ring = RingHash::new(&config(1000, 4096), DEFAULT_RING_SIZE_CAP).ring(&ms);
    let heavy = ring.owners.iter().filter(|&&o| o == 1).count();
    assert!(
        (3 * ring.len() / 4).abs_diff(heavy) <= 1,
        "{heavy} of {}",
        ring.len()
    );
}

#[test]
fn hash_key_replaces_the_address_on_the_ring() {
    let a = members(2, Connectivity::Ready);
    let mut b = members(2, Connectivity::Ready);
    b[0].ring_key = Arc::from("pod-a");
    let mut policy = RingHash::new(&config(64, 64), 64);
    let (ra, rb) = (
        policy.ring(&a).hashes.clone(),
        policy.ring(&b).hashes.clone(),
    );
    assert_ne!(ra, rb);
    let expected = xxh64(b"pod-a_0", 0);
    assert!(rb.contains(&expected));
}

#[test]
fn skips_failed_entries_and_connects_idle_ones() {
    let mut ms = members(4, Connectivity::Ready);
    let mut policy = RingHash::new(&config(64, 64), 64);
    let hash = 12_345;
    let first = match picked(
        &*policy.build(&ms, &AtomicRng::new(1), &fail()).picker,
        hash,
    ) {
        PickResult::Pick(h) => h.id().0 as usize,
        other => panic!("{other:?}"),
    };
    ms[first].state = Connectivity::TransientFailure;
    let second = match picked(
        &*policy.build(&ms, &AtomicRng::new(1), &fail()).picker,
        hash,
    ) {
        PickResult::Pick(h) => h.id().0 as usize,
        other => panic!("{other:?}"),
    };
    assert_ne!(first, second);
    ms[second].state = Connectivity::Idle;
    let built = policy.build(&ms, &AtomicRng::new(1), &fail());
    assert_eq!(
        picked(&*built.picker, hash),
        PickResult::Queue {
            connect: Some(ms[second].handle.clone())
        }
    );
    ms[second].state = Connectivity::Connecting;
    let built = policy.build(&ms, &AtomicRng::new(1), &fail());
    assert_eq!(picked(&*built.picker, hash), PickResult::queue());
    for m in &mut ms {
        m.state = Connectivity::TransientFailure;
    }
    let built = policy.build(&ms, &AtomicRng::new(1), &fail());
    assert_eq!(built.state, Connectivity::TransientFailure);
    assert_eq!(picked(&*built.picker, hash), fail());
}

#[test]
fn no_hash_walks_to_a_ready_endpoint() {
    let mut ms = members(5, Connectivity::Idle);
    ms[3].state = Connectivity::Ready;
    let built = RingHash::new(&config(64, 64), 64).build(&ms, &AtomicRng::new(8), &fail());
    assert_eq!(built.state, Connectivity::Ready);
    let counts = pick_counts(&*built.picker, 50, None);
    assert_eq!(counts.keys().collect::<Vec<_>>(), vec![&ms[3].handle.id()]);
}

#[test]
fn ring_is_reused_while_keys_and_weights_are_unchanged() {
    let mut ms = members(3, Connectivity::Ready);
    let mut policy = RingHash::new(&config(64, 64), 64);
    let r1 = policy.ring(&ms);
    ms[0].state = Connectivity::Idle;
    assert!(Arc::ptr_eq(&r1, &policy.ring(&ms)));
    ms[0].weight = 2;
    assert!(!Arc::ptr_eq(&r1, &policy.ring(&ms)));
}

#[test]
fn bucketed_lookup_matches_a_plain_search() {
    let ms = members(7, Connectivity::Ready);
    let ring = RingHash::new(&config(100, 100), 4096).ring(&ms);
    let rng = AtomicRng::new(3);
    let probes = (0..5_000).map(|_| rng.next_u64());
    for h in probes.chain([0, 1, u64::MAX, ring.hashes[0], ring.hashes[ring.len() - 1]]) {
        let plain = ring.hashes.iter().position(|&x| x >= h).unwrap_or(0);
        assert_eq!(ring.locate(h), plain, "hash {h:#x}");
    }
}
