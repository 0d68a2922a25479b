use std::time::Duration;

use super::*;

fn withdraw_all(budget: &RetryBudget) -> u32 {
    let mut n = 0;
    while budget.try_withdraw() {
        n += 1;
        assert!(n <= 100_000, "budget never ran out");
    }
    n
}

#[tokio::test(start_paused = true)]
async fn idle_client_gets_the_per_second_floor() {
    let budget = RetryBudget::linkerd_default(Clock::tokio());
    // 10 retries/s over 10 s, with no traffic at all.
    assert_eq!(withdraw_all(&budget), 100);
    assert!(!budget.try_withdraw());
}

#[tokio::test(start_paused = true)]
async fn permits_twenty_percent_of_requests_on_top_of_the_floor() {
    let budget = RetryBudget::linkerd_default(Clock::tokio());
    for _ in 0..1000 {
        budget.deposit();
    }
    assert_eq!(budget.available(), 300.0);
    assert_eq!(withdraw_all(&budget), 300);
}

#[tokio::test(start_paused = true)]
async fn refills_as_the_window_slides() {
    let budget = RetryBudget::linkerd_default(Clock::tokio());
    assert_eq!(withdraw_all(&budget), 100);
    // Withdrawals in the first second are still remembered 9 s later…
    tokio::time::advance(Duration::from_secs(9)).await;
    assert!(!budget.try_withdraw());
    // …and forgotten once they leave the 10 s window.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(withdraw_all(&budget), 100);
}

#[tokio::test(start_paused = true)]
async fn old_deposits_expire() {
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5, Clock::tokio()).unwrap();
    for _ in 0..10 {
        budget.deposit();
    }
    assert_eq!(budget.available(), 5.0);
    tokio::time::advance(Duration::from_secs(5)).await;
    for _ in 0..4 {
        budget.deposit();
    }
    assert_eq!(budget.available(), 7.0);
    // The first ten deposits leave the window; the later four stay.
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(budget.available(), 2.0);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(budget.available(), 0.0);
    assert!(!budget.try_withdraw());
}

#[test]
fn manual_clock_and_zero_ratio() {
    let clock = Clock::manual();
    let budget = RetryBudget::new(Duration::from_secs(2), 1, 0.0, clock.clone()).unwrap();
    for _ in 0..50 {
        budget.deposit();
    }
    assert_eq!(
        withdraw_all(&budget),
        2,
        "ratio 0: only the 1/s floor over 2 s"
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(withdraw_all(&budget), 2);
}

#[test]
fn rejects_bad_settings() {
    let clock = Clock::manual();
    assert_eq!(
        RetryBudget::new(Duration::from_millis(500), 10, 0.2, clock.clone()).unwrap_err(),
        RetryBudgetError::Ttl(Duration::from_millis(500))
    );
    assert!(RetryBudget::new(Duration::from_secs(61), 10, 0.2, clock.clone()).is_err());
    assert!(RetryBudget::new(Duration::from_secs(10), 10, -0.1, clock.clone()).is_err());
    let err = RetryBudget::new(Duration::from_secs(10), 10, f64::NAN, clock).unwrap_err();
    assert!(err.to_string().contains("between 0.0 and 1000.0"), "{err}");
}
