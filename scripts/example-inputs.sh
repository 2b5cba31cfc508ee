# The DataSpace example's inputs for a run against the local AWS, as CLI flags in the array
# EXAMPLE_ARGS: the same as the example workflow's deploy step (examples/dataspace), with the
# local AWS's network (VPC_ID, SUBNET_IDS from scripts/local-aws.sh). Sourced by
# scripts/example-deploy.sh and benches/deploy.sh; run from examples/dataspace.
EXAMPLE_ARGS=(
  --cluster dataspace-dev
  --service dataspace-app
  --task-definition aws/task-definition.json
  --service-definition aws/app-service.json
  --otel-service dataspace-otel
  --otel-task-definition aws/otel-collector-task-definition.json
  --otel-service-definition aws/otel-collector-service.json
  --stack-name dataspace-dev-infrastructure
  --stack-template aws/cloudformation/dataspace-infrastructure.yml
  # moto cannot create ElastiCache or Elasticsearch through CloudFormation.
  --stack-parameters "Environment=dev
VpcId=$VPC_ID
SubnetIds=$SUBNET_IDS
DBName=dataspace
DBPassword=local-example-db-password
CreateCacheAndSearch=false"
)
