use super::*;
use tonic::codegen::http::HeaderValue;

fn header(name: &str, terminal: bool) -> HashPolicy {
    HashPolicy {
        source: HashSource::Header {
            name: name.to_string(),
            rewrite: None,
        },
        terminal,
    }
}

fn channel(terminal: bool) -> HashPolicy {
    HashPolicy {
        source: HashSource::ChannelId,
        terminal,
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn header_policy_is_xxh64_seed_zero_of_the_value() {
    let h = headers(&[("user", "alice")]);
    // Known-answer vector: XXH64("abc", seed 0) from the xxHash reference implementation.
    assert_eq!(xxh64(b"abc", 0), 0x44bc_2cf5_ad77_0999);
    assert_eq!(
        request_hash(&[header("user", false)], &h, 7),
        Some(xxh64(b"alice", 0))
    );
    // The same user always lands on the same hash; another user does not.
    let bob = headers(&[("user", "bob")]);
    assert_ne!(
        request_hash(&[header("user", false)], &h, 7),
        request_hash(&[header("user", false)], &bob, 7)
    );
}

#[test]
fn several_values_are_joined_with_commas_before_hashing() {
    let h = headers(&[("tag", "a"), ("tag", "b")]);
    assert_eq!(
        request_hash(&[header("tag", false)], &h, 0),
        Some(xxh64(b"a,b", 0))
    );
}

#[test]
fn regex_rewrite_applies_before_hashing() {
    let policy = HashPolicy {
        source: HashSource::Header {
            name: "session".into(),
            rewrite: Some((Regex::unanchored("-[0-9]+$").unwrap(), String::new())),
        },
        terminal: false,
    };
    // Two sessions of the same user hash alike once the numeric suffix is stripped.
    let a = request_hash(
        std::slice::from_ref(&policy),
        &headers(&[("session", "alice-1")]),
        0,
    );
    let b = request_hash(&[policy], &headers(&[("session", "alice-22")]), 0);
    assert_eq!(a, Some(xxh64(b"alice", 0)));
    assert_eq!(a, b);
}

#[test]
fn policies_combine_by_rotate_and_xor() {
    let h = headers(&[("a", "1"), ("b", "2")]);
    let (ha, hb) = (xxh64(b"1", 0), xxh64(b"2", 0));
    let got = request_hash(&[header("a", false), header("b", false)], &h, 0);
    assert_eq!(got, Some(ha.rotate_left(1) ^ hb));
    // Two identical policies do not cancel each other out.
    let twice = request_hash(&[header("a", false), header("a", false)], &h, 0);
    assert_eq!(twice, Some(ha.rotate_left(1) ^ ha));
    assert_ne!(twice, Some(0));
}

#[test]
fn terminal_stops_only_once_a_hash_exists() {
    let h = headers(&[("b", "2")]);
    let hb = xxh64(b"2", 0);
    // `a` is missing, so its terminal flag does not stop evaluation.
    let got = request_hash(
        &[header("a", true), header("b", true), channel(false)],
        &h,
        9,
    );
    assert_eq!(got, Some(hb));
    // Without the terminal flag on `b`, the channel id is mixed in as well.
    let got = request_hash(&[header("b", false), channel(false)], &h, 9);
    assert_eq!(got, Some(hb.rotate_left(1) ^ 9));
}

#[test]
fn channel_id_is_used_as_is() {
    let h = HeaderMap::new();
    assert_eq!(request_hash(&[channel(false)], &h, 0xfeed), Some(0xfeed));
}

#[test]
fn no_hash_when_nothing_yields_one() {
    let h = headers(&[("token-bin", "AAEC")]);
    assert_eq!(
        request_hash(
            &[header("token-bin", false), header("missing", false)],
            &h,
            1
        ),
        None
    );
    assert_eq!(request_hash(&[], &h, 1), None);
}
