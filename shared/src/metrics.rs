//! Prometheus metrics, rendered in the text exposition format by `/metrics`.
//!
//! Labels use the route *template* (`/api/v1/mcps/{id}`), never the raw path,
//! so cardinality stays bounded by the number of routes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// What one route template has seen.
#[derive(Default)]
struct RouteStats {
    /// Requests by method and status.
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    /// By route template. Recording a request allocates nothing once its
    /// route has been seen, and takes one lock.
    routes: Mutex<BTreeMap<String, RouteStats>>,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    /// Open WebSocket and SSE connections.
    pub realtime_connections: AtomicU64,
    /// Subscriptions those connections hold.
    pub realtime_subscriptions: AtomicU64,
}

impl Metrics {
    /// `method` is a label (a standard method's name or `OTHER`), `route` a
    /// route template.
    pub fn record_request(
        &self,
        method: &'static str,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let mut routes = self.routes.lock();
        if !routes.contains_key(route) {
            routes.insert(route.to_owned(), RouteStats::default());
        }
        let Some(stats) = routes.get_mut(route) else {
            return;
        };
        *stats.requests.entry((method, status)).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let h = stats.latency.entry(method).or_default();
        // Buckets are cumulative in the exposition; store per-bucket, sum on render.
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }

    pub fn cache_hit(&self, hit: bool) {
        let counter = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text; `gauges` are values read at scrape time.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP http_requests_total HTTP requests by method, route template and status.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        let routes = self.routes.lock();
        for (route, stats) in routes.iter() {
            for ((method, status), n) in &stats.requests {
                let _ = writeln!(
                    out,
                    "http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        let histograms = routes
            .iter()
            .flat_map(|(route, stats)| stats.latency.iter().map(move |(m, h)| (route, m, h)));
        for (route, method, h) in histograms {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        for (name, help, value) in [
            (
                "cache_hits_total",
                "Cache lookups that found the value.",
                &self.cache_hits,
            ),
            (
                "cache_misses_total",
                "Cache lookups that fell through to the database.",
                &self.cache_misses,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        for (name, help, value) in [
            (
                "realtime_connections",
                "Open WebSocket and SSE connections.",
                &self.realtime_connections,
            ),
            (
                "realtime_subscriptions",
                "Topics subscribed to by open real-time connections.",
                &self.realtime_subscriptions,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_everything() {
        let m = Metrics::default();
        m.record_request("GET", "/x", 200, Duration::from_micros(100));
        m.record_request("GET", "/x", 200, Duration::from_millis(30));
        m.record_request("GET", "/x", 500, Duration::from_secs(10));
        let text = m.render(&[]);
        assert!(text.contains("http_requests_total{method=\"GET\",route=\"/x\",status=\"200\"} 2"));
        assert!(text.contains("le=\"0.0005\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("le=\"2.5\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 3"));
    }
}
