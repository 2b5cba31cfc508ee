//! `verify` for ECS-native services (BLUE_GREEN, LINEAR, CANARY): what ECS needs at the first
//! traffic shift, checked before it. Each load balancer's blue/green resources
//! (`advancedConfiguration`: the alternate target group, the production and test listener
//! rules, or listeners for a Network Load Balancer, and the role) are well-formed ARNs, and
//! the target group, rules and listeners exist (ELBv2, read only); each lifecycle hook's
//! Lambda function and role are well-formed ARNs.

use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use serde_json::Value;

use crate::aws::{aws_error_message, Aws};
use crate::record::ServiceRun;
use crate::rollout::Way;
use crate::verify::Tally;

/// What an ARN should name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TargetGroup,
    /// A listener rule (Application Load Balancer) or a listener (Network Load Balancer).
    RuleOrListener,
    Role,
    Lambda,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::TargetGroup => {
                "a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)"
            }
            Kind::RuleOrListener => {
                "a listener rule or listener ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/… or listener/…)"
            }
            Kind::Role => "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            Kind::Lambda => {
                "a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
            }
        }
    }
}

/// Whether `arn` has the shape of `kind` (pure).
fn well_formed(arn: &str, kind: Kind) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [head, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if head != "arn" || !partition.starts_with("aws") || !account_ok {
        return false;
    }
    let named = |prefix: &str| resource.len() > prefix.len() && resource.starts_with(prefix);
    match kind {
        Kind::TargetGroup => {
            service == "elasticloadbalancing" && !region.is_empty() && named("targetgroup/")
        }
        Kind::RuleOrListener => {
            service == "elasticloadbalancing"
                && !region.is_empty()
                && (named("listener-rule/") || named("listener/"))
        }
        Kind::Role => service == "iam" && region.is_empty() && named("role/"),
        Kind::Lambda => service == "lambda" && !region.is_empty() && named("function:"),
    }
}

/// The ARNs an ECS-native service's configuration names: (what, ARN, kind).
fn references(service: &Value) -> Vec<(String, String, Kind)> {
    let mut out = Vec::new();
    let text = |v: &Value| v.as_str().map(str::to_string);
    for (i, lb) in service["loadBalancers"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let a = &lb["advancedConfiguration"];
        for (field, kind) in [
            ("alternateTargetGroupArn", Kind::TargetGroup),
            ("productionListenerRule", Kind::RuleOrListener),
            ("testListenerRule", Kind::RuleOrListener),
            ("roleArn", Kind::Role),
        ] {
            if let Some(arn) = text(&a[field]) {
                out.push((format!("loadBalancers[{i}] {field}"), arn, kind));
            }
        }
    }
    for (i, h) in service["deploymentConfiguration"]["lifecycleHooks"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (field, kind) in [("hookTargetArn", Kind::Lambda), ("roleArn", Kind::Role)] {
            if let Some(arn) = text(&h[field]) {
                out.push((format!("lifecycleHooks[{i}] {field}"), arn, kind));
            }
        }
    }
    out
}

/// Checks every ECS-native service of the run; the others have nothing to check here.
pub(crate) async fn check(aws: &Aws, runs: &[ServiceRun], report: &mut Tally) {
    for r in runs {
        if !matches!(r.way, Way::EcsNative { .. }) {
            continue;
        }
        let service = match (&r.definition, r.creating) {
            (Some(d), true) => &d.body,
            _ => &r.live.raw,
        };
        for (what, arn, kind) in references(service) {
            let item = format!("service {} {what} {arn}", r.name());
            if !well_formed(&arn, kind) {
                report.failed(&format!("{item}: not {}", kind.expected()));
                continue;
            }
            match kind {
                Kind::TargetGroup | Kind::RuleOrListener => {
                    exists(aws, &item, &arn, kind, report).await
                }
                Kind::Role | Kind::Lambda => report.ok(&item),
            }
        }
    }
}

/// Whether the target group, rule or listener exists (ELBv2 Describe*, read only).
async fn exists(aws: &Aws, item: &str, arn: &str, kind: Kind, report: &mut Tally) {
    let elb = &aws.elb;
    let (answer, missing) = if kind == Kind::TargetGroup {
        let a = elb
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await;
        (
            a.map(drop)
                .map_err(|e| (e.code().map(str::to_string), aws_error_message(&e))),
            "TargetGroupNotFound",
        )
    } else if arn.contains(":listener-rule/") {
        let a = elb.describe_rules().rule_arns(arn).send().await;
        (
            a.map(drop)
                .map_err(|e| (e.code().map(str::to_string), aws_error_message(&e))),
            "RuleNotFound",
        )
    } else {
        let a = elb.describe_listeners().listener_arns(arn).send().await;
        (
            a.map(drop)
                .map_err(|e| (e.code().map(str::to_string), aws_error_message(&e))),
            "ListenerNotFound",
        )
    };
    match answer {
        Ok(()) => report.ok(item),
        Err((Some(code), _)) if code == missing => report.failed(&format!(
            "{item}: not found: create it, or fix the ARN in the service's load balancer configuration"
        )),
        Err((_, message)) => report.line(&format!(
            "SKIPPED {item}: not checked ({message}; elasticloadbalancing:Describe* allows it)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arns_are_checked_for_their_shape() {
        let tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/73e2d6bc24d8a067";
        assert!(well_formed(tg, Kind::TargetGroup));
        assert!(!well_formed(tg, Kind::RuleOrListener));
        let rule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
        assert!(well_formed(rule, Kind::RuleOrListener));
        let listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
        assert!(well_formed(listener, Kind::RuleOrListener));
        assert!(well_formed(
            "arn:aws:iam::123456789012:role/ecs-bg",
            Kind::Role
        ));
        assert!(!well_formed(
            "arn:aws:iam:us-east-1:123456789012:role/ecs-bg",
            Kind::Role
        ));
        assert!(well_formed(
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:hook",
            Kind::Lambda
        ));
        assert!(!well_formed(
            "arn:aws:lambda:us-east-1:123456789012:function:",
            Kind::Lambda
        ));
        assert!(!well_formed("my-hook", Kind::Lambda));
        assert!(!well_formed(
            "arn:aws:lambda:us-east-1:12345:function:hook",
            Kind::Lambda
        ));
    }

    #[test]
    fn the_references_are_read_from_load_balancers_and_hooks() {
        let service = json!({
            "loadBalancers": [{"advancedConfiguration": {
                "alternateTargetGroupArn": "tg", "productionListenerRule": "p", "roleArn": "r"
            }}],
            "deploymentConfiguration": {"lifecycleHooks": [
                {"hookTargetArn": "l", "roleArn": "hr", "lifecycleStages": ["PRE_SCALE_UP"]}
            ]}
        });
        let found: Vec<(String, String)> = references(&service)
            .into_iter()
            .map(|(w, a, _)| (w, a))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "loadBalancers[0] alternateTargetGroupArn".to_string(),
                    "tg".to_string()
                ),
                ("loadBalancers[0] productionListenerRule".into(), "p".into()),
                ("loadBalancers[0] roleArn".into(), "r".into()),
                ("lifecycleHooks[0] hookTargetArn".into(), "l".into()),
                ("lifecycleHooks[0] roleArn".into(), "hr".into()),
            ]
        );
    }
}
