//! Prometheus text exposition (format 0.0.4) of the metrics held by an SDK `ManualReader`.
//!
//! A pull exporter: [`PrometheusReader`] is registered with the meter provider, and every
//! [`PrometheusReader::render`] collects cumulative data and writes the text the admin endpoint
//! serves at `/metrics`. Naming follows the OTel "Prometheus and OpenMetrics compatibility" spec:
//! invalid characters (dots) become `_`, the unit becomes a suffix (`s` → `_seconds`, `By` →
//! `_bytes`, `{...}` annotations dropped), monotonic sums get `_total`, histograms emit
//! `_bucket{le=...}` / `_sum` / `_count`. It omits exemplars, scope labels and `target_info`,
//! and renders exponential histograms not at all.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};

/// A `ManualReader` shared between the meter provider (which owns a clone) and the renderer.
#[derive(Debug, Clone)]
pub(crate) struct PrometheusReader(Arc<ManualReader>);

impl PrometheusReader {
    pub fn new() -> Self {
        Self(Arc::new(ManualReader::builder().build()))
    }

    /// Collects the current cumulative metrics and renders them.
    pub fn render(&self) -> Result<String, String> {
        let mut rm = ResourceMetrics::default();
        self.0.collect(&mut rm).map_err(|e| e.to_string())?;
        Ok(render(&rm))
    }
}

impl MetricReader for PrometheusReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, _kind: InstrumentKind) -> Temporality {
        Temporality::Cumulative
    }
}

/// One metric family: a TYPE, a HELP and its sample lines.
struct Family {
    kind: &'static str,
    help: String,
    samples: String,
}

/// Renders every scope's metrics; families with the same Prometheus name are merged, and a
/// later one of a different type is dropped (a name may have only one TYPE).
pub(crate) fn render(rm: &ResourceMetrics) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for scope in rm.scope_metrics() {
        for metric in scope.metrics() {
            let Some((kind, base)) = family_of(metric) else {
                continue;
            };
            let family = families.entry(base.clone()).or_insert_with(|| Family {
                kind,
                help: metric.description().to_owned(),
                samples: String::new(),
            });
            if family.kind == kind {
                write_samples(&mut family.samples, &base, metric.data());
            }
        }
    }
    let mut out = String::new();
    for (name, f) in families.iter().filter(|(_, f)| !f.samples.is_empty()) {
        if !f.help.is_empty() {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
        }
        let _ = writeln!(out, "# TYPE {name} {}", f.kind);
        out.push_str(&f.samples);
    }
    out
}

/// The Prometheus type and family name of a metric; `None` for what is not rendered.
fn family_of(metric: &Metric) -> Option<(&'static str, String)> {
    let (kind, monotonic) = match metric.data() {
        AggregatedMetrics::F64(d) => kind_of(d)?,
        AggregatedMetrics::U64(d) => kind_of(d)?,
        AggregatedMetrics::I64(d) => kind_of(d)?,
    };
    let mut name = sanitize(metric.name());
    let unit = unit_suffix(metric.unit());
    if !unit.is_empty() && !name.ends_with(&format!("_{unit}")) {
        name.push('_');
        name.push_str(&unit);
    }
    if monotonic && !name.ends_with("_total") {
        name.push_str("_total");
    }
    Some((kind, name))
}

fn kind_of<T>(data: &MetricData<T>) -> Option<(&'static str, bool)> {
    match data {
        MetricData::Gauge(_) => Some(("gauge", false)),
        MetricData::Sum(s) if s.is_monotonic() => Some(("counter", true)),
        MetricData::Sum(_) => Some(("gauge", false)),
        MetricData::Histogram(_) => Some(("histogram", false)),
        MetricData::ExponentialHistogram(_) => None,
    }
}

fn write_samples(out: &mut String, name: &str, data: &AggregatedMetrics) {
    match data {
        AggregatedMetrics::F64(d) => write_data(out, name, d, |v| fmt_f64(*v)),
        AggregatedMetrics::U64(d) => write_data(out, name, d, u64::to_string),
        AggregatedMetrics::I64(d) => write_data(out, name, d, i64::to_string),
    }
}

fn write_data<T: Copy>(
    out: &mut String,
    name: &str,
    data: &MetricData<T>,
    fmt: impl Fn(&T) -> String,
) {
    match data {
        MetricData::Gauge(g) => {
            for p in g.data_points() {
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    labels(p.attributes(), None),
                    fmt(&p.value())
                );
            }
        }
        MetricData::Sum(s) => {
            for p in s.data_points() {
                let _ = writeln!(
                    out,
                    "{name}{} {}",
                    labels(p.attributes(), None),
                    fmt(&p.value())
                );
            }
        }
        MetricData::Histogram(h) => {
            for p in h.data_points() {
                let mut cumulative = 0u64;
                for (bound, count) in p.bounds().zip(p.bucket_counts()) {
                    cumulative += count;
                    let le = fmt_f64(bound);
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {cumulative}",
                        labels(p.attributes(), Some(&le))
                    );
                }
                let inf = labels(p.attributes(), Some("+Inf"));
                let _ = writeln!(out, "{name}_bucket{inf} {}", p.count());
                let plain = labels(p.attributes(), None);
                let _ = writeln!(out, "{name}_sum{plain} {}", fmt(&p.sum()));
                let _ = writeln!(out, "{name}_count{plain} {}", p.count());
            }
        }
        MetricData::ExponentialHistogram(_) => {}
    }
}

/// `{k="v",...}` with keys sorted and sanitized, `le` last; empty when there are no labels.
fn labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>, le: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = attrs
        .map(|kv| (sanitize(kv.key.as_str()), escape_value(&kv.value.as_str())))
        .collect();
    pairs.sort();
    if let Some(le) = le {
        pairs.push(("le".to_owned(), le.to_owned()));
    }
    if pairs.is_empty() {
        return String::new();
    }
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", body.join(","))
}

/// Replaces every character outside `[a-zA-Z0-9_]` with `_`, squeezes repeats, and prefixes
/// `_` to a leading digit.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The unit suffix: UCUM units to Prometheus words; `{...}` annotations and `1` give none.
fn unit_suffix(unit: &str) -> String {
    let word = |u: &str| -> Option<&'static str> {
        Some(match u {
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "min" => "minutes",
            "h" => "hours",
            "d" => "days",
            "By" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "%" => "percent",
            _ => return None,
        })
    };
    let unit = unit.trim();
    if unit.is_empty() || unit == "1" || (unit.starts_with('{') && unit.ends_with('}')) {
        return String::new();
    }
    match unit.split_once('/') {
        Some((a, b)) => {
            let a = word(a).map(str::to_owned).unwrap_or_else(|| sanitize(a));
            let b = per_word(b)
                .or_else(|| word(b))
                .map(str::to_owned)
                .unwrap_or_else(|| sanitize(b));
            format!("{a}_per_{b}")
        }
        None => word(unit)
            .map(str::to_owned)
            .unwrap_or_else(|| sanitize(unit)),
    }
}

/// Singular words for the denominator of a rate unit (`By/s` → `bytes_per_second`).
fn per_word(u: &str) -> Option<&'static str> {
    Some(match u {
        "s" => "second",
        "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn escape_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
