//! The admin port: `GET /metrics`, `/healthz` and `/readyz`, waiting for a
//! metric to appear, and a parser of the Prometheus text exposition format
//! (samples with their labels, escapes included; comments skipped).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Gateway, STEP, within};

impl Gateway {
    /// `GET /metrics` on the admin port, as text.
    pub async fn metrics(&self) -> String {
        let resp = within(
            "GET /metrics",
            STEP,
            self.client.get(format!("{}/metrics", self.admin_url)).send(),
        )
        .await
        .expect("GET /metrics");
        assert_eq!(resp.status().as_u16(), 200, "/metrics");
        within("metrics body", STEP, resp.text()).await.expect("metrics body")
    }

    /// `GET path` on the admin port: status and body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let resp = within(
            &format!("admin GET {path}"),
            STEP,
            self.client.get(format!("{}{path}", self.admin_url)).send(),
        )
        .await
        .expect("admin GET");
        let status = resp.status().as_u16();
        (
            status,
            within("admin body", STEP, resp.text()).await.expect("admin body"),
        )
    }

    /// Polls `/metrics` until `check` accepts it (at most [`STEP`]); the last text.
    /// On timeout, panics with the last exposition for diagnosis.
    pub async fn wait_metrics(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let text = self.metrics().await;
            if check(&text) {
                return text;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("metrics never showed {what} within {STEP:?}; last exposition:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no FTP session is open on the server any more (its sessions
    /// gauge is 0): whatever those sessions were doing has been finished or aborted.
    pub async fn wait_ftp_sessions_closed(&self) {
        self.wait_metrics("no open FTP session", |text| {
            metric_value(text, "dualgate_sessions_active", &[("protocol", "ftp")]).unwrap_or(0.0) == 0.0
        })
        .await;
    }
}

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// Parses the samples of a Prometheus text exposition (comments skipped).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_end, labels, rest) = match line.find('{') {
            Some(open) => {
                let (labels, after) =
                    parse_labels(&line[open + 1..]).unwrap_or_else(|| panic!("bad label set in metrics line {line:?}"));
                (open, labels, after)
            }
            None => {
                let sp = line.find(' ').unwrap_or(line.len());
                (sp, BTreeMap::new(), &line[sp..])
            }
        };
        let value = rest.split_whitespace().next().unwrap_or("");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in metrics line {line:?}")),
        };
        out.push(Sample {
            name: line[..name_end].to_owned(),
            labels,
            value,
        });
    }
    out
}

/// `a="x",b="y"} rest` → the labels and `rest`.
fn parse_labels(s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_owned();
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        rest = &rest[end?..];
    }
}

/// The value of the sample `name` whose labels include all of `labels`, summed
/// over the samples that match (`None` when none does).
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = parse_metrics(text)
        .into_iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v)))
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn samples_labels_and_escapes() {
        let m = "# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"\"} 3\ny 2.5\n";
        assert_eq!(metric_value(m, "x_total", &[("b", "q\"")]), Some(3.0));
        assert_eq!(metric_value(m, "y", &[]), Some(2.5));
        assert_eq!(metric_value(m, "x_total", &[("a", "2")]), None);
        let samples = parse_metrics("h_bucket{le=\"+Inf\",p=\"a\\nb\"} +Inf\n");
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].name, "h_bucket");
        assert_eq!(samples[0].labels["p"], "a\nb");
        assert_eq!(samples[0].value, f64::INFINITY);
    }

    #[test]
    fn matching_samples_are_summed() {
        let m = "c{p=\"ftp\",r=\"ok\"} 2\nc{p=\"ftp\",r=\"err\"} 3\nc{p=\"http\",r=\"ok\"} 5\n";
        assert_eq!(metric_value(m, "c", &[("p", "ftp")]), Some(5.0));
        assert_eq!(metric_value(m, "c", &[]), Some(10.0));
    }
}
