//! Waiting for rollouts: the polling loop around each way's pure decision
//! (`Rollout::decide`), with the deadline, cancellation, progress lines and the evidence of a
//! failure (stopped tasks, exit codes, log tails).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::arn::last_segment;
use crate::aws::Aws;
use crate::cancel;
use crate::context::bounded;
use crate::gha::Printer;
use crate::rollout::{self, Verdict, Watch};
use crate::services::Snapshot;
use crate::tasks::{self, Kind, StoppedTask};

/// How long the evidence of a timed-out rollout may take to gather once the deadline passed.
const EVIDENCE_GRACE: Duration = Duration::from_secs(10);

/// The result of waiting for one service.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed(Duration),
    Failed(String),
    Superseded(String),
    /// The deadline passed; the text holds what the stopped tasks said, if anything.
    TimedOut(String),
    /// SIGTERM or SIGINT arrived: waiting stopped, the rollout continues in ECS.
    Interrupted(String),
    /// Waiting stopped because another service of the run failed (its name): no verdict of
    /// its own, and it is undone with the others.
    Abandoned(String),
    /// The wait's goal short of the end was reached (an ECS-native stage or pause): where the
    /// deployment stands; it goes on in ECS.
    Reached(String),
}

/// A line describing the deployment counts (or the service deployment, for the ECS-native
/// way), printed whenever it changes.
fn progress_line(snap: &Snapshot, ours: &str) -> String {
    if let Some(view) = &snap.native {
        return crate::rollout::native::progress_line(&snap.name, view);
    }
    if let Some(view) = &snap.codedeploy {
        return crate::rollout::codedeploy::progress_line(&snap.name, view);
    }
    match snap.deployments.iter().find(|d| d.id == ours) {
        Some(d) => format!(
            "{}: {} desired {} pending {} running {} failed {} rollout {}",
            snap.name,
            d.status,
            d.desired,
            d.pending,
            d.running,
            d.failed,
            d.rollout_state.as_ref().map_or("-", |r| r.as_str())
        ),
        None => format!(
            "{}: our deployment is gone; PRIMARY is {}",
            snap.name,
            snap.primary().map(|p| p.id.as_str()).unwrap_or("none")
        ),
    }
}

/// What the loop remembers between polls of one service.
#[derive(Default)]
struct Seen {
    line: String,
    /// failedTasks and pending+running of our deployment when the tasks were last listed.
    failed: i32,
    live: Option<i32>,
    stopped: Vec<StoppedTask>,
    /// The pause hooks (and Ready CodeDeploy deployments) already announced.
    paused: BTreeSet<String>,
    /// Whose tasks are ours when they are not `startedBy` the deployment: the CodeDeploy
    /// way's green task set.
    started_by: Option<String>,
}

/// A deployment that puts a service back, Ready: continued once, at once.
async fn go_ahead_at_ready(aws: &Aws, snap: &Snapshot, done: &mut BTreeSet<String>, out: &Printer) {
    let Some(d) = snap.codedeploy.as_ref().filter(|d| d.status == "Ready") else {
        return;
    };
    if !done.insert(format!("ready {}", d.id)) {
        return;
    }
    match crate::rollout::codedeploy::go_ahead(aws, &d.id).await {
        Ok(()) => out.line(&format!(
            "{}: CodeDeploy deployment {} (putting the service back) is Ready: continued at once",
            snap.name, d.id
        )),
        Err(e) => out.warning(&format!("{}: {e:#}", snap.name)),
    }
}

/// A pause hook awaiting action is announced once, with what to do about it.
fn announce_pause(
    snap: &Snapshot,
    w: &Watch,
    announced: &mut BTreeSet<String>,
    cluster: &str,
    out: &Printer,
) {
    if let Some(d) = snap.codedeploy.as_ref().filter(|d| d.status == "Ready") {
        if announced.insert(format!("ready {}", d.id)) {
            out.notice(&format!(
                "{}: CodeDeploy deployment {} is Ready: green takes test traffic and the deployment group waits for a go-ahead: `ecs-deploy continue --cluster {cluster} --service {}` (mode: continue) shifts production traffic",
                snap.name, d.id, snap.name
            ));
        }
        return;
    }
    let Some(native) = snap.native.as_ref() else {
        return;
    };
    let Some(h) = native.paused_anew(w.continued.as_ref()) else {
        return;
    };
    // Once per hook and stage: one hook may pause several stages.
    if !announced.insert(format!("{} at {:?}", h.id, native.stage)) {
        return;
    }
    let expires = h
        .expires_at
        .map(|t| format!(" until {}", crate::rollout::native::utc(t)))
        .unwrap_or_default();
    let then = h.timeout_action.as_deref().unwrap_or("ROLLBACK");
    out.notice(&format!(
        "{}: paused at lifecycle hook {}{expires} (then {then}): continue with `ecs-deploy continue --cluster {cluster} --service {}` (mode: continue), or roll back with `ecs-deploy continue --continue-action rollback …`",
        snap.name, h.id, snap.name
    ));
}

/// One wait: where, how often, until when. `since_epoch` is when the run started (service
/// events from then on are shown).
pub(crate) struct Wait<'a> {
    pub aws: &'a Aws,
    pub cluster: &'a str,
    pub poll: Duration,
    pub deadline: Duration,
    pub since_epoch: f64,
    pub out: &'a Printer,
    /// Stop waiting for every other service as soon as one fails (they will be undone).
    pub stop_at_first_failure: bool,
}

impl Wait<'_> {
    /// `all`, inside a log group; `what` names the kind of rollout ("rollout", "rollback").
    pub(crate) async fn grouped(&self, watches: &[Watch], what: &str) -> BTreeMap<String, Outcome> {
        self.out.group(&format!(
            "Wait for {} {what}(s), up to {}",
            watches.len(),
            minutes(self.deadline)
        ));
        let outcomes = self.all(watches).await;
        self.out.end_group();
        outcomes
    }

    /// Polls every `poll` until every watched service has an outcome, the deadline passes, or
    /// the process is asked to stop (SIGTERM/SIGINT). Every poll gets at most the time the
    /// deadline has left, so a silent endpoint cannot hold the run past it.
    pub(crate) async fn all(&self, watches: &[Watch]) -> BTreeMap<String, Outcome> {
        let (aws, cluster, out) = (self.aws, self.cluster, self.out);
        // A second of slack absorbs clock skew between the runner and AWS.
        let since_epoch = self.since_epoch - 1.0;
        let started = Instant::now();
        let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
        let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
        let mut seen_events: BTreeSet<String> = BTreeSet::new();
        let mut outstanding: Option<&str> = None;
        let signal = cancel::cancelled();
        tokio::pin!(signal);
        loop {
            let poll_once = async {
                let pending: Vec<&Watch> = watches
                    .iter()
                    .filter(|w| !outcomes.contains_key(&w.service))
                    .collect();
                let snaps = match rollout::observe(aws, cluster, &pending).await {
                    Ok(s) => s,
                    // A failed poll is not a failed rollout: the SDK already retried; try again.
                    Err(e) => {
                        out.warning(&format!("could not describe the services this time: {e}"));
                        return;
                    }
                };
                // First what each snapshot says, then the stopped tasks where the counts say
                // one stopped (all at once), then the verdicts, then the evidence of every
                // failure (all at once): several failing services cost one round trip each.
                let mut observed: Vec<(&Watch, &Snapshot)> = Vec::new();
                let mut refresh: Vec<&Watch> = Vec::new();
                for w in pending {
                    let Some(snap) = snaps.get(last_segment(&w.service)) else {
                        outcomes.insert(
                            w.service.clone(),
                            Outcome::Failed("the service disappeared while waiting".into()),
                        );
                        continue;
                    };
                    let s = seen.entry(w.service.clone()).or_default();
                    let line = progress_line(snap, &w.deployment);
                    if s.line != line {
                        out.line(&line);
                        s.line = line;
                    }
                    if w.go_ahead_at_ready {
                        go_ahead_at_ready(aws, snap, &mut s.paused, out).await;
                    } else {
                        announce_pause(snap, w, &mut s.paused, cluster, out);
                    }
                    if let Some(green) = snap.codedeploy.as_ref().and_then(|d| d.green()) {
                        s.started_by = Some(green.id.clone()).filter(|id| !id.is_empty());
                    }
                    let new_events: Vec<String> = snap
                        .events
                        .iter()
                        .rev()
                        .filter(|e| e.at >= since_epoch && seen_events.insert(e.id.clone()))
                        .map(|e| format!("{}: event: {}", snap.name, e.message))
                        .collect();
                    out.untrusted(&new_events);
                    // Tasks are listed only when the counts say one stopped: polls stay cheap.
                    if let Some(d) = snap.deployments.iter().find(|d| d.id == w.deployment) {
                        let live = d.pending + d.running;
                        let stopped_one = s.live.is_some_and(|l| live < l);
                        if (d.failed > 0 && d.failed != s.failed) || stopped_one {
                            refresh.push(w);
                            s.failed = d.failed;
                        }
                        s.live = Some(live);
                    }
                    observed.push((w, snap));
                }
                refresh_all(aws, cluster, &refresh, &mut seen, out).await;
                let mut failed: Vec<(&Watch, String)> = Vec::new();
                for (w, snap) in observed {
                    let stopped = seen.get(&w.service).map_or(&[][..], |s| &s.stopped[..]);
                    let outcome = match w.rollout.decide(snap, w, stopped) {
                        Verdict::Done => Outcome::Completed(started.elapsed()),
                        Verdict::Waiting => continue,
                        Verdict::Failed(why) => {
                            failed.push((w, why));
                            continue;
                        }
                        Verdict::Superseded(why) => Outcome::Superseded(why),
                        Verdict::Reached(at) => Outcome::Reached(at),
                    };
                    outcomes.insert(w.service.clone(), outcome);
                }
                let unlisted: Vec<&Watch> = failed
                    .iter()
                    .map(|(w, _)| *w)
                    .filter(|w| seen.get(&w.service).is_none_or(|s| s.stopped.is_empty()))
                    .collect();
                refresh_all(aws, cluster, &unlisted, &mut seen, out).await;
                let reasons = explain_all(aws, &failed, &seen, out).await;
                for ((w, _), reason) in failed.iter().zip(reasons) {
                    outcomes.insert(w.service.clone(), Outcome::Failed(reason));
                }
            };
            let left = self.deadline.saturating_sub(started.elapsed());
            let stop = tokio::select! {
                biased;
                name = &mut signal => Some(name),
                r = tokio::time::timeout(left, poll_once) => {
                    if r.is_err() {
                        outstanding = Some("DescribeServices (or the stopped tasks' ListTasks/DescribeTasks)");
                    }
                    None
                }
            };
            if let Some(name) = stop {
                interrupt(watches, &mut outcomes, name, out);
                break;
            }
            if outcomes.len() == watches.len() {
                break;
            }
            if self.stop_at_first_failure {
                let first = outcomes
                    .iter()
                    .find(|(_, o)| matches!(o, Outcome::Failed(_) | Outcome::TimedOut(_)));
                if let Some((failed, _)) = first {
                    let failed = failed.clone();
                    let rest: Vec<&Watch> = watches
                        .iter()
                        .filter(|w| !outcomes.contains_key(&w.service))
                        .collect();
                    out.line(&format!(
                        "{failed} failed: stopped waiting for {} (they are rolled back with it)",
                        rest.iter()
                            .map(|w| w.service.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    for w in rest {
                        outcomes.insert(w.service.clone(), Outcome::Abandoned(failed.clone()));
                    }
                    break;
                }
            }
            if outstanding.is_some() || started.elapsed() + self.poll > self.deadline {
                let why = match outstanding {
                    Some(call) => format!(
                        "the rollout did not complete within wait-for-minutes ({}); AWS had not answered {call} when the deadline passed",
                        minutes(self.deadline)
                    ),
                    None => format!(
                        "the rollout did not complete within wait-for-minutes ({})",
                        minutes(self.deadline)
                    ),
                };
                let evidence = async {
                    let rest: Vec<&Watch> = watches
                        .iter()
                        .filter(|w| !outcomes.contains_key(&w.service))
                        .collect();
                    if outstanding.is_none() {
                        refresh_all(aws, cluster, &rest, &mut seen, out).await;
                    }
                    let timed_out: Vec<(&Watch, String)> =
                        rest.iter().map(|w| (*w, why.clone())).collect();
                    let reasons = explain_all(aws, &timed_out, &seen, out).await;
                    for (w, reason) in rest.iter().zip(reasons) {
                        outcomes.insert(w.service.clone(), Outcome::TimedOut(reason));
                    }
                };
                if tokio::time::timeout(EVIDENCE_GRACE, evidence)
                    .await
                    .is_err()
                {
                    out.warning("gathering the evidence of the timed-out rollouts took too long and was abandoned");
                }
                for w in watches {
                    outcomes
                        .entry(w.service.clone())
                        .or_insert_with(|| Outcome::TimedOut(why.clone()));
                }
                break;
            }
            let stop = tokio::select! {
                biased;
                name = &mut signal => Some(name),
                _ = tokio::time::sleep(self.poll) => None,
            };
            if let Some(name) = stop {
                interrupt(watches, &mut outcomes, name, out);
                break;
            }
        }
        outcomes
    }
}

fn minutes(d: Duration) -> String {
    let m = d.as_secs_f64() / 60.0;
    if m < 1.0 {
        format!("{:.0} s", d.as_secs_f64())
    } else if m.fract() == 0.0 {
        format!("{m:.0} min")
    } else {
        format!("{m:.1} min")
    }
}

/// Marks every service still waiting as interrupted and says which they are.
fn interrupt(
    watches: &[Watch],
    outcomes: &mut BTreeMap<String, Outcome>,
    signal: &'static str,
    out: &Printer,
) {
    let mid: Vec<&Watch> = watches
        .iter()
        .filter(|w| !outcomes.contains_key(&w.service))
        .collect();
    let list: Vec<String> = mid
        .iter()
        .map(|w| format!("{} (deployment {})", w.service, w.deployment))
        .collect();
    out.error(
        &Default::default(),
        &format!(
            "{signal} received: stopped waiting; still mid-rollout: {} (ECS carries on with them; nothing was rolled back)",
            if list.is_empty() { "none".to_string() } else { list.join(", ") }
        ),
    );
    for w in mid {
        outcomes.insert(
            w.service.clone(),
            Outcome::Interrupted(format!(
                "waiting was interrupted by {signal} while deployment {} was rolling out; check the service in the ECS console",
                w.deployment
            )),
        );
    }
}

/// What the evidence of one failed rollout prints, in order: our lines and AWS's (fenced).
#[derive(Debug, Default)]
struct Evidence {
    shown: Vec<Shown>,
    /// The one-line reason for the report.
    reason: String,
}

#[derive(Debug)]
enum Shown {
    Line(String),
    Untrusted(Vec<String>),
}

impl Evidence {
    fn print(&self, out: &Printer) {
        for s in &self.shown {
            match s {
                Shown::Line(l) => out.line(l),
                Shown::Untrusted(ls) => out.untrusted(ls),
            }
        }
    }
}

/// The evidence of a failed rollout (stop reasons, exit codes, the newest failed task's log
/// lines) and the one-line reason for the report. Gathered for several services at once, so
/// it prints nothing itself.
async fn explain(aws: &Aws, w: &Watch, ours: &str, why: &str, stopped: &[StoppedTask]) -> Evidence {
    let mut failed: Vec<&StoppedTask> = stopped
        .iter()
        .filter(|t| t.started_by == ours && tasks::classify(t) != Kind::Routine)
        .collect();
    let mut shown = Vec::new();
    // `why` may quote ECS's rolloutStateReason: text from AWS.
    if failed.is_empty() {
        shown.push(Shown::Untrusted(vec![format!("{}: {why}", w.service)]));
        return Evidence {
            shown,
            reason: why.to_string(),
        };
    }
    failed.sort_by(|a, b| a.stopped_at.total_cmp(&b.stopped_at));
    let containers = tasks::describe_containers(aws, &failed).await;
    let essential = |td: &str, name: &str| {
        containers
            .get(td)
            .and_then(|cs| cs.iter().find(|c| c.container == name))
            .is_none_or(|c| c.essential)
    };
    let lines = tasks::summary(&failed, &essential);
    let whose = if ours == w.deployment {
        format!("deployment {ours}")
    } else {
        format!("green task set {ours}")
    };
    let mut head = vec![format!(
        "{}: {why}; {} stopped task(s) of {whose}:",
        w.service,
        failed.len(),
    )];
    head.extend(lines.iter().map(|l| format!("  {l}")));
    shown.push(Shown::Untrusted(head));
    if let Some(newest) = failed.last() {
        for c in containers
            .get(&newest.task_definition)
            .into_iter()
            .flatten()
        {
            let (Some(group), Some(prefix), true) = (&c.group, &c.prefix, c.essential) else {
                continue;
            };
            let stream = format!("{prefix}/{}/{}", c.container, newest.id());
            match tasks::log_tail(aws, group, &stream).await {
                Ok(log) if log.is_empty() => shown.push(Shown::Line(format!(
                    "{}: no log lines in {group} {stream}",
                    w.service
                ))),
                Ok(log) => {
                    shown.push(Shown::Line(format!(
                        "{}: last {} log line(s) of container {} (log group {group}, stream {stream}):",
                        w.service,
                        log.len(),
                        c.container
                    )));
                    shown.push(Shown::Untrusted(log));
                }
                Err(e) => shown.push(Shown::Line(format!("{}: no logs: {e:#}", w.service))),
            }
        }
    }
    let top: Vec<&str> = lines.iter().take(6).map(String::as_str).collect();
    Evidence {
        shown,
        reason: format!("{why}: {}", top.join("; ")),
    }
}

/// The stopped tasks of `w`'s service, or why they could not be listed.
async fn stopped_tasks(aws: &Aws, cluster: &str, w: &Watch) -> Result<Vec<StoppedTask>, String> {
    tasks::stopped(&aws.ecs, cluster, &w.service)
        .await
        .map_err(|e| format!("{e:#}"))
}

/// Lists the stopped tasks of every service in `which` at once, into what the loop saw.
async fn refresh_all(
    aws: &Aws,
    cluster: &str,
    which: &[&Watch],
    seen: &mut BTreeMap<String, Seen>,
    out: &Printer,
) {
    let lists = bounded(which.iter().map(|w| stopped_tasks(aws, cluster, w))).await;
    for (w, list) in which.iter().zip(lists) {
        match list {
            Ok(t) => seen.entry(w.service.clone()).or_default().stopped = t,
            Err(e) => out.warning(&e),
        }
    }
}

/// Gathers the evidence of every failed rollout at once, prints it service by service, and
/// returns each one's reason.
async fn explain_all(
    aws: &Aws,
    failed: &[(&Watch, String)],
    seen: &BTreeMap<String, Seen>,
    out: &Printer,
) -> Vec<String> {
    let empty = Vec::new();
    let evidence = bounded(failed.iter().map(|(w, why)| {
        let s = seen.get(&w.service);
        let stopped = s.map_or(&empty, |s| &s.stopped);
        let ours = s
            .and_then(|s| s.started_by.as_deref())
            .unwrap_or(&w.deployment);
        explain(aws, w, ours, why, stopped)
    }))
    .await;
    evidence
        .into_iter()
        .map(|e| {
            e.print(out);
            e.reason
        })
        .collect()
}
