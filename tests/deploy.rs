//! The deployment files agree with the code: every YAML in `deploy/` parses; the
//! configs baked into the image and the Kubernetes ConfigMap pass `check-config`;
//! the passive port range is the one the Dockerfiles expose, compose publishes and the
//! Kubernetes Service and Deployment list; and the Grafana dashboard is valid JSON whose
//! queries use only metrics the server exports.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// All documents of a (possibly multi-document) YAML file.
fn yaml_docs(rel: &str) -> Vec<serde_yaml::Value> {
    let text = read(rel);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .collect()
}

fn check_config(path: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_dualgate"))
        .args(["check-config", "-c"])
        .arg(path)
        .env_remove("DUALGATE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The passive port range of a dualgate config.
fn passive_range(config: &serde_yaml::Value) -> (u16, u16) {
    let range = config["ftp"]["passive_ports"].as_str().expect("ftp.passive_ports");
    let (lo, hi) = range.split_once('-').unwrap();
    (lo.parse().unwrap(), hi.parse().unwrap())
}

#[test]
fn every_yaml_in_deploy_parses() {
    for rel in [
        "deploy/compose.yaml",
        "deploy/prometheus.yml",
        "deploy/prometheus-compose.yml",
        "deploy/k8s/configmap.yaml",
        "deploy/k8s/secret.yaml",
        "deploy/k8s/deployment.yaml",
        "deploy/k8s/service.yaml",
    ] {
        let docs = yaml_docs(rel);
        assert!(
            !docs.is_empty() && docs.iter().all(serde_yaml::Value::is_mapping),
            "{rel}"
        );
    }
}

#[test]
fn image_and_kubernetes_configs_are_valid_and_agree_on_the_passive_ports() {
    // The image's config.
    check_config(&repo("configs/dualgate.container.yaml"));
    let container: serde_yaml::Value = serde_yaml::from_str(&read("configs/dualgate.container.yaml")).unwrap();
    let (lo, hi) = passive_range(&container);
    let exposed = format!("{lo}-{hi}");
    for dockerfile in ["deploy/Dockerfile", "deploy/Dockerfile.prebuilt"] {
        let text = read(dockerfile);
        let expose = text.lines().find(|l| l.starts_with("EXPOSE")).expect("EXPOSE");
        assert!(expose.contains(&exposed), "{dockerfile}: {expose} lacks {exposed}");
        assert!(
            text.contains(r#"HEALTHCHECK"#) && text.contains(r#""healthcheck""#),
            "{dockerfile}"
        );
    }
    let compose = &yaml_docs("deploy/compose.yaml")[0];
    let ports: Vec<&str> = compose["services"]["dualgate"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(
        ports.contains(&format!("{exposed}:{exposed}").as_str()),
        "compose ports {ports:?}"
    );

    // The ConfigMap's config, checked as the server would read it.
    let configmap = &yaml_docs("deploy/k8s/configmap.yaml")[0];
    let text = configmap["data"]["dualgate.yaml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dualgate.yaml");
    std::fs::write(&path, text).unwrap();
    check_config(&path);
    let (klo, khi) = passive_range(&serde_yaml::from_str(text).unwrap());
    let wanted: BTreeSet<u64> = (u64::from(klo)..=u64::from(khi)).collect();

    let port_numbers = |ports: &serde_yaml::Value, key: &str| -> BTreeSet<u64> {
        ports
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|p| p["name"].as_str().is_some_and(|n| n.starts_with("pasv-")))
            .map(|p| p[key].as_u64().unwrap())
            .collect()
    };
    let services = yaml_docs("deploy/k8s/service.yaml");
    assert_eq!(
        port_numbers(&services[0]["spec"]["ports"], "port"),
        wanted,
        "Service passive ports"
    );
    assert_eq!(
        port_numbers(&services[0]["spec"]["ports"], "targetPort"),
        wanted,
        "Service passive target ports"
    );
    let deployment = &yaml_docs("deploy/k8s/deployment.yaml")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        port_numbers(&container["ports"], "containerPort"),
        wanted,
        "Deployment passive ports"
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some("/readyz"));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));
    assert_eq!(
        container["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    // Longer than the drain deadline.
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(grace > 25, "terminationGracePeriodSeconds {grace}");
}

/// The metric names the server defines (`src/metrics.rs`).
fn exported_metrics() -> BTreeSet<String> {
    read("src/metrics.rs")
        .split('"')
        .filter(|s| s.starts_with("dualgate_") && s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_grafana_dashboard_queries_only_exported_metrics() {
    let dashboard: serde_json::Value = serde_json::from_str(&read("deploy/grafana-dashboard.json")).unwrap();
    let exported = exported_metrics();
    assert!(exported.contains("dualgate_commands_total"), "{exported:?}");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "a panel per part of the catalogue");
    let mut used = BTreeSet::new();
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(name) = word.strip_prefix("dualgate_").map(|_| word) {
                    let base = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .unwrap_or(name);
                    assert!(
                        exported.contains(base),
                        "{} uses {name}, which is not exported",
                        panel["title"]
                    );
                    used.insert(base.to_owned());
                }
            }
        }
    }
    // Everything in the catalogue has a panel.
    let missing: Vec<_> = exported.difference(&used).collect();
    assert!(missing.is_empty(), "metrics without a panel: {missing:?}");
}
