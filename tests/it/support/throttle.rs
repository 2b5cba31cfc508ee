//! ECS's request throttling as the ECS API reference documents it ("Request throttling for
//! the Amazon ECS API"): a token bucket per account and region, one per category of action.
//! The fault-injecting proxies of the tests and the scale benchmark throttle with these.

use std::time::Instant;

/// A token bucket of `burst` tokens refilled at `refill` a second, full at the start.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    burst: f64,
    refill: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(burst: f64, refill: f64) -> TokenBucket {
        TokenBucket {
            burst,
            refill,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Whether the bucket had a token for one more call (taken if so).
    pub fn take(&mut self) -> bool {
        let now = Instant::now();
        let refilled = now.duration_since(self.last).as_secs_f64() * self.refill;
        self.tokens = (self.tokens + refilled).min(self.burst);
        self.last = now;
        let had = self.tokens >= 1.0;
        if had {
            self.tokens -= 1.0;
        }
        had
    }
}

/// The documented bucket of an ECS action, for the actions a deploy calls: its category,
/// burst and refill a second. Other actions are not throttled.
pub fn documented(action: &str) -> Option<(&'static str, f64, f64)> {
    Some(match action {
        "RegisterTaskDefinition" | "DeregisterTaskDefinition" => {
            ("task definition modify", 20.0, 1.0)
        }
        "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
            ("task definition read", 50.0, 20.0)
        }
        "CreateService" | "UpdateService" | "DeleteService" => ("service modify", 50.0, 5.0),
        "DescribeServices" | "ListServices" => ("service read", 100.0, 20.0),
        "DescribeServiceDeployments" | "ListServiceDeployments" => {
            ("service deployment", 50.0, 20.0)
        }
        "DescribeTasks" | "ListTasks" => ("cluster resource read", 100.0, 20.0),
        "RunTask" | "StopTask" => ("cluster resource modify", 100.0, 40.0),
        "DescribeClusters" | "ListClusters" => ("cluster read", 50.0, 20.0),
        _ => return None,
    })
}
