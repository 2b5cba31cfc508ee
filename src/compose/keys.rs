//! What each compose key becomes: mapped, warned about (it means nothing on ECS), or refused
//! with the alternative. Nothing is dropped without a word.

/// Top-level keys of the compose specification that ecs-deploy reads.
pub const TOP_LEVEL: &[&str] = &[
    "name", "services", "secrets", "x-ecs", "version", "networks", "volumes",
];

/// Top-level keys that exist in the specification but cannot be deployed honestly.
pub fn top_level_refused(key: &str) -> Option<&'static str> {
    Some(match key {
        "configs" => "compose configs are files mounted into containers, which a task definition cannot carry: put the content in an SSM parameter and reference it from `secrets`, or bake it into the image",
        "include" => "an included compose file is not read: merge it into this file",
        "models" => "models are not an ECS concept: remove the key",
        _ => return None,
    })
}

/// Service keys mapped into the task definition (see `container.rs`).
pub const MAPPED: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "healthcheck",
    "deploy",
    "logging",
    "secrets",
    "depends_on",
    "working_dir",
    "user",
    "ulimits",
    "labels",
    "stop_grace_period",
    "read_only",
    "init",
    "privileged",
    "network_mode",
    "tty",
    "stdin_open",
    "cap_add",
    "cap_drop",
    "build",
    "x-ecs",
    "x-aws-pull_credentials",
];

/// Service keys that mean nothing on ECS: one warning each.
pub fn warned(key: &str) -> Option<&'static str> {
    Some(match key {
        "container_name" => "ECS names the container after the compose service",
        "restart" => "ECS services replace stopped tasks themselves",
        "networks" => "tasks reach each other through the network the service definition gives (awsvpc subnets and security groups, Service Connect or service discovery)",
        "pull_policy" => "ECS pulls the image each time a task starts (or uses its cache on EC2, per the agent's ECS_IMAGE_PULL_BEHAVIOR)",
        "hostname" => "ECS sets the hostname of awsvpc tasks itself",
        "profiles" => "ecs-deploy selects services with input compose-services",
        "scale" => "the desired count comes from deploy.replicas (at creation) and auto-scaling",
        _ => return None,
    })
}

/// Keys of the retired Docker Compose ECS integration (`x-aws-*`) and what to use instead.
pub fn x_aws(key: &str) -> &'static str {
    match key {
        "x-aws-cloudformation" => "the retired integration merged it into the stack it generated; ecs-deploy deploys your own stack: move those resources into the template of input stack-template",
        "x-aws-loadbalancer" | "x-aws-protocol" => "load balancers, listeners and target groups belong in the stack (input stack-template); attach the service with `loadBalancers` in its x-ecs service_definition",
        "x-aws-autoscaling" => "auto-scaling belongs in the stack (an AWS::ApplicationAutoScaling::ScalableTarget and a scaling policy in input stack-template)",
        "x-aws-vpc" | "x-aws-securitygroup" | "x-aws-cluster" => "networks and clusters belong in the stack (input stack-template); the cluster is input cluster, subnets and security groups go in the x-ecs service_definition's networkConfiguration",
        "x-aws-min_percent" | "x-aws-max_percent" => "set deploymentConfiguration.minimumHealthyPercent / maximumPercent in the x-ecs service_definition",
        "x-aws-logs_retention" => "log groups and their retention belong in the stack (an AWS::Logs::LogGroup in input stack-template)",
        "x-aws-role" | "x-aws-policies" => "roles and their policies belong in the stack (an AWS::IAM::Role in input stack-template); give the role's ARN as x-ecs.task_role",
        "x-aws-keys" => "KMS keys belong in the stack (input stack-template)",
        _ => "it belongs to the retired Docker Compose ECS integration, which ecs-deploy does not emulate: move what it made into the stack (input stack-template) or the x-ecs extension",
    }
}

/// Service keys that cannot be mapped honestly, and the alternative.
pub fn refused(key: &str) -> &'static str {
    match key {
        "volumes" => "volumes are not mapped: a host bind mount has no host on Fargate and a named volume needs an EFS file system the compose file cannot name; write the task definition as a file (volumes with efsVolumeConfiguration) and deploy it with input services",
        "configs" => "compose configs are files mounted into the container: put the content in an SSM parameter and reference it from `secrets`, or bake it into the image",
        "devices" | "gpus" => "devices and GPUs need a task-definition file (resourceRequirements, linuxParameters.devices) on EC2",
        "extra_hosts" | "dns" | "dns_search" | "dns_opt" => "name resolution is the VPC's under awsvpc: use Route 53 or Service Connect, or a task-definition file with extraHosts in bridge mode",
        "links" | "external_links" => "links are a Docker network feature: tasks find each other through Service Connect or service discovery (in the service definition)",
        "platform" => "set the runtime platform with a task-definition file (runtimePlatform)",
        "mem_limit" | "memswap_limit" | "mem_reservation" | "cpus" | "cpu_shares" | "cpu_quota" | "cpu_period" | "cpuset" | "cpu_count" | "cpu_percent" | "shm_size" | "pids_limit" => "write the resources under deploy.resources (limits and reservations), which ecs-deploy maps",
        "sysctls" | "security_opt" | "ipc" | "pid" | "userns_mode" | "cgroup" | "cgroup_parent" | "isolation" | "oom_kill_disable" | "oom_score_adj" | "storage_opt" | "runtime" | "tmpfs" | "mac_address" | "domainname" | "stop_signal" | "group_add" | "volumes_from" | "attach" | "annotations" | "blkio_config" | "credential_spec" | "device_cgroup_rules" | "post_start" | "pre_stop" | "develop" | "label_file" | "use_api_socket" | "extends" | "provider" | "models" | "lifecycle" | "uts" | "logging_opts" => "it has no honest equivalent in ecs-deploy's compose mapping: write this service's task definition as a file and deploy it with input services",
        _ => "it is not a compose service key ecs-deploy knows: check the spelling, or write this service's task definition as a file and deploy it with input services",
    }
}
