use super::*;

fn ok(peer: &str) -> RpcOutcome {
    RpcOutcome {
        peer: Some(peer.to_owned()),
        code: Code::Ok,
        metadata: vec![
            ("hostname".into(), peer.to_owned()),
            ("x-extra".into(), "1".into()),
        ],
    }
}

fn failed(code: Code) -> RpcOutcome {
    RpcOutcome {
        peer: None,
        code,
        metadata: vec![],
    }
}

#[test]
fn a_watcher_covers_only_rpcs_sent_after_it() {
    let mut core = StatsCore::default();
    let before = core.start(RpcType::UnaryCall);
    let key = core.watch(2, &[]);
    let a = core.start(RpcType::UnaryCall);
    let b = core.start(RpcType::EmptyCall);
    core.finish(before, RpcType::UnaryCall, &ok("old"));
    core.finish(b, RpcType::EmptyCall, &ok("b1"));
    assert!(!core.complete(key));
    core.finish(a, RpcType::UnaryCall, &ok("b0"));
    assert!(core.complete(key));
    let r = core.take(key);
    assert_eq!(r.num_failures, 0);
    assert_eq!(
        r.rpcs_by_peer,
        HashMap::from([("b0".into(), 1), ("b1".into(), 1)])
    );
    assert_eq!(
        r.rpcs_by_method["UnaryCall"].rpcs_by_peer,
        HashMap::from([("b0".into(), 1)])
    );
    assert_eq!(
        r.rpcs_by_method["EmptyCall"].rpcs_by_peer,
        HashMap::from([("b1".into(), 1)])
    );
}

#[test]
fn failures_and_unfinished_rpcs_count_as_failures() {
    let mut core = StatsCore::default();
    let key = core.watch(3, &[]);
    let a = core.start(RpcType::UnaryCall);
    core.start(RpcType::UnaryCall);
    core.finish(a, RpcType::UnaryCall, &failed(Code::Unavailable));
    let r = core.take(key);
    assert_eq!(r.num_failures, 3, "1 failed, 1 unfinished, 1 never sent");
    assert!(r.rpcs_by_peer.is_empty());
}

#[test]
#[allow(deprecated)]
fn accumulated_fills_deprecated_maps_and_result_codes() {
    let mut core = StatsCore::default();
    for _ in 0..3 {
        core.start(RpcType::UnaryCall);
    }
    core.start(RpcType::EmptyCall);
    core.finish(0, RpcType::UnaryCall, &ok("b0"));
    core.finish(1, RpcType::UnaryCall, &failed(Code::DeadlineExceeded));
    let r = core.accumulated();
    assert_eq!(r.num_rpcs_started_by_method["UNARY_CALL"], 3);
    assert_eq!(r.num_rpcs_succeeded_by_method["UNARY_CALL"], 1);
    assert_eq!(r.num_rpcs_failed_by_method["UNARY_CALL"], 1);
    assert_eq!(r.num_rpcs_started_by_method["EMPTY_CALL"], 1);
    let unary = &r.stats_per_method["UNARY_CALL"];
    assert_eq!(unary.rpcs_started, 3);
    assert_eq!(unary.result, HashMap::from([(0, 1), (4, 1)]));
}

#[tokio::test(start_paused = true)]
async fn next_rpcs_returns_what_it_has_at_the_timeout() {
    let hub = StatsHub::default();
    let waiting = tokio::spawn({
        let hub = hub.clone();
        async move { hub.next_rpcs(2, &[], Duration::from_secs(5)).await }
    });
    tokio::task::yield_now().await;
    let id = hub.start(RpcType::UnaryCall);
    hub.finish(id, RpcType::UnaryCall, &ok("b0"));
    let r = waiting.await.unwrap();
    assert_eq!(r.rpcs_by_peer, HashMap::from([("b0".into(), 1)]));
    assert_eq!(r.num_failures, 1);
}

#[test]
fn metadata_keys_select_response_metadata_per_peer() {
    let mut core = StatsCore::default();
    let key = core.watch(1, &["HOSTNAME".to_owned()]);
    let id = core.start(RpcType::UnaryCall);
    core.finish(id, RpcType::UnaryCall, &ok("b0"));
    let r = core.take(key);
    let rpcs = &r.metadatas_by_peer["b0"].rpc_metadata;
    assert_eq!(rpcs.len(), 1);
    let keys: Vec<_> = rpcs[0].metadata.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["hostname"]);

    let all = core.watch(1, &["*".to_owned()]);
    let id = core.start(RpcType::UnaryCall);
    core.finish(id, RpcType::UnaryCall, &ok("b1"));
    assert_eq!(
        core.take(all).metadatas_by_peer["b1"].rpc_metadata[0]
            .metadata
            .len(),
        2
    );
}
