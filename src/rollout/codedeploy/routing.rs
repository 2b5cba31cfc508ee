//! The traffic routing of a CodeDeploy deployment configuration (`GetDeploymentConfig`):
//! all at once, canary (a share, then the rest after an interval) or linear (equal steps an
//! interval apart), and how many minutes of the deployment it takes (pure, but the call).

use anyhow::{anyhow, Result};

use crate::aws::{aws_error_message, Aws};

/// The configuration CodeDeploy uses for an ECS group that names none.
pub(crate) const DEFAULT_CONFIG: &str = "CodeDeployDefault.ECSAllAtOnce";

/// How production traffic moves from blue to green.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Routing {
    AllAtOnce,
    /// `percent` first, the rest `after` minutes later.
    Canary {
        percent: i32,
        after: i32,
    },
    /// `percent` more every `every` minutes.
    Linear {
        percent: i32,
        every: i32,
    },
}

impl Routing {
    /// From `trafficRoutingConfig` as the API gives it (`type`, `timeBasedCanary`,
    /// `timeBasedLinear`); a missing or unknown type is taken as all at once.
    pub(crate) fn of(c: &aws_sdk_codedeploy::types::TrafficRoutingConfig) -> Routing {
        match c.r#type().map(|t| t.as_str()) {
            Some("TimeBasedCanary") => {
                let t = c.time_based_canary();
                Routing::Canary {
                    percent: t.map(|t| t.canary_percentage()).unwrap_or_default(),
                    after: t.map(|t| t.canary_interval()).unwrap_or_default(),
                }
            }
            Some("TimeBasedLinear") => {
                let t = c.time_based_linear();
                Routing::Linear {
                    percent: t.map(|t| t.linear_percentage()).unwrap_or_default(),
                    every: t.map(|t| t.linear_interval()).unwrap_or_default(),
                }
            }
            _ => Routing::AllAtOnce,
        }
    }

    /// The minutes production traffic takes to move: a canary's interval; a linear shift's
    /// intervals between its steps (none after the last, as ECS-native linear counts them).
    pub(crate) fn minutes(&self) -> i32 {
        match *self {
            Routing::AllAtOnce => 0,
            Routing::Canary { after, .. } => after.max(0),
            Routing::Linear { percent, every } => {
                let steps = (100 + percent.max(1) - 1) / percent.max(1);
                (steps - 1).max(0) * every.max(0)
            }
        }
    }

    /// In words, for `plan` and the deploy's plan line.
    pub(crate) fn line(&self) -> String {
        match *self {
            Routing::AllAtOnce => "production traffic moves all at once".to_string(),
            Routing::Canary { percent, after } => {
                format!("canary: {percent}% of production traffic, the rest {after} min later")
            }
            Routing::Linear { percent, every } => format!(
                "linear: {percent}% more production traffic every {every} min ({} min in all)",
                self.minutes()
            ),
        }
    }
}

/// `GetDeploymentConfig`: the configuration's traffic routing, or the problem in words when
/// it does not exist (the caller decides whether that is the input's fault).
pub(crate) async fn get(aws: &Aws, name: &str) -> Result<Result<Routing, String>> {
    let answer = aws
        .codedeploy
        .get_deployment_config()
        .deployment_config_name(name)
        .send()
        .await;
    let info = match answer {
        Ok(a) => a,
        Err(e) => {
            if super::service_code(&e) == "DeploymentConfigDoesNotExistException" {
                return Ok(Err(format!(
                    "CodeDeploy deployment configuration `{name}` does not exist"
                )));
            }
            return Err(anyhow!("{}", aws_error_message(&e)).context(format!(
                "reading CodeDeploy deployment configuration {name}"
            )));
        }
    };
    Ok(Ok(info
        .deployment_config_info()
        .and_then(|i| i.traffic_routing_config())
        .map(Routing::of)
        .unwrap_or(Routing::AllAtOnce)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_predefined_ecs_configurations_take_their_minutes() {
        let linear1 = Routing::Linear {
            percent: 10,
            every: 1,
        };
        let linear3 = Routing::Linear {
            percent: 10,
            every: 3,
        };
        let canary5 = Routing::Canary {
            percent: 10,
            after: 5,
        };
        assert_eq!(linear1.minutes(), 9);
        assert_eq!(linear3.minutes(), 27);
        assert_eq!(canary5.minutes(), 5);
        assert_eq!(Routing::AllAtOnce.minutes(), 0);
        // 30% steps: 30, 60, 90, 100: four steps, three intervals.
        let odd = Routing::Linear {
            percent: 30,
            every: 2,
        };
        assert_eq!(odd.minutes(), 6);
        assert!(linear1.line().contains("10% more"), "{}", linear1.line());
        assert!(canary5.line().contains("5 min later"), "{}", canary5.line());
    }

    #[test]
    fn the_api_shape_is_read() {
        use aws_sdk_codedeploy::types::{
            TimeBasedLinear, TrafficRoutingConfig, TrafficRoutingType,
        };
        let c = TrafficRoutingConfig::builder()
            .r#type(TrafficRoutingType::TimeBasedLinear)
            .time_based_linear(
                TimeBasedLinear::builder()
                    .linear_percentage(20)
                    .linear_interval(2)
                    .build(),
            )
            .build();
        assert_eq!(
            Routing::of(&c),
            Routing::Linear {
                percent: 20,
                every: 2
            }
        );
        assert_eq!(
            Routing::of(&TrafficRoutingConfig::builder().build()),
            Routing::AllAtOnce
        );
    }
}
