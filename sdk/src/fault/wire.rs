//! Conversions between runtime fault rules and the admin API messages (`meshwork.admin.v1`
//! `FaultRuleSpec`, `FaultRule`, `FaultRuleChanged`).
//!
//! Incoming specs are parsed and validated here, at the boundary, so a bad `SetFault` request is
//! refused with a message the operator can act on. Rule times are `tokio::time::Instant`s (so
//! expiry is testable with paused time); [`WallClock`] maps them to wall-clock timestamps for
//! display. It does not serve anything; the `admin` module does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meshwork_proto::admin::v1 as pb;
use meshwork_proto::google::protobuf::Timestamp;
use pb::fault_scope::Scope;
use tokio::time::Instant;

use super::registry::FaultEvent;
use super::rule::{FaultRule, FaultRuleError, FaultRuleSpec, MethodPattern, RuleScope};

/// A pairing of a monotonic instant with the wall-clock time at that instant, to show
/// monotonic times as timestamps.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    instant: Instant,
    wall: SystemTime,
}

impl WallClock {
    /// `instant` happened at wall-clock time `wall`.
    pub fn new(instant: Instant, wall: SystemTime) -> Self {
        WallClock { instant, wall }
    }

    /// The current instant and wall-clock time.
    pub fn now() -> Self {
        WallClock::new(Instant::now(), SystemTime::now())
    }

    /// The wall-clock timestamp of `at`.
    pub fn timestamp(&self, at: Instant) -> Timestamp {
        let wall = match at.checked_duration_since(self.instant) {
            Some(ahead) => self.wall.checked_add(ahead),
            None => self.wall.checked_sub(self.instant.duration_since(at)),
        };
        let since_epoch = wall
            .and_then(|w| w.duration_since(UNIX_EPOCH).ok())
            .unwrap_or(Duration::ZERO);
        Timestamp {
            seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
            // Always below 1e9, so it fits.
            nanos: i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0),
        }
    }
}

impl TryFrom<&pb::FaultRuleSpec> for FaultRuleSpec {
    type Error = FaultRuleError;

    /// Parses and validates a `SetFault` spec.
    fn try_from(p: &pb::FaultRuleSpec) -> Result<Self, FaultRuleError> {
        let scope = match p.scope.as_ref().and_then(|s| s.scope.as_ref()) {
            None => return Err(FaultRuleError::MissingScope),
            Some(Scope::ClientTarget(t)) => RuleScope::ClientTarget(t.clone()),
            Some(Scope::ClientCluster(c)) => RuleScope::ClientCluster(c.clone()),
            Some(Scope::ClientRoute(r)) => RuleScope::ClientRoute(r.clone()),
            Some(Scope::ClientMethod(m)) => RuleScope::ClientMethod(MethodPattern::parse(m)?),
            Some(Scope::ServerMethod(m)) => RuleScope::ServerMethod(MethodPattern::parse(m)?),
        };
        let abort = match p.abort_code {
            None => None,
            Some(0) => return Err(FaultRuleError::AbortOk),
            Some(c @ 1..=16) => Some(tonic::Code::from_i32(c)),
            Some(c) => return Err(FaultRuleError::BadAbortCode(c)),
        };
        let spec = FaultRuleSpec {
            scope,
            delay: (p.delay_ms > 0).then(|| Duration::from_millis(p.delay_ms)),
            abort,
            percentage: p.percentage,
            ttl: p.ttl_ms.map(Duration::from_millis),
        };
        spec.validate()?;
        Ok(spec)
    }
}

impl From<&FaultRuleSpec> for pb::FaultRuleSpec {
    fn from(s: &FaultRuleSpec) -> Self {
        let scope = match &s.scope {
            RuleScope::ClientTarget(t) => Scope::ClientTarget(t.clone()),
            RuleScope::ClientCluster(c) => Scope::ClientCluster(c.clone()),
            RuleScope::ClientRoute(r) => Scope::ClientRoute(r.clone()),
            RuleScope::ClientMethod(m) => Scope::ClientMethod(m.to_string()),
            RuleScope::ServerMethod(m) => Scope::ServerMethod(m.to_string()),
        };
        pb::FaultRuleSpec {
            scope: Some(pb::FaultScope { scope: Some(scope) }),
            delay_ms: s.delay.map_or(0, millis),
            abort_code: s.abort.map(|c| c as i32),
            percentage: s.percentage,
            ttl_ms: s.ttl.map(millis),
        }
    }
}

/// A rule as the admin API shows it.
pub fn rule_to_proto(rule: &FaultRule, clock: &WallClock) -> pb::FaultRule {
    pb::FaultRule {
        id: rule.id.0,
        spec: Some(pb::FaultRuleSpec::from(&rule.spec)),
        created_at: Some(clock.timestamp(rule.created_at)),
        expires_at: rule.expires_at.map(|at| clock.timestamp(at)),
        matched: rule.matched,
        injected: rule.injected,
    }
}

/// A registry event as the admin `Watch` stream carries it.
pub fn event_to_proto(event: &FaultEvent, clock: &WallClock) -> pb::FaultRuleChanged {
    let (change, rule) = match event {
        FaultEvent::Set(r) => (pb::FaultRuleChange::Set, r),
        FaultEvent::Cleared(r) => (pb::FaultRuleChange::Cleared, r),
        FaultEvent::Expired(r) => (pb::FaultRuleChange::Expired, r),
    };
    pb::FaultRuleChanged {
        change: change as i32,
        rule: Some(rule_to_proto(rule, clock)),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
