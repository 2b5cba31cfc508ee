"""Creates, in a local moto server, what exists before DataSpace's first deploy and that its
CloudFormation stack does not make: the ECR repositories with the two images (what the
workflow's build step pushes), and the SecureString parameters the app's `secrets` read
(CloudFormation cannot create SecureStrings; a team puts them there once). Everything else -
the cluster, the IAM role, the log group, the database, the services - comes from the deploy
itself (the stack, then the service definitions). Used by scripts/local-aws.sh (for the
example, the benchmark and CI); the Rust tests seed their own.

Prints KEY=value lines for the environment: ECR_REGISTRY, VPC_ID and SUBNET_IDS (two default
subnets in different zones, for the stack's SubnetIds parameter)."""
import json
import sys

import boto3

endpoint, region, tag = sys.argv[1], sys.argv[2], sys.argv[3]
kw = dict(endpoint_url=endpoint, region_name=region,
          aws_access_key_id="AKIDLOCALEXAMPLE", aws_secret_access_key="local-example-secret")
ecr, ec2, sts, ssm = (boto3.client(s, **kw) for s in ("ecr", "ec2", "sts", "ssm"))
account = sts.get_caller_identity()["Account"]
registry = f"{account}.dkr.ecr.{region}.amazonaws.com"

for name in ("db/password", "django/secret-key", "elasticsearch/password"):
    ssm.put_parameter(Name=f"/dataspace/dev/{name}", Value="local-example-value", Type="SecureString")
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": "sha256:" + "0" * 64},
                       "layers": []})
for repo in ("dataspace", "otel-collector"):
    ecr.create_repository(repositoryName=repo)
    for t in ("v1", tag):
        ecr.put_image(repositoryName=repo, imageManifest=manifest.replace("0" * 64, (t.encode().hex() * 64)[:64]), imageTag=t)

vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"],
                 key=lambda s: s["AvailabilityZone"])
print(f"ECR_REGISTRY={registry}")
print(f"VPC_ID={vpc}")
print("SUBNET_IDS=" + ",".join(s["SubnetId"] for s in subnets[:2]))
