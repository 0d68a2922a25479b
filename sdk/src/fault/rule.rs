//! Runtime fault rules: what an operator asks for through the admin endpoint, validated, and the
//! scope an RPC presents for matching.
//!
//! A rule names one scope (client side: target, cluster, route or method; server side: method),
//! a delay and/or an abort code, the share of matching RPCs to fault (0-100 %), and an optional
//! time-to-live. Validation errors say what was wrong and what to send instead. This file holds
//! plain data; [`FaultRegistry`](super::FaultRegistry) stores rules and draws from them. There is
//! no gRFC for runtime rules; the fault semantics (delay before traffic, then abort) are A33's.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::MAX_DELAY;

/// A rule's identifier, unique within its registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u64);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A gRPC method, or every method of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MethodPattern {
    /// `/package.Service/Method`, exactly.
    Exact(String),
    /// Every method of `package.Service` (written `package.Service/*`).
    Service(String),
}

/// Which RPCs a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleScope {
    /// Client RPCs on channels for this target (`xds:///greeter:50051` or as the channel names it).
    ClientTarget(String),
    /// Client RPCs routed to this cluster.
    ClientCluster(String),
    /// Client RPCs matched by the route with this name.
    ClientRoute(String),
    /// Client RPCs calling this method.
    ClientMethod(MethodPattern),
    /// RPCs this process serves for this method.
    ServerMethod(MethodPattern),
}

/// A rule as asked for: scope, faults, share and lifetime.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRuleSpec {
    /// Which RPCs it applies to.
    pub scope: RuleScope,
    /// Delay before the RPC is sent (or, server side, handled).
    pub delay: Option<Duration>,
    /// Code the RPC fails with, after the delay.
    pub abort: Option<tonic::Code>,
    /// Share of matching RPCs faulted, in percent (`0.0..=100.0`); delay and abort draw
    /// independently against it.
    pub percentage: f64,
    /// The rule removes itself this long after it is set; `None` = until cleared.
    pub ttl: Option<Duration>,
}

/// A rule in the registry, as listed.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    /// Its identifier (for `clear`).
    pub id: RuleId,
    /// What it does.
    pub spec: FaultRuleSpec,
    /// When it was set.
    pub created_at: Instant,
    /// When it removes itself, if it has a time-to-live.
    pub expires_at: Option<Instant>,
    /// RPCs whose scope matched it (it decided their faults).
    pub matched: u64,
    /// RPCs it injected a delay or abort into.
    pub injected: u64,
}

/// What an RPC presents to the registry for rule matching.
#[derive(Clone, Copy, Debug)]
pub enum RequestScope<'a> {
    /// An RPC this process sends.
    Client {
        /// The channel's target.
        target: &'a str,
        /// The cluster routing chose (empty when there is none, e.g. a static channel).
        cluster: &'a str,
        /// The matched route's name (empty when unnamed or unrouted).
        route: &'a str,
        /// The gRPC path, `/package.Service/Method`.
        method: &'a str,
    },
    /// An RPC this process serves.
    Server {
        /// The gRPC path, `/package.Service/Method`.
        method: &'a str,
    },
}

/// Why a rule was refused or could not be found.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FaultRuleError {
    /// The share is outside `0..=100` or not a number.
    #[error("percentage {0} is out of range 0-100; give the share of matching RPCs to fault")]
    PercentageOutOfRange(f64),
    /// Neither delay nor abort.
    #[error("the rule has neither a delay nor an abort; set delay_ms, abort or both")]
    NoFault,
    /// Abort with OK.
    #[error("abort code OK would not fail any RPC; choose a non-OK code such as UNAVAILABLE")]
    AbortOk,
    /// A delay over [`MAX_DELAY`].
    #[error("delay of {got:?} is longer than the {max:?} maximum; use a shorter delay")]
    DelayTooLong {
        /// What was asked.
        got: Duration,
        /// The maximum.
        max: Duration,
    },
    /// A zero time-to-live.
    #[error(
        "a ttl of 0 would remove the rule at once; give a positive ttl, or none to keep the rule until cleared"
    )]
    ZeroTtl,
    /// A time-to-live over the registry's [`max_ttl`](super::FaultRegistryConfig::max_ttl).
    #[error(
        "ttl {} exceeds the maximum {}; give a ttl up to the maximum (or raise \
         FaultRegistryConfig::max_ttl), or none to keep the rule until it is cleared",
        HumanDuration(*got),
        HumanDuration(*max)
    )]
    TtlTooLong {
        /// What was asked.
        got: Duration,
        /// The registry's maximum.
        max: Duration,
    },
    /// A scope naming nothing.
    #[error("the {0} scope has an empty name; give the {0} the rule applies to")]
    EmptyScope(&'static str),
    /// A request without a scope.
    #[error(
        "the rule has no scope; set one of client_target, client_cluster, client_route, client_method, server_method"
    )]
    MissingScope,
    /// An abort code outside the gRPC codes.
    #[error("abort code {0} is not a gRPC status code; expected 1-16 (e.g. 14 for UNAVAILABLE)")]
    BadAbortCode(i32),
    /// A method that is neither `/pkg.Svc/Method` nor `pkg.Svc/*`.
    #[error("method `{0}` is neither `/package.Service/Method` nor `package.Service/*`")]
    BadMethod(String),
    /// The registry is full.
    #[error(
        "{max} fault rules are already active, the registry's cap; clear one (ListFaults shows them) or raise max_rules"
    )]
    TooManyRules {
        /// The cap.
        max: usize,
    },
    /// `clear` of an unknown id.
    #[error(
        "no fault rule with id {0}; it may have expired or been cleared (ListFaults shows active rules)"
    )]
    NotFound(RuleId),
}

/// A duration in the largest whole unit that states it exactly: `24h`, `90m`, `1500ms`.
struct HumanDuration(Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 {
            return if d.subsec_nanos().is_multiple_of(1_000_000) {
                write!(f, "{}ms", d.as_millis())
            } else {
                write!(f, "{d:?}")
            };
        }
        let secs = d.as_secs();
        match secs {
            0 => f.write_str("0s"),
            s if s.is_multiple_of(3600) => write!(f, "{}h", s / 3600),
            s if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

impl MethodPattern {
    /// Parses `/package.Service/Method` or `package.Service/*` (a leading `/` is optional).
    pub fn parse(text: &str) -> Result<Self, FaultRuleError> {
        let bad = || FaultRuleError::BadMethod(text.to_string());
        let trimmed = text.strip_prefix('/').unwrap_or(text);
        let (service, method) = trimmed.split_once('/').ok_or_else(bad)?;
        let well_formed = |s: &str| !s.is_empty() && !s.contains(['/', '*', ' ']);
        if !well_formed(service) {
            return Err(bad());
        }
        match method {
            "*" => Ok(MethodPattern::Service(service.to_string())),
            m if well_formed(m) => Ok(MethodPattern::Exact(format!("/{service}/{m}"))),
            _ => Err(bad()),
        }
    }

    /// Whether the gRPC path `/package.Service/Method` falls under this pattern.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            MethodPattern::Exact(p) => p == path,
            MethodPattern::Service(s) => path
                .strip_prefix('/')
                .and_then(|rest| rest.strip_prefix(s.as_str()))
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|m| !m.is_empty() && !m.contains('/')),
        }
    }
}

impl fmt::Display for MethodPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodPattern::Exact(p) => f.write_str(p),
            MethodPattern::Service(s) => write!(f, "{s}/*"),
        }
    }
}

impl RuleScope {
    /// Whether an RPC with scope `req` falls under this rule.
    pub fn matches(&self, req: &RequestScope<'_>) -> bool {
        match (self, req) {
            (RuleScope::ClientTarget(t), RequestScope::Client { target, .. }) => t == target,
            (RuleScope::ClientCluster(c), RequestScope::Client { cluster, .. }) => c == cluster,
            (RuleScope::ClientRoute(r), RequestScope::Client { route, .. }) => r == route,
            (RuleScope::ClientMethod(m), RequestScope::Client { method, .. })
            | (RuleScope::ServerMethod(m), RequestScope::Server { method }) => m.matches(method),
            _ => false,
        }
    }

    fn validate(&self) -> Result<(), FaultRuleError> {
        let (name, what) = match self {
            RuleScope::ClientTarget(t) => (t, "client target"),
            RuleScope::ClientCluster(c) => (c, "client cluster"),
            RuleScope::ClientRoute(r) => (r, "client route"),
            RuleScope::ClientMethod(_) | RuleScope::ServerMethod(_) => return Ok(()),
        };
        if name.trim().is_empty() {
            return Err(FaultRuleError::EmptyScope(what));
        }
        Ok(())
    }
}

impl FaultRuleSpec {
    /// Checks the rule can be installed: a non-empty scope, at least one fault, a non-OK abort
    /// code, a delay up to [`MAX_DELAY`], a share in `0..=100` and a positive ttl.
    pub fn validate(&self) -> Result<(), FaultRuleError> {
        self.scope.validate()?;
        if !(0.0..=100.0).contains(&self.percentage) {
            return Err(FaultRuleError::PercentageOutOfRange(self.percentage));
        }
        if self.delay.is_none() && self.abort.is_none() {
            return Err(FaultRuleError::NoFault);
        }
        if self.abort == Some(tonic::Code::Ok) {
            return Err(FaultRuleError::AbortOk);
        }
        if let Some(got) = self.delay.filter(|d| *d > MAX_DELAY) {
            return Err(FaultRuleError::DelayTooLong {
                got,
                max: MAX_DELAY,
            });
        }
        if self.ttl == Some(Duration::ZERO) {
            return Err(FaultRuleError::ZeroTtl);
        }
        Ok(())
    }

    /// The share as parts per million (the unit draws use); call after [`validate`](Self::validate).
    pub(crate) fn per_million(&self) -> u32 {
        // In range after validation: 0..=100 % → 0..=1_000_000.
        (self.percentage * 10_000.0).round().clamp(0.0, 1_000_000.0) as u32
    }
}

#[cfg(test)]
mod tests;
