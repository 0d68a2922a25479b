//! SAN extraction from rcgen-minted certificates (every name type, none, malformed DER) and
//! A29 SAN matching (each matcher kind, `ignore_case`, DNS wildcards, IP spellings).

use std::net::IpAddr;

use rcgen::{CertificateParams, KeyPair, SanType};

use super::*;
use crate::xds::resource::common::Regex;

fn certificate(sans: Vec<SanType>) -> Vec<u8> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.subject_alt_names = sans;
    let key = KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").der().to_vec()
}

fn matcher(pattern: StringPattern, ignore_case: bool) -> StringMatcher {
    StringMatcher {
        pattern,
        ignore_case,
    }
}

fn exact(s: &str) -> StringMatcher {
    matcher(StringPattern::Exact(s.to_string()), false)
}

const SPIFFE: &str = "spiffe://cluster.local/ns/default/sa/greeter";

#[test]
fn reads_every_supported_name_type() {
    let der = certificate(vec![
        SanType::DnsName("greeter.default.svc".try_into().expect("dns")),
        SanType::URI(SPIFFE.try_into().expect("uri")),
        SanType::Rfc822Name("ops@example.com".try_into().expect("email")),
        SanType::IpAddress("10.0.0.7".parse().expect("ip")),
        SanType::IpAddress("::1".parse().expect("ip6")),
    ]);
    let sans = SubjectAltName::from_certificate(&der).expect("parse");
    assert_eq!(
        sans,
        vec![
            SubjectAltName::Dns("greeter.default.svc".into()),
            SubjectAltName::Uri(SPIFFE.into()),
            SubjectAltName::Email("ops@example.com".into()),
            SubjectAltName::Ip("10.0.0.7".parse().expect("ip")),
            SubjectAltName::Ip("::1".parse().expect("ip6")),
        ]
    );
    assert_eq!(sans[1].to_string(), format!("URI:{SPIFFE}"));
}

#[test]
fn a_certificate_without_sans_has_none_and_fails_any_matcher() {
    let sans = SubjectAltName::from_certificate(&certificate(Vec::new())).expect("parse");
    assert!(sans.is_empty());
    assert!(!authorized(&sans, &[exact(SPIFFE)]));
    assert!(
        authorized(&sans, &[]),
        "an empty matcher list accepts any certificate"
    );
}

#[test]
fn truncated_or_garbled_der_is_an_error_not_a_panic() {
    let der = certificate(vec![SanType::URI(SPIFFE.try_into().expect("uri"))]);
    for len in 0..der.len() {
        assert!(
            SubjectAltName::from_certificate(&der[..len]).is_err(),
            "a certificate cut at {len} bytes must not parse"
        );
    }
    let mut garbled = der.clone();
    garbled[1] = 0x85; // a five-byte length
    assert!(SubjectAltName::from_certificate(&garbled).is_err());
    assert!(SubjectAltName::from_certificate(&[0x30, 0x80]).is_err());
}

#[test]
fn each_matcher_kind_applies_to_uri_sans() {
    let san = SubjectAltName::Uri(SPIFFE.into());
    let pattern = |p: StringPattern| matcher(p, false);
    assert!(san.is_matched_by(&exact(SPIFFE)));
    assert!(!san.is_matched_by(&exact("spiffe://cluster.local/ns/default/sa/other")));
    assert!(san.is_matched_by(&pattern(StringPattern::Prefix(
        "spiffe://cluster.local/".into()
    ))));
    assert!(!san.is_matched_by(&pattern(StringPattern::Prefix("spiffe://other/".into()))));
    assert!(san.is_matched_by(&pattern(StringPattern::Suffix("/sa/greeter".into()))));
    assert!(san.is_matched_by(&pattern(StringPattern::Contains("/ns/default/".into()))));
    assert!(!san.is_matched_by(&pattern(StringPattern::Contains("/ns/prod/".into()))));
    let regex = Regex::new(r"spiffe://cluster\.local/ns/[a-z]+/sa/greeter", false).expect("re");
    assert!(san.is_matched_by(&pattern(StringPattern::Regex(regex))));
    let partial = Regex::new("greeter", false).expect("re");
    assert!(
        !san.is_matched_by(&pattern(StringPattern::Regex(partial))),
        "safe_regex must match the whole SAN"
    );
}

#[test]
fn ignore_case_is_per_matcher() {
    let san = SubjectAltName::Dns("Greeter.Default.SVC".into());
    assert!(!san.is_matched_by(&exact("greeter.default.svc")));
    assert!(san.is_matched_by(&matcher(
        StringPattern::Exact("greeter.default.svc".into()),
        true
    )));
    assert!(san.is_matched_by(&matcher(StringPattern::Suffix(".svc".into()), true)));
}

#[test]
fn dns_wildcards_match_one_label_for_exact_matchers() {
    let san = SubjectAltName::Dns("*.example.com".into());
    assert!(san.is_matched_by(&exact("api.example.com")));
    assert!(!san.is_matched_by(&exact("a.b.example.com")));
    assert!(!san.is_matched_by(&exact("example.com")));
    assert!(!san.is_matched_by(&matcher(StringPattern::Prefix("api.".into()), false)));
}

#[test]
fn ip_sans_match_any_spelling_of_the_address() {
    let v6: IpAddr = "::1".parse().expect("ip");
    let san = SubjectAltName::Ip(v6);
    assert!(san.is_matched_by(&exact("::1")));
    assert!(san.is_matched_by(&exact("0:0:0:0:0:0:0:1")));
    assert!(!san.is_matched_by(&exact("::2")));
    let v4 = SubjectAltName::Ip("10.0.0.7".parse().expect("ip"));
    assert!(v4.is_matched_by(&matcher(StringPattern::Prefix("10.0.".into()), false)));
}

#[test]
fn matchers_are_described_for_error_messages() {
    assert_eq!(describe(&exact("a")), r#"exact "a""#);
    assert_eq!(
        describe(&matcher(StringPattern::Prefix("b".into()), true)),
        r#"prefix "b" (ignore case)"#
    );
}
