//! Names inside ARNs, and console links for every AWS partition.
//!
//! ECS answers with full ARNs where a user wrote a name; everything that compares or shows a
//! name goes through here instead of splitting strings at each place.

/// The last `/`-segment of an ARN (`…:service/cluster/app` → `app`), or the text itself.
pub(crate) fn last_segment(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

/// `family:revision` of a task-definition ARN, or the text itself when it is already short.
pub(crate) fn revision_label(task_definition: &str) -> &str {
    last_segment(task_definition)
}

/// `family` and `revision` of `arn:…:task-definition/family:revision` (or `family:revision`).
pub(crate) fn family_revision(task_definition: &str) -> Option<(&str, u32)> {
    let (family, revision) = last_segment(task_definition).rsplit_once(':')?;
    Some((family, revision.parse().ok()?))
}

/// A registered revision named instead of a file: a task-definition ARN
/// (`arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>`) or
/// `<family>:<revision>`. A family is letters, digits, hyphens and underscores (ECS's rule).
pub(crate) fn is_revision_reference(s: &str) -> bool {
    let short = match s.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, "ecs", region, account, resource] = parts[..] else {
                return false;
            };
            if !partition.starts_with("aws")
                || region.is_empty()
                || account.len() != 12
                || !account.bytes().all(|b| b.is_ascii_digit())
            {
                return false;
            }
            match resource.strip_prefix("task-definition/") {
                Some(r) => r,
                None => return false,
            }
        }
        None => s,
    };
    let Some((family, revision)) = short.rsplit_once(':') else {
        return false;
    };
    !family.is_empty()
        && family.len() <= 255
        && family
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !revision.is_empty()
        && revision.bytes().all(|b| b.is_ascii_digit())
}

/// The console's host for a region: each partition has its own domain.
fn console_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("{region}.console.amazonaws.cn")
    } else if region.starts_with("us-gov-") {
        "console.amazonaws-us-gov.com".to_string()
    } else {
        format!("{region}.console.aws.amazon.com")
    }
}

fn plain(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || extra.contains(&c))
}

/// `https://<console>/<path>`, with `region=` added, for a region that looks like one; `None`
/// otherwise (a link is only built from text that cannot break it).
pub(crate) fn console_url(region: &str, path: &str) -> Option<String> {
    if !plain(region, &[]) || region.chars().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    Some(format!(
        "https://{}/{path}{sep}region={region}",
        console_host(region)
    ))
}

/// The ECS console page of the cluster's services.
pub(crate) fn ecs_cluster_url(region: &str, cluster: &str) -> Option<String> {
    let cluster = if cluster.starts_with("arn:") {
        last_segment(cluster)
    } else {
        cluster
    };
    if !plain(cluster, &['_']) {
        return None;
    }
    console_url(region, &format!("ecs/v2/clusters/{cluster}/services"))
}

/// The CloudFormation console page of a stack (by its id, an ARN, URL-encoded).
pub(crate) fn stack_url(region: &str, stack_id: &str) -> Option<String> {
    let url = console_url(region, "cloudformation/home")?;
    Some(format!(
        "{url}#/stacks/stackinfo?stackId={}",
        url_encode(stack_id)
    ))
}

/// Percent-encoding of everything but the unreserved characters of RFC 3986.
pub(crate) fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_revisions() {
        assert_eq!(
            last_segment("arn:aws:ecs:us-east-1:1:service/dataspace-dev/app"),
            "app"
        );
        assert_eq!(last_segment("app"), "app");
        assert_eq!(
            family_revision("arn:aws:ecs:us-east-1:1:task-definition/app:12"),
            Some(("app", 12))
        );
        assert_eq!(family_revision("app:12"), Some(("app", 12)));
        assert_eq!(family_revision("app"), None);
    }

    #[test]
    fn registered_revisions_are_told_from_files() {
        for yes in [
            "arn:aws:ecs:us-east-1:123456789012:task-definition/dataspace-app:7",
            "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/app_x:1",
            "dataspace-app:12",
        ] {
            assert!(is_revision_reference(yes), "{yes}");
        }
        for no in [
            "aws/task-definition.json",
            "dataspace-app",
            "dataspace-app:latest",
            "app.json:3",
            "arn:aws:ecs:us-east-1:123456789012:service/c/app",
            "arn:aws:ecs:us-east-1:1234:task-definition/app:1",
            ":3",
        ] {
            assert!(!is_revision_reference(no), "{no}");
        }
    }

    #[test]
    fn console_links_follow_the_partition() {
        assert_eq!(
            ecs_cluster_url("us-east-1", "arn:aws:ecs:us-east-1:1:cluster/dev").as_deref(),
            Some("https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/dev/services?region=us-east-1")
        );
        assert!(ecs_cluster_url("cn-north-1", "dev")
            .unwrap()
            .starts_with("https://cn-north-1.console.amazonaws.cn/"));
        assert!(stack_url("us-gov-west-1", "arn:aws-us-gov:cloudformation:us-gov-west-1:1:stack/s/1")
            .unwrap()
            .starts_with("https://console.amazonaws-us-gov.com/cloudformation/home?region=us-gov-west-1#/stacks/"));
        assert_eq!(ecs_cluster_url("us-east-1", "bad name"), None);
        assert_eq!(console_url("US-EAST-1", "x"), None);
        assert!(stack_url("us-east-1", "id)[x]")
            .unwrap()
            .ends_with("stackId=id%29%5Bx%5D"));
    }
}
