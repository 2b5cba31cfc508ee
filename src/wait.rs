//! Waiting for rollouts: a pure decision per service snapshot, and the polling loop around it.
//!
//! Success is narrow on purpose: the deployment that our `UpdateService` returned is still
//! PRIMARY and its `rolloutState` is COMPLETED (ECS sets that once the new tasks are healthy
//! at the desired count and the old ones drained). "Running = desired" alone is only used for
//! services without a rollout state (Classic Load Balancer), with a single deployment.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::gha::Printer;
use crate::services::{self, Snapshot};

/// What one service's snapshot says about the deployment we are waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    Waiting,
    /// The rollout failed; ECS may already be rolling back.
    Failed(String),
    /// Someone else's deployment became PRIMARY while ours had not failed.
    Superseded(String),
}

/// Decides from one snapshot. `ours` is the deployment id our update returned; `before` is the
/// PRIMARY deployment id from before our update (to recognise an ECS rollback).
pub fn assess(snap: &Snapshot, ours: &str, before: Option<&str>) -> Verdict {
    let primary = snap.primary();
    match snap.deployments.iter().find(|d| d.id == ours) {
        Some(d) if d.rollout_state.as_deref() == Some("FAILED") => Verdict::Failed(format!(
            "rollout FAILED{}",
            d.rollout_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
        Some(d) if d.status == "PRIMARY" => match d.rollout_state.as_deref() {
            Some("COMPLETED") => Verdict::Done,
            Some(_) => Verdict::Waiting,
            None if snap.deployments.len() == 1 && d.running == d.desired => Verdict::Done,
            None => Verdict::Waiting,
        },
        Some(_) => Verdict::Superseded(format!(
            "deployment {} became PRIMARY while ours ({ours}) was rolling out: someone else deployed",
            primary.map(|p| p.id.as_str()).unwrap_or("?")
        )),
        None => match primary {
            Some(p) if Some(p.id.as_str()) == before && before != Some(ours) => Verdict::Failed(
                "ECS rolled the deployment back (deployment circuit breaker or alarm): the previous deployment is PRIMARY again"
                    .into(),
            ),
            Some(p) => Verdict::Superseded(format!(
                "deployment {} replaced ours ({ours}): someone else deployed",
                p.id
            )),
            None => Verdict::Waiting,
        },
    }
}

/// The result of waiting for one service.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed(Duration),
    Failed(String),
    Superseded(String),
    TimedOut,
}

/// One service to wait for.
#[derive(Debug, Clone)]
pub struct Watch {
    pub service: String,
    pub deployment: String,
    pub before: Option<String>,
}

/// A line describing the deployment counts, printed whenever it changes.
fn progress_line(snap: &Snapshot, ours: &str) -> String {
    match snap.deployments.iter().find(|d| d.id == ours) {
        Some(d) => format!(
            "{}: {} desired {} pending {} running {} failed {} rollout {}",
            snap.name,
            d.status,
            d.desired,
            d.pending,
            d.running,
            d.failed,
            d.rollout_state.as_deref().unwrap_or("-")
        ),
        None => format!(
            "{}: our deployment is gone; PRIMARY is {}",
            snap.name,
            snap.primary().map(|p| p.id.as_str()).unwrap_or("none")
        ),
    }
}

/// Polls every `poll` until every watched service has an outcome or `deadline` passes.
pub async fn wait_all(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    watches: &[Watch],
    poll: Duration,
    deadline: Duration,
    since_epoch: f64,
    out: &Printer,
) -> BTreeMap<String, Outcome> {
    let started = Instant::now();
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut last_line: BTreeMap<String, String> = BTreeMap::new();
    let mut seen_events: BTreeSet<String> = BTreeSet::new();
    loop {
        let pending: Vec<&Watch> = watches
            .iter()
            .filter(|w| !outcomes.contains_key(&w.service))
            .collect();
        if pending.is_empty() {
            break;
        }
        let names: Vec<String> = pending.iter().map(|w| w.service.clone()).collect();
        match services::describe(ecs, cluster, &names).await {
            Ok(snaps) => {
                for w in &pending {
                    let Some(snap) = snaps.get(services::short_name(&w.service)) else {
                        outcomes.insert(
                            w.service.clone(),
                            Outcome::Failed("the service disappeared while waiting".into()),
                        );
                        continue;
                    };
                    let line = progress_line(snap, &w.deployment);
                    if last_line.get(&w.service) != Some(&line) {
                        out.line(&line);
                        last_line.insert(w.service.clone(), line);
                    }
                    let new_events: Vec<String> = snap
                        .events
                        .iter()
                        .rev()
                        .filter(|e| e.at >= since_epoch - 1.0 && seen_events.insert(e.id.clone()))
                        .map(|e| format!("{}: event: {}", snap.name, e.message))
                        .collect();
                    out.untrusted(&new_events);
                    match assess(snap, &w.deployment, w.before.as_deref()) {
                        Verdict::Done => {
                            outcomes
                                .insert(w.service.clone(), Outcome::Completed(started.elapsed()));
                        }
                        Verdict::Failed(r) => {
                            outcomes.insert(w.service.clone(), Outcome::Failed(r));
                        }
                        Verdict::Superseded(r) => {
                            outcomes.insert(w.service.clone(), Outcome::Superseded(r));
                        }
                        Verdict::Waiting => {}
                    }
                }
            }
            // A failed poll is not a failed rollout: the SDK already retried; try next time.
            Err(e) => out.warning(&format!("could not describe the services this time: {e}")),
        }
        if outcomes.len() == watches.len() {
            break;
        }
        if started.elapsed() + poll > deadline {
            for w in watches {
                outcomes
                    .entry(w.service.clone())
                    .or_insert(Outcome::TimedOut);
            }
            break;
        }
        tokio::time::sleep(poll).await;
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Deployment;

    fn dep(id: &str, status: &str, rollout: Option<&str>, running: i32) -> Deployment {
        Deployment {
            id: id.into(),
            status: status.into(),
            desired: 2,
            running,
            rollout_state: rollout.map(str::to_string),
            ..Deployment::default()
        }
    }

    fn snap(deps: Vec<Deployment>) -> Snapshot {
        Snapshot {
            name: "app".into(),
            deployments: deps,
            ..Snapshot::default()
        }
    }

    fn check(deps: Vec<Deployment>, expected: &str) {
        let v = assess(&snap(deps), "ecs-svc/new", Some("ecs-svc/old"));
        let got = match &v {
            Verdict::Done => "done".to_string(),
            Verdict::Waiting => "waiting".to_string(),
            Verdict::Failed(r) => format!("failed: {r}"),
            Verdict::Superseded(r) => format!("superseded: {r}"),
        };
        assert!(
            got.starts_with(expected),
            "{got} does not start with {expected}"
        );
    }

    #[test]
    fn verdicts() {
        check(
            vec![dep("ecs-svc/new", "PRIMARY", Some("COMPLETED"), 2)],
            "done",
        );
        check(
            vec![
                dep("ecs-svc/new", "PRIMARY", Some("IN_PROGRESS"), 1),
                dep("ecs-svc/old", "ACTIVE", Some("COMPLETED"), 2),
            ],
            "waiting",
        );
        check(
            vec![dep("ecs-svc/new", "PRIMARY", Some("FAILED"), 0)],
            "failed: rollout FAILED",
        );
        check(
            vec![dep("ecs-svc/old", "PRIMARY", Some("COMPLETED"), 2)],
            "failed: ECS rolled the deployment back",
        );
        check(
            vec![
                dep("ecs-svc/other", "PRIMARY", Some("IN_PROGRESS"), 0),
                dep("ecs-svc/new", "ACTIVE", Some("IN_PROGRESS"), 1),
            ],
            "superseded",
        );
        check(
            vec![dep("ecs-svc/other", "PRIMARY", Some("IN_PROGRESS"), 0)],
            "superseded",
        );
        // Classic Load Balancer: no rollout state.
        check(vec![dep("ecs-svc/new", "PRIMARY", None, 2)], "done");
        check(
            vec![
                dep("ecs-svc/new", "PRIMARY", None, 2),
                dep("ecs-svc/old", "ACTIVE", None, 1),
            ],
            "waiting",
        );
    }
}
