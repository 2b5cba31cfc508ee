"""Creates, in a local moto server, what the DataSpace infrastructure provides before the
first deploy: an ECS cluster, ECR repositories with an image, the two services on a first
task-definition revision. Used by scripts/local-aws.sh (for the example, the benchmark and CI);
the Rust tests seed their own."""
import json
import sys

import boto3

endpoint, region, tag = sys.argv[1], sys.argv[2], sys.argv[3]
kw = dict(endpoint_url=endpoint, region_name=region,
          aws_access_key_id="AKIDLOCALEXAMPLE", aws_secret_access_key="local-example-secret")
ecs, ecr, ec2, sts, ssm, logs, iam = (boto3.client(s, **kw) for s in ("ecs", "ecr", "ec2", "sts", "ssm", "logs", "iam"))
account = sts.get_caller_identity()["Account"]
registry = f"{account}.dkr.ecr.{region}.amazonaws.com"

ecs.create_cluster(clusterName="dataspace-dev")
# What the infrastructure stack provides: the parameters the app's `secrets` name, the log group.
for name in ("db/username", "db/password", "django/secret-key", "elasticsearch/password"):
    ssm.put_parameter(Name=f"/dataspace/dev/{name}", Value="local-example-value", Type="SecureString")
logs.create_log_group(logGroupName="/ecs/dataspace-dev")
iam.create_role(RoleName="dataspace-dev-ecs-execution", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": "sha256:" + "0" * 64},
                       "layers": []})
for repo in ("dataspace", "otel-collector"):
    ecr.create_repository(repositoryName=repo)
    for t in ("v1", tag):
        ecr.put_image(repositoryName=repo, imageManifest=manifest.replace("0" * 64, (t.encode().hex() * 64)[:64]), imageTag=t)

subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
groups = [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]][:1]
for family, service, repo, port in (("dataspace-app", "dataspace-app", "dataspace", 8000),
                                    ("dataspace-otel-collector", "dataspace-otel", "otel-collector", 4317)):
    td = ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": repo, "image": f"{registry}/{repo}:v1", "essential": True,
                               "portMappings": [{"containerPort": port}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="dataspace-dev", serviceName=service, taskDefinition=td, desiredCount=1,
                       launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": groups}})
print(registry)
