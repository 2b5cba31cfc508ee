//! `desired-count` against the services' auto-scaling bounds: a count below a scalable
//! target's minimum or above its maximum would be undone by Application Auto Scaling at its
//! next evaluation, so it is refused before anything changes (exit 2), naming the bounds. Read
//! only when `desired-count` is given: one `DescribeScalableTargets` for all the services. A
//! role that may not read the targets gets a warning, and the count is applied unchecked.

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};

use crate::aws::{aws_error_message, Aws};
use crate::error::{Failure, InputProblem};
use crate::gha::Printer;

/// The bounds of one service's scalable target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub min: i32,
    pub max: i32,
}

/// `service/<cluster>/<service>`: a scalable target's resource id for an ECS service.
fn resource_id(cluster: &str, service: &str) -> String {
    // Names, not ARNs: `cluster` and `service` may be given either way.
    let name = crate::arn::last_segment;
    format!("service/{}/{}", name(cluster), name(service))
}

/// The problem with `desired` for a service with these bounds, if any (pure).
pub(crate) fn judge(service: &str, desired: i32, b: Bounds) -> Option<String> {
    let (side, bound) = if desired < b.min {
        ("below", "minimum")
    } else if desired > b.max {
        ("above", "maximum")
    } else {
        return None;
    };
    Some(format!(
        "input desired-count: {desired} is {side} the auto-scaling {bound} of service `{service}` (its scalable target allows {} to {}): Application Auto Scaling would scale it back; give a count from {} to {}, or change the scalable target's bounds (register-scalable-target --min-capacity/--max-capacity)",
        b.min, b.max, b.min, b.max
    ))
}

/// Checks `desired` against each named service's scalable target. Exit 2 on a count outside
/// the bounds; a warning when the targets cannot be read.
pub(crate) async fn check(
    aws: &Aws,
    out: &Printer,
    cluster: &str,
    services: &[&str],
    desired: i32,
) -> Result<(), Failure> {
    if services.is_empty() {
        return Ok(());
    }
    let mut problems = Vec::new();
    // DescribeScalableTargets takes at most 50 resource ids per call.
    for chunk in services.chunks(50) {
        let ids: Vec<String> = chunk.iter().map(|s| resource_id(cluster, s)).collect();
        let answer = aws
            .scaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .set_resource_ids(Some(ids))
            .send()
            .await;
        let targets = match answer {
            Ok(a) => a.scalable_targets.unwrap_or_default(),
            Err(e) => {
                out.warning(&format!(
                    "desired-count {desired} is applied without checking the services' auto-scaling bounds: reading them failed ({}); allow application-autoscaling:DescribeScalableTargets to have it checked",
                    aws_error_message(&e)
                ));
                return Ok(());
            }
        };
        for service in chunk {
            let id = resource_id(cluster, service);
            let Some(t) = targets.iter().find(|t| t.resource_id() == id) else {
                continue;
            };
            let b = Bounds {
                min: t.min_capacity(),
                max: t.max_capacity(),
            };
            if let Some(p) = judge(service, desired, b) {
                problems.push(InputProblem::new(p));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Input(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_outside_the_bounds_names_the_side_the_bounds_and_the_fix() {
        let b = Bounds { min: 2, max: 6 };
        assert_eq!(judge("app", 2, b), None);
        assert_eq!(judge("app", 6, b), None);
        let low = judge("app", 1, b).unwrap();
        assert!(low.starts_with("input desired-count: 1 is below the auto-scaling minimum of service `app` (its scalable target allows 2 to 6)"), "{low}");
        let high = judge("app", 10, b).unwrap();
        assert!(
            high.contains("10 is above the auto-scaling maximum"),
            "{high}"
        );
        assert!(high.contains("give a count from 2 to 6"), "{high}");
    }

    #[test]
    fn resource_ids_are_application_auto_scalings() {
        assert_eq!(resource_id("dev", "app"), "service/dev/app");
        assert_eq!(
            resource_id(
                "arn:aws:ecs:us-east-1:123456789012:cluster/dev",
                "arn:aws:ecs:us-east-1:123456789012:service/dev/app"
            ),
            "service/dev/app"
        );
    }
}
