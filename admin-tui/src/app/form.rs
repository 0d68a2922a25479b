//! The fault form: the fields an operator fills to create a runtime fault rule (scope, delay ms,
//! abort code, percent, TTL), their editing, and their validation into a `FaultRuleSpec`.
//!
//! It does not send anything: a valid form becomes a [`crate::app::Command::SetFault`]. Field
//! limits follow `meshwork.admin.v1.FaultRuleSpec` (delay at most one hour, abort code 1-16,
//! percentage 0-100) and gRPC's status code names (grpc/grpc `doc/statuscodes.md`).

use meshwork_proto::admin::v1::{FaultRuleSpec, FaultScope, fault_scope::Scope};
use thiserror::Error;

/// Longest delay a rule may inject, in ms (one hour, as the admin API caps it).
pub const MAX_DELAY_MS: u64 = 3_600_000;

/// gRPC status code names, indexed by code.
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Which RPCs the rule applies to (one dimension of `FaultScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// Client RPCs on channels for a target.
    ClientTarget,
    /// Client RPCs routed to a cluster.
    ClientCluster,
    /// Client RPCs matched by a named route.
    ClientRoute,
    /// Client RPCs to a method.
    ClientMethod,
    /// RPCs this process serves for a method.
    ServerMethod,
}

/// The form's fields, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The scope kind (cycled with ←/→ or space).
    ScopeKind,
    /// The scope's value (target, cluster, route or method).
    Scope,
    /// Delay in ms.
    Delay,
    /// Abort code, by name or number.
    Abort,
    /// Percent of matching RPCs.
    Percent,
    /// Time to live.
    Ttl,
}

/// Why a form does not make a rule; each says what was expected and what came.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormError {
    /// The scope value is empty.
    #[error("scope: expected a {0}, got nothing")]
    EmptyScope(&'static str),
    /// A method scope is malformed.
    #[error("scope: expected `/package.Service/Method` or `package.Service/*`, got `{0}`")]
    BadMethod(String),
    /// Delay is not a number of ms in range.
    #[error("delay: expected whole milliseconds 0-{MAX_DELAY_MS}, got `{0}`")]
    BadDelay(String),
    /// Abort is not a code.
    #[error("abort: expected a gRPC code 1-16 or its name (e.g. UNAVAILABLE), got `{0}`")]
    BadAbort(String),
    /// Percent out of range.
    #[error("percent: expected a number 0-100, got `{0}`")]
    BadPercent(String),
    /// TTL malformed.
    #[error(
        "ttl: expected a duration like 30s, 5m, 1h or 500ms (empty = until cleared), got `{0}`"
    )]
    BadTtl(String),
    /// Neither delay nor abort.
    #[error("the rule does nothing: set a delay above 0 or an abort code")]
    NoEffect,
}

/// The fault form's state.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultForm {
    /// The admin endpoint the rule goes to.
    pub endpoint: usize,
    /// The focused field.
    pub focus: Field,
    /// The scope kind.
    pub scope_kind: ScopeKind,
    /// Scope value text.
    pub scope: String,
    /// Delay text.
    pub delay: String,
    /// Abort text.
    pub abort: String,
    /// Percent text.
    pub percent: String,
    /// TTL text.
    pub ttl: String,
    /// The last validation error, shown under the form.
    pub error: Option<FormError>,
}

impl ScopeKind {
    const ALL: [ScopeKind; 5] = [
        ScopeKind::ClientTarget,
        ScopeKind::ClientCluster,
        ScopeKind::ClientRoute,
        ScopeKind::ClientMethod,
        ScopeKind::ServerMethod,
    ];

    /// The label shown in the form.
    pub fn label(self) -> &'static str {
        match self {
            ScopeKind::ClientTarget => "client target",
            ScopeKind::ClientCluster => "client cluster",
            ScopeKind::ClientRoute => "client route",
            ScopeKind::ClientMethod => "client method",
            ScopeKind::ServerMethod => "server method",
        }
    }

    /// The next kind (wrapping), or the previous one with `back`.
    pub fn cycle(self, back: bool) -> ScopeKind {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        let n = Self::ALL.len();
        Self::ALL[if back { (i + n - 1) % n } else { (i + 1) % n }]
    }
}

impl Field {
    const ORDER: [Field; 6] = [
        Field::ScopeKind,
        Field::Scope,
        Field::Delay,
        Field::Abort,
        Field::Percent,
        Field::Ttl,
    ];

    /// The next field (wrapping), or the previous one with `back`.
    pub fn cycle(self, back: bool) -> Field {
        let i = Self::ORDER.iter().position(|f| *f == self).unwrap_or(0);
        let n = Self::ORDER.len();
        Self::ORDER[if back { (i + n - 1) % n } else { (i + 1) % n }]
    }

    /// Every field in order.
    pub fn all() -> [Field; 6] {
        Self::ORDER
    }
}

impl FaultForm {
    /// An empty form for `endpoint`: 100 percent, no TTL, scope on a client target.
    pub fn new(endpoint: usize) -> Self {
        FaultForm {
            endpoint,
            focus: Field::ScopeKind,
            scope_kind: ScopeKind::ClientTarget,
            scope: String::new(),
            delay: String::new(),
            abort: String::new(),
            percent: "100".to_owned(),
            ttl: "5m".to_owned(),
            error: None,
        }
    }

    /// The text of a field (`None` for the scope kind, which is a choice).
    pub fn text(&self, field: Field) -> Option<&str> {
        match field {
            Field::ScopeKind => None,
            Field::Scope => Some(&self.scope),
            Field::Delay => Some(&self.delay),
            Field::Abort => Some(&self.abort),
            Field::Percent => Some(&self.percent),
            Field::Ttl => Some(&self.ttl),
        }
    }

    /// Types a character into the focused field (space cycles the scope kind).
    pub fn type_char(&mut self, c: char) {
        self.error = None;
        let text = match self.focus {
            Field::ScopeKind => {
                if c == ' ' {
                    self.scope_kind = self.scope_kind.cycle(false);
                }
                return;
            }
            Field::Scope => &mut self.scope,
            Field::Delay => &mut self.delay,
            Field::Abort => &mut self.abort,
            Field::Percent => &mut self.percent,
            Field::Ttl => &mut self.ttl,
        };
        if text.len() < 200 && !c.is_control() {
            text.push(c);
        }
    }

    /// Deletes the last character of the focused field.
    pub fn backspace(&mut self) {
        self.error = None;
        let text = match self.focus {
            Field::ScopeKind => return,
            Field::Scope => &mut self.scope,
            Field::Delay => &mut self.delay,
            Field::Abort => &mut self.abort,
            Field::Percent => &mut self.percent,
            Field::Ttl => &mut self.ttl,
        };
        text.pop();
    }

    /// Validates every field into a rule spec.
    pub fn validate(&self) -> Result<FaultRuleSpec, FormError> {
        let scope = parse_scope(self.scope_kind, self.scope.trim())?;
        let delay_ms = match self.delay.trim() {
            "" => 0,
            d => d
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms <= MAX_DELAY_MS)
                .ok_or_else(|| FormError::BadDelay(d.to_owned()))?,
        };
        let abort_code = match self.abort.trim() {
            "" => None,
            a => Some(parse_code(a).ok_or_else(|| FormError::BadAbort(a.to_owned()))?),
        };
        let p = self.percent.trim().trim_end_matches('%');
        let percentage = p
            .parse::<f64>()
            .ok()
            .filter(|v| (0.0..=100.0).contains(v))
            .ok_or_else(|| FormError::BadPercent(self.percent.trim().to_owned()))?;
        let ttl_ms = match self.ttl.trim() {
            "" => None,
            t => Some(parse_duration_ms(t).ok_or_else(|| FormError::BadTtl(t.to_owned()))?),
        };
        if delay_ms == 0 && abort_code.is_none() {
            return Err(FormError::NoEffect);
        }
        Ok(FaultRuleSpec {
            scope: Some(FaultScope { scope: Some(scope) }),
            delay_ms,
            abort_code,
            percentage,
            ttl_ms,
        })
    }
}

fn parse_scope(kind: ScopeKind, value: &str) -> Result<Scope, FormError> {
    let what = match kind {
        ScopeKind::ClientTarget => "target like xds:///greeter:50051",
        ScopeKind::ClientCluster => "cluster name",
        ScopeKind::ClientRoute => "route name",
        ScopeKind::ClientMethod | ScopeKind::ServerMethod => "method",
    };
    if value.is_empty() {
        return Err(FormError::EmptyScope(what));
    }
    let method_ok = |m: &str| {
        let body = m.strip_prefix('/').unwrap_or(m);
        matches!(body.split_once('/'), Some((svc, method))
            if !svc.is_empty() && !method.is_empty() && !method.contains('/')
               && (m.starts_with('/') || method == "*"))
    };
    let v = value.to_owned();
    Ok(match kind {
        ScopeKind::ClientTarget => Scope::ClientTarget(v),
        ScopeKind::ClientCluster => Scope::ClientCluster(v),
        ScopeKind::ClientRoute => Scope::ClientRoute(v),
        ScopeKind::ClientMethod if method_ok(value) => Scope::ClientMethod(v),
        ScopeKind::ServerMethod if method_ok(value) => Scope::ServerMethod(v),
        ScopeKind::ClientMethod | ScopeKind::ServerMethod => return Err(FormError::BadMethod(v)),
    })
}

/// A gRPC status code 1-16 from its number or (case-insensitive) name.
pub fn parse_code(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=16).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase().replace([' ', '-'], "_");
    CODE_NAMES
        .iter()
        .position(|name| *name == upper)
        .filter(|i| *i > 0)
        .and_then(|i| i32::try_from(i).ok())
}

/// `500ms`, `30s`, `5m`, `1h` (a bare number is seconds) to milliseconds; `None` when malformed
/// or zero.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (text, 1_000)
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|ms| *ms > 0)
}

/// A rule spec in words: `client target xds:///a: delay 200ms, abort UNAVAILABLE, 50%, ttl 5m`.
pub fn describe_spec(spec: &FaultRuleSpec) -> String {
    let scope = match spec.scope.as_ref().and_then(|s| s.scope.as_ref()) {
        Some(Scope::ClientTarget(v)) => format!("client target {v}"),
        Some(Scope::ClientCluster(v)) => format!("client cluster {v}"),
        Some(Scope::ClientRoute(v)) => format!("client route {v}"),
        Some(Scope::ClientMethod(v)) => format!("client method {v}"),
        Some(Scope::ServerMethod(v)) => format!("server method {v}"),
        None => "no scope".to_owned(),
    };
    let mut parts = Vec::new();
    if spec.delay_ms > 0 {
        parts.push(format!("delay {}ms", spec.delay_ms));
    }
    if let Some(code) = spec.abort_code {
        parts.push(format!("abort {}", code_name(code)));
    }
    parts.push(format!("{}%", spec.percentage));
    if let Some(ttl) = spec.ttl_ms {
        parts.push(format!("ttl {}", human_ms(ttl)));
    }
    format!("{scope}: {}", parts.join(", "))
}

/// The name of a gRPC code (`14` → `UNAVAILABLE`), or the number when unknown.
pub fn code_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|i| CODE_NAMES.get(i))
        .map_or_else(|| code.to_string(), |n| (*n).to_owned())
}

/// `90000` → `1m30s`; `1500` → `1.5s`; `200` → `200ms`.
pub fn human_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        if ms.is_multiple_of(1_000) {
            format!("{}s", ms / 1_000)
        } else {
            format!("{:.1}s", ms as f64 / 1_000.0)
        }
    } else if ms < 3_600_000 {
        let (m, s) = (ms / 60_000, ms / 1_000 % 60);
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        }
    } else {
        let (h, m) = (ms / 3_600_000, ms / 60_000 % 60);
        if m == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{m}m")
        }
    }
}
