//! The DataSpace layout of the user story (seeds/000): cluster `dataspace-dev`, ECR
//! repositories `dataspace` and `otel-collector` with a `v1` image each, and the Fargate
//! services `dataspace-app` and `dataspace-otel` running revision 1 of their families. Tests
//! start from this state and assert how the binary changed it.

use serde_json::{json, Value};

use super::moto::{xml_values, Moto, ACCOUNT_ID, REGION};

pub const CLUSTER: &str = "dataspace-dev";
pub const APP_SERVICE: &str = "dataspace-app";
pub const OTEL_SERVICE: &str = "dataspace-otel";
pub const APP_FAMILY: &str = "dataspace-app";
pub const OTEL_FAMILY: &str = "dataspace-otel";
pub const APP_REPO: &str = "dataspace";
pub const OTEL_REPO: &str = "otel-collector";
/// Container names inside the task definitions.
pub const APP_CONTAINER: &str = "dataspace";
pub const OTEL_CONTAINER: &str = "otel-collector";
/// The roles the DataSpace task definitions name (`executionRoleArn`, `taskRoleArn`).
pub const ROLES: [&str; 2] = ["dataspace-ecs-execution", "dataspace-ecs-task"];
const ECS_TASKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
/// The log groups the DataSpace task definitions name (`awslogs-group`).
pub const LOG_GROUPS: [&str; 2] = ["/ecs/dataspace", "/ecs/dataspace-otel"];

/// What `seed_dataspace` created.
#[derive(Clone, Debug)]
pub struct Seeded {
    pub region: String,
    pub account_id: String,
    pub cluster: String,
    pub cluster_arn: String,
    pub app_service: String,
    pub otel_service: String,
    /// Full ARNs of revision 1 of each family, as the services hold them.
    pub app_task_definition_arn: String,
    pub otel_task_definition_arn: String,
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com/dataspace` (no tag).
    pub app_repo_uri: String,
    pub otel_repo_uri: String,
    /// The default-VPC subnet and security group the services use.
    pub subnet_id: String,
    pub security_group_id: String,
}

impl Seeded {
    /// A `CreateService` request for a one-task Fargate service on the seeded network, in
    /// `cluster`, running `task_definition`.
    pub fn service_body(&self, cluster: &str, name: &str, task_definition: &str) -> Value {
        json!({
            "cluster": cluster,
            "serviceName": name,
            "taskDefinition": task_definition,
            "desiredCount": 1,
            "launchType": "FARGATE",
            "networkConfiguration": { "awsvpcConfiguration": {
                "subnets": [self.subnet_id],
                "securityGroups": [self.security_group_id],
            }},
        })
    }

    pub fn services(&self) -> Vec<String> {
        vec![self.app_service.clone(), self.otel_service.clone()]
    }

    /// `<repo uri>:v1`, the image the seeded app task definition runs.
    pub fn app_image(&self) -> String {
        format!("{}:v1", self.app_repo_uri)
    }

    pub fn otel_image(&self) -> String {
        format!("{}:v1", self.otel_repo_uri)
    }
}

pub fn repo_uri(repo: &str) -> String {
    format!("{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{repo}")
}

pub fn seed_dataspace(moto: &Moto) -> Seeded {
    let cluster = moto.ecs("CreateCluster", json!({ "clusterName": CLUSTER }));
    let cluster_arn = cluster["cluster"]["clusterArn"]
        .as_str()
        .expect("CreateCluster answers clusterArn")
        .to_string();

    for repo in [APP_REPO, OTEL_REPO] {
        moto.ecr("CreateRepository", json!({ "repositoryName": repo }));
        push_image(moto, repo, "v1");
    }

    let (subnet_id, security_group_id) = default_network(moto);

    // What the infrastructure stack makes for the services: their IAM roles and awslogs log
    // groups (deploy checks them before any change).
    for role in ROLES {
        moto.query(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", role),
                ("AssumeRolePolicyDocument", ECS_TASKS_TRUST),
            ],
        );
    }
    for group in LOG_GROUPS {
        moto.call_json(
            "logs",
            "Logs_20140328.CreateLogGroup",
            json!({ "logGroupName": group }),
        );
    }

    let app_td = register(moto, &app_task_definition(&repo_uri(APP_REPO)));
    let otel_td = register(moto, &otel_task_definition(&repo_uri(OTEL_REPO)));
    for (service, td) in [(APP_SERVICE, &app_td), (OTEL_SERVICE, &otel_td)] {
        moto.ecs(
            "CreateService",
            json!({
                "cluster": CLUSTER,
                "serviceName": service,
                "taskDefinition": td,
                "desiredCount": 1,
                "launchType": "FARGATE",
                "networkConfiguration": { "awsvpcConfiguration": {
                    "subnets": [subnet_id],
                    "securityGroups": [security_group_id],
                    "assignPublicIp": "DISABLED",
                }},
                "deploymentConfiguration": {
                    "maximumPercent": 200,
                    "minimumHealthyPercent": 100,
                    "deploymentCircuitBreaker": { "enable": true, "rollback": true },
                },
            }),
        );
    }

    Seeded {
        region: REGION.to_string(),
        account_id: ACCOUNT_ID.to_string(),
        cluster: CLUSTER.to_string(),
        cluster_arn,
        app_service: APP_SERVICE.to_string(),
        otel_service: OTEL_SERVICE.to_string(),
        app_task_definition_arn: app_td,
        otel_task_definition_arn: otel_td,
        app_repo_uri: repo_uri(APP_REPO),
        otel_repo_uri: repo_uri(OTEL_REPO),
        subnet_id,
        security_group_id,
    }
}

/// Pushes an image (any small JSON manifest, distinct per repo and tag) under `tag`; returns
/// its digest.
pub fn push_image(moto: &Moto, repo: &str, tag: &str) -> String {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": format!("sha256:{}", fake_digest(&format!("config {repo}:{tag}"))),
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 32654,
            "digest": format!("sha256:{}", fake_digest(&format!("layer {repo}:{tag}"))),
        }],
    });
    let answer = moto.ecr(
        "PutImage",
        json!({
            "repositoryName": repo,
            "imageManifest": manifest.to_string(),
            "imageTag": tag,
        }),
    );
    answer["image"]["imageId"]["imageDigest"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The task definition the seeded app service runs (revision 1), as RegisterTaskDefinition
/// input.
pub fn app_task_definition(repo_uri: &str) -> Value {
    json!({
        "family": APP_FAMILY,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "512",
        "memory": "1024",
        "executionRoleArn": format!("arn:aws:iam::{ACCOUNT_ID}:role/dataspace-ecs-execution"),
        "taskRoleArn": format!("arn:aws:iam::{ACCOUNT_ID}:role/dataspace-ecs-task"),
        "containerDefinitions": [{
            "name": APP_CONTAINER,
            "image": format!("{repo_uri}:v1"),
            "essential": true,
            "portMappings": [{ "containerPort": 8000, "protocol": "tcp" }],
            "environment": [
                { "name": "DJANGO_SETTINGS_MODULE", "value": "dataspace.settings" },
                { "name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4317" },
            ],
            "logConfiguration": { "logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/dataspace",
                "awslogs-region": REGION,
                "awslogs-stream-prefix": "app",
            }},
        }],
    })
}

pub fn otel_task_definition(repo_uri: &str) -> Value {
    json!({
        "family": OTEL_FAMILY,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "512",
        "memory": "1024",
        "executionRoleArn": format!("arn:aws:iam::{ACCOUNT_ID}:role/dataspace-ecs-execution"),
        "containerDefinitions": [{
            "name": OTEL_CONTAINER,
            "image": format!("{repo_uri}:v1"),
            "essential": true,
            "portMappings": [
                { "containerPort": 4317, "protocol": "tcp" },
                { "containerPort": 4318, "protocol": "tcp" },
            ],
            "logConfiguration": { "logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/dataspace-otel",
                "awslogs-region": REGION,
                "awslogs-stream-prefix": "otel",
            }},
        }],
    })
}

/// Registers a task definition; returns its full ARN.
pub fn register(moto: &Moto, task_definition: &Value) -> String {
    let answer = moto.ecs("RegisterTaskDefinition", task_definition.clone());
    answer["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap_or_else(|| panic!("RegisterTaskDefinition answered without an ARN: {answer}"))
        .to_string()
}

/// The default VPC's first default subnet and its `default` security group.
pub fn default_network(moto: &Moto) -> (String, String) {
    let vpcs = moto.query(
        "ec2",
        &[
            ("Action", "DescribeVpcs"),
            ("Version", "2016-11-15"),
            ("Filter.1.Name", "isDefault"),
            ("Filter.1.Value.1", "true"),
        ],
    );
    let vpc = xml_values(&vpcs, "vpcId")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("moto has no default VPC: {vpcs}"));
    let subnets = moto.query(
        "ec2",
        &[
            ("Action", "DescribeSubnets"),
            ("Version", "2016-11-15"),
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", &vpc),
            ("Filter.2.Name", "default-for-az"),
            ("Filter.2.Value.1", "true"),
        ],
    );
    let mut subnet_ids = xml_values(&subnets, "subnetId");
    subnet_ids.sort();
    let subnet = subnet_ids
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("default VPC {vpc} has no subnets: {subnets}"));
    let groups = moto.query(
        "ec2",
        &[
            ("Action", "DescribeSecurityGroups"),
            ("Version", "2016-11-15"),
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", &vpc),
            ("Filter.2.Name", "group-name"),
            ("Filter.2.Value.1", "default"),
        ],
    );
    let group = xml_values(&groups, "groupId")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("default VPC {vpc} has no default security group: {groups}"));
    (subnet, group)
}

/// 64 hex characters derived from `seed` (FNV-1a, repeated): a stable stand-in digest.
fn fake_digest(seed: &str) -> String {
    let mut out = String::new();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0u8..4 {
        for b in seed.bytes().chain([round]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}
