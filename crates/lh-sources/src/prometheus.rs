//! Memory series of one container from Prometheus' HTTP API (`query_range`),
//! over the metrics cAdvisor and kube-state-metrics export.
//!
//! A plain blocking client keeps the CLI free of an async runtime; requests go
//! out in windows of at most 10,000 steps because Prometheus refuses more
//! than 11,000 points per series in one `query_range`. An optional load query
//! ([`Query::load_query`]) fills the series' load.

use crate::Error;
use lh_model::Series;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What to fetch.
#[derive(Debug, Clone)]
pub struct Query {
    /// Base URL, e.g. `http://127.0.0.1:9090`.
    /// Prometheus' base URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// The pod's namespace, as cAdvisor labels it.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// Required when the pod has more than one container.
    pub container: Option<String>,
    /// Unix seconds.
    pub start: f64,
    /// Unix seconds.
    pub end: f64,
    /// Seconds between points.
    pub step: f64,
    /// A PromQL expression giving one series of the pod's load (requests/s,
    /// queue length, connections), fetched over the same range and step: with
    /// it the detector can tell growth that follows load from a leak.
    pub load_query: Option<String>,
}

/// Working set first; RSS where a runtime reports no working set.
const METRICS: [&str; 2] = ["container_memory_working_set_bytes", "container_memory_rss"];

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    metric: Labels,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

/// Fetches the container's memory series and its limit, and its load when
/// [`Query::load_query`] asks for it.
pub fn fetch(q: &Query) -> Result<Series, Error> {
    if !(q.step.is_finite() && q.step > 0.0 && q.end.is_finite() && q.start < q.end) {
        return Err(Error::Usage(
            "the range must be positive and the step above 0".into(),
        ));
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let sel = selector(q);
    for metric in METRICS {
        let expr = format!("{metric}{{{sel}}}");
        let mut by_container: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (labels, pts) in range(&agent, q, &expr)? {
            let c = labels.get("container").cloned().unwrap_or_default();
            by_container.entry(c).or_default().extend(pts);
        }
        if by_container.is_empty() {
            continue;
        }
        if by_container.len() > 1 {
            let names: Vec<&str> = by_container.keys().map(String::as_str).collect();
            return Err(Error::Query {
                url: q.url.clone(),
                message: format!(
                    "{expr} matched {} containers ({}); pick one with --container",
                    names.len(),
                    names.join(", ")
                ),
            });
        }
        let (container, mut points) = by_container.into_iter().next().expect("one container");
        // Restarts give new series (a new `id`) of the same container; one
        // timeline is what the detector splits into incarnations itself.
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points.dedup_by(|b, a| a.0 == b.0);
        return Ok(Series {
            id: format!("{}/{}/{}", q.namespace, q.pod, container),
            limit_bytes: limit(&agent, q, &container)?,
            points,
            load: q
                .load_query
                .as_deref()
                .map(|e| load(&agent, q, e))
                .transpose()?,
        });
    }
    Err(Error::Query {
        url: q.url.clone(),
        message: format!(
            "no memory series for {{{sel}}} between {} and {} ({} and {} are empty)",
            fmt_t(q.start),
            fmt_t(q.end),
            METRICS[0],
            METRICS[1]
        ),
    })
}

/// A series' label set, as Prometheus names it.
type Labels = BTreeMap<String, String>;

/// Every series an expression gives over the range, by label set, its
/// windows joined in time order.
fn range(
    agent: &ureq::Agent,
    q: &Query,
    expr: &str,
) -> Result<BTreeMap<Labels, Vec<(f64, f64)>>, Error> {
    let mut out: BTreeMap<_, Vec<(f64, f64)>> = BTreeMap::new();
    let mut t = q.start;
    while t <= q.end {
        let end = (t + q.step * 10_000.0).min(q.end);
        let params = [
            ("query", expr.to_string()),
            ("start", fmt_t(t)),
            ("end", fmt_t(end)),
            ("step", fmt_t(q.step)),
        ];
        for s in call(agent, q, "/api/v1/query_range", &params)? {
            let pts = out.entry(s.metric).or_default();
            pts.extend(s.values.iter().map(|(t, v)| (*t, parse_value(v))));
        }
        t = end + q.step;
    }
    Ok(out)
}

/// The load series: the load query must give exactly one series, since the
/// detector weighs one load against memory; several are the user's to aggregate.
fn load(agent: &ureq::Agent, q: &Query, expr: &str) -> Result<Vec<(f64, f64)>, Error> {
    let all = range(agent, q, expr)?;
    let query_error = |message: String| Error::Query {
        url: q.url.clone(),
        message,
    };
    match all.len() {
        0 => Err(query_error(format!(
            "the load query {expr} gave no series between {} and {}",
            fmt_t(q.start),
            fmt_t(q.end)
        ))),
        1 => Ok(all.into_values().next().expect("one series")),
        n => Err(query_error(format!(
            "the load query {expr} gave {n} series; it must give one (aggregate it, e.g. sum(...))"
        ))),
    }
}

/// The memory limit: kube-state-metrics' view first, cAdvisor's second (where 0 means none).
fn limit(agent: &ureq::Agent, q: &Query, container: &str) -> Result<Option<u64>, Error> {
    let sel = format!(
        "namespace=\"{}\",pod=\"{}\",container=\"{}\"",
        esc(&q.namespace),
        esc(&q.pod),
        esc(container)
    );
    let range = format!("{}s", (q.end - q.start).ceil() as u64);
    let exprs = [
        format!(
            "max(max_over_time(kube_pod_container_resource_limits{{{sel},resource=\"memory\"}}[{range}]))"
        ),
        format!("max(max_over_time(container_spec_memory_limit_bytes{{{sel}}}[{range}]))"),
    ];
    for e in exprs {
        let params = [("query", e), ("time", fmt_t(q.end))];
        let res = call(agent, q, "/api/v1/query", &params)?;
        if let Some(v) = res.first().and_then(|s| s.value.as_ref()) {
            let b = parse_value(&v.1);
            if b.is_finite() && b > 0.0 {
                return Ok(Some(b as u64));
            }
        }
    }
    Ok(None)
}

fn call(
    agent: &ureq::Agent,
    q: &Query,
    path: &str,
    params: &[(&str, String)],
) -> Result<Vec<Sample>, Error> {
    let url = format!("{}{}", q.url.trim_end_matches('/'), path);
    let unreachable = |message: String| Error::Unreachable {
        url: q.url.clone(),
        message,
    };
    let mut req = agent.get(&url);
    for (k, v) in params {
        req = req.query(k, v);
    }
    // Prometheus explains a failed query in a JSON body with a 4xx or 5xx status.
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(unreachable(e.to_string())),
    };
    let status = resp.status();
    let mut body = String::new();
    // Not `into_string`, which stops at 10 MB: a long range of a busy pod is more.
    std::io::Read::read_to_string(&mut resp.into_reader(), &mut body)
        .map_err(|e| unreachable(format!("reading the answer: {e}")))?;
    let parsed: Response = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(_) => {
            let head: String = body.chars().take(200).collect();
            return Err(unreachable(format!(
                "HTTP {status} with an answer that is not Prometheus' JSON: {head:?}"
            )));
        }
    };
    if parsed.status != "success" {
        let kind = parsed.error_type.unwrap_or_default();
        let message = format!(
            "{kind}: {}",
            parsed.error.unwrap_or_else(|| format!("HTTP {status}"))
        );
        // Prometheus' own failures (timeouts, unavailable) are the environment's;
        // a query it cannot run is ours.
        return Err(if matches!(kind.as_str(), "bad_data" | "not_acceptable") {
            Error::Query {
                url: q.url.clone(),
                message,
            }
        } else {
            unreachable(message)
        });
    }
    Ok(parsed.data.map(|d| d.result).unwrap_or_default())
}

/// Label matchers for the container; without `--container`, the pod-level
/// cgroup (`container=""`) and the pause container (`POD`) are left out.
fn selector(q: &Query) -> String {
    let c = match &q.container {
        Some(c) => format!("container=\"{}\"", esc(c)),
        None => "container!=\"\",container!=\"POD\"".into(),
    };
    format!(
        "namespace=\"{}\",pod=\"{}\",{c}",
        esc(&q.namespace),
        esc(&q.pod)
    )
}

/// PromQL string escaping: a label value cannot break out of its quotes.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Prometheus sends values as strings, `NaN` and `+Inf` included; the detector drops those itself.
fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => v.parse().unwrap_or(f64::NAN),
    }
}

fn fmt_t(t: f64) -> String {
    format!("{t:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_escape_and_skip_pod_level_series() {
        let q = Query {
            url: String::new(),
            namespace: "ns".into(),
            pod: "a\"b".into(),
            container: None,
            start: 0.0,
            end: 1.0,
            step: 1.0,
            load_query: None,
        };
        assert_eq!(
            selector(&q),
            "namespace=\"ns\",pod=\"a\\\"b\",container!=\"\",container!=\"POD\""
        );
        assert!(parse_value("NaN").is_nan());
        assert_eq!(parse_value("+Inf"), f64::INFINITY);
        assert_eq!(parse_value("12"), 12.0);
    }
}
