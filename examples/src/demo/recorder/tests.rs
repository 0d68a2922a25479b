use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn recorder(start: Instant) -> Recorder {
    Recorder::new(
        start,
        [("b0".to_owned(), addr(1)), ("b2".to_owned(), addr(2))],
    )
}

fn reply(backend: &str) -> Outcome {
    Outcome::Reply {
        backend: backend.to_owned(),
    }
}

fn failed(code: Code, message: &str) -> Outcome {
    Outcome::Failed {
        code,
        message: message.to_owned(),
    }
}

#[test]
fn replies_and_greeter_failures_land_on_their_backend() {
    let t0 = Instant::now();
    let rec = recorder(t0);
    let ms = Duration::from_millis;
    rec.record(t0, ms(2), &reply("b0"));
    rec.record(t0, ms(4), &reply("b2"));
    rec.record(
        t0,
        ms(1),
        &failed(
            Code::Unavailable,
            "backend b2: injected Unavailable (error rate 0.100)",
        ),
    );
    rec.record(
        t0,
        ms(1),
        &failed(Code::Unavailable, "no ready endpoint in cluster greeter"),
    );
    rec.shed();

    let stats = rec.snapshot(t0 + ms(500));
    let b0 = stats.backend("b0").unwrap();
    let b2 = stats.backend("b2").unwrap();
    assert_eq!((b0.total.ok, b0.total.errors), (1, 0));
    assert_eq!((b2.total.ok, b2.total.errors), (1, 1));
    assert_eq!(b2.errors_by_code, [(Code::Unavailable, 1)]);
    assert_eq!(b2.last_second.requests(), 2);
    assert_eq!(b2.last_second.p99, Some(ms(4)));

    let client = &stats.client;
    assert_eq!((client.total.ok, client.total.errors), (2, 2));
    assert_eq!(client.unattributed_errors, 1);
    assert_eq!(client.shed, 1);
    assert_eq!(client.errors_by_code, [(Code::Unavailable, 2)]);
    assert_eq!(stats.elapsed, ms(500));
}

#[test]
fn the_live_window_forgets_after_a_second_but_totals_do_not() {
    let t0 = Instant::now();
    let rec = recorder(t0);
    let ms = Duration::from_millis;
    for i in 0..10 {
        rec.record(t0 + ms(i * 100), ms(30), &reply("b0"));
    }
    let at_1s = rec.snapshot(t0 + ms(999));
    assert_eq!(at_1s.backend("b0").unwrap().last_second.ok, 10);

    let later = rec.snapshot(t0 + ms(1_450));
    let b0 = later.backend("b0").unwrap();
    assert_eq!(b0.last_second.ok, 5, "samples at 500..=900 ms remain");
    assert_eq!(b0.total.ok, 10);
    assert!(b0.total.p99.is_some_and(|p| p >= ms(30)));

    let idle = rec.snapshot(t0 + ms(5_000));
    assert_eq!(idle.client.last_second, Tally::default());
    assert_eq!(idle.client.total.ok, 10);
}

#[test]
fn window_quantiles_use_nearest_rank() {
    let t0 = Instant::now();
    let rec = recorder(t0);
    for ms in 1..=100 {
        rec.record(t0, Duration::from_millis(ms), &reply("b0"));
    }
    let tally = rec.snapshot(t0).client.last_second;
    assert_eq!(tally.p50, Some(Duration::from_millis(50)));
    assert_eq!(tally.p99, Some(Duration::from_millis(99)));
}

#[test]
fn only_greeter_shaped_messages_are_attributed() {
    assert_eq!(backend_in_message("backend b2: injected"), Some("b2"));
    assert_eq!(backend_in_message("backend : x"), None);
    assert_eq!(backend_in_message("backend went away: x"), None);
    assert_eq!(backend_in_message("deadline exceeded"), None);
}
