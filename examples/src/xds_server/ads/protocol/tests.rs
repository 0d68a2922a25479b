use meshwork_proto::envoy::config::core::v3::Node;
use meshwork_proto::google::rpc::Status;

use super::*;

fn snapshot(version: u64, entries: &[(&str, &str, &[u8])]) -> Snapshot {
    let mut snap = Snapshot {
        version,
        ..Default::default()
    };
    for (t, name, value) in entries {
        snap.resources.entry((*t).to_owned()).or_default().insert(
            (*name).to_owned(),
            Any {
                type_url: (*t).to_owned(),
                value: value.to_vec(),
            },
        );
    }
    snap
}

fn request(type_url: &str, names: &[&str], version: &str, nonce: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        type_url: type_url.to_owned(),
        resource_names: names.iter().map(|n| (*n).to_owned()).collect(),
        version_info: version.to_owned(),
        response_nonce: nonce.to_owned(),
        node: Some(Node {
            id: "n1".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

const LDS: &str = type_url::LISTENER;
const RDS: &str = type_url::ROUTE_CONFIGURATION;
const CDS: &str = type_url::CLUSTER;
const EDS: &str = type_url::CLUSTER_LOAD_ASSIGNMENT;

#[test]
fn ack_is_recorded_and_not_answered_again() {
    let snap = snapshot(1, &[(LDS, "a:1", b"a"), (LDS, "b:1", b"b")]);
    let mut p = StreamProtocol::new();
    let first = p.on_request(&request(LDS, &["a:1"], "", ""), &snap);
    let resp = first.response.unwrap();
    assert_eq!((resp.version_info.as_str(), resp.resources.len()), ("1", 1));
    assert_eq!(first.event, None);
    let ack = p.on_request(&request(LDS, &["a:1"], "1", &resp.nonce), &snap);
    assert_eq!(
        ack.event,
        Some(AckEvent::Ack {
            node_id: "n1".into(),
            type_url: LDS.into(),
            version: "1".into()
        })
    );
    assert!(
        ack.response.is_none(),
        "an ACK with unchanged names needs no response"
    );
}

#[test]
fn opening_a_type_reports_the_announced_version_once() {
    let snap = snapshot(9, &[(CDS, "c", b"c"), (EDS, "c", b"e")]);
    let mut p = StreamProtocol::new();
    // A resuming client announces the version it accepted on its previous stream.
    let first = p.on_request(&request(CDS, &["c"], "7", ""), &snap);
    assert_eq!(first.opened.as_deref(), Some("7"));
    let resp = first.response.unwrap();
    let ack = p.on_request(&request(CDS, &["c"], "9", &resp.nonce), &snap);
    assert_eq!(ack.opened, None);
    let fresh = p.on_request(&request(EDS, &["c"], "", ""), &snap);
    assert_eq!(fresh.opened.as_deref(), Some(""));
}

#[test]
fn nack_is_recorded_with_rejected_version_and_not_resent() {
    let snap = snapshot(4, &[(CDS, "c", b"bad")]);
    let mut p = StreamProtocol::new();
    let resp = p
        .on_request(&request(CDS, &["c"], "", ""), &snap)
        .response
        .unwrap();
    let mut nack = request(CDS, &["c"], "", &resp.nonce);
    nack.error_detail = Some(Status {
        code: 3,
        message: "bad cluster".into(),
        details: vec![],
    });
    let out = p.on_request(&nack, &snap);
    assert_eq!(
        out.event,
        Some(AckEvent::Nack {
            node_id: "n1".into(),
            type_url: CDS.into(),
            version: "4".into(),
            message: "bad cluster".into()
        })
    );
    assert!(
        out.response.is_none(),
        "resending the rejected config would loop"
    );
    let fixed = snapshot(5, &[(CDS, "c", b"good")]);
    assert_eq!(p.on_snapshot(&fixed).len(), 1, "a fixed resource is pushed");
}

#[test]
fn stale_nonce_is_ignored() {
    let mut p = StreamProtocol::new();
    let r1 = p
        .on_request(
            &request(EDS, &["c"], "", ""),
            &snapshot(1, &[(EDS, "c", b"1")]),
        )
        .response
        .unwrap();
    let r2 = p.on_snapshot(&snapshot(2, &[(EDS, "c", b"2")])).remove(0);
    assert_ne!(r1.nonce, r2.nonce);
    let late = p.on_request(
        &request(EDS, &["c", "d"], "1", &r1.nonce),
        &snapshot(2, &[(EDS, "c", b"2")]),
    );
    assert!(late.stale && late.event.is_none() && late.response.is_none());
}

#[test]
fn wildcard_only_for_lds_cds_and_only_before_naming() {
    let snap = snapshot(
        1,
        &[(LDS, "a:1", b"a"), (LDS, "b:1", b"b"), (EDS, "c", b"c")],
    );
    let mut p = StreamProtocol::new();
    let resp = p
        .on_request(&request(LDS, &[], "", ""), &snap)
        .response
        .unwrap();
    assert_eq!(
        resp.resources.len(),
        2,
        "never-named empty list is a wildcard"
    );
    assert!(
        p.on_request(&request(EDS, &[], "", ""), &snap)
            .response
            .is_none(),
        "EDS has no wildcard"
    );

    let mut p = StreamProtocol::new();
    let r = p
        .on_request(&request(LDS, &["a:1"], "", ""), &snap)
        .response
        .unwrap();
    let r = p
        .on_request(&request(LDS, &[], "1", &r.nonce), &snap)
        .response
        .unwrap();
    assert!(
        r.resources.is_empty(),
        "after naming, an empty list means none"
    );
    let r = p
        .on_request(&request(LDS, &["*"], "1", &r.nonce), &snap)
        .response
        .unwrap();
    assert_eq!(r.resources.len(), 2, "explicit `*` is a wildcard");
}

#[test]
fn missing_rds_names_get_no_response_until_they_exist() {
    let mut p = StreamProtocol::new();
    assert!(
        p.on_request(&request(RDS, &["r"], "", ""), &snapshot(1, &[]))
            .response
            .is_none()
    );
    let pushed = p.on_snapshot(&snapshot(2, &[(RDS, "r", b"r")]));
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].version_info, "2");
}

#[test]
fn updates_are_pushed_make_before_break() {
    let v1 = snapshot(
        1,
        &[
            (LDS, "l", b"1"),
            (RDS, "r", b"1"),
            (CDS, "c", b"1"),
            (EDS, "c", b"1"),
        ],
    );
    let mut p = StreamProtocol::new();
    for (t, n) in [(LDS, "l"), (RDS, "r"), (CDS, "c"), (EDS, "c")] {
        assert!(
            p.on_request(&request(t, &[n], "", ""), &v1)
                .response
                .is_some()
        );
    }
    let v2 = snapshot(
        2,
        &[
            (LDS, "l", b"2"),
            (RDS, "r", b"2"),
            (CDS, "c", b"2"),
            (EDS, "c", b"2"),
        ],
    );
    let order: Vec<_> = p.on_snapshot(&v2).into_iter().map(|r| r.type_url).collect();
    assert_eq!(order, [CDS, EDS, LDS, RDS]);
    assert!(
        p.on_snapshot(&v2).is_empty(),
        "nothing changed, nothing sent"
    );
}
