"""Starts moto's server on 127.0.0.1 and writes the port it bound to the file named by argv[1]
(argv[2] is the port to bind; 0 or absent: the kernel picks one, so no other process can take it
between choosing and binding). The one launcher of the local AWS: the integration tests
(tests/it/support/moto.rs) and scripts/local-aws.sh (the example, the benchmark, CI) use it.

Two corrections make moto answer as AWS does where the product depends on it (moto 5.2.5; each
is the AWS behaviour the API reference documents, not a scripted story):
- a stack created or updated through a change set gets its Outputs (moto computes them when
  the change set is made, before its resources exist, and never again; where moto's update
  loses a resource an output names, the outputs from before stay);
- CreateService keeps every attribute it is given (moto's CreateService drops, among others,
  capacityProviderStrategy, deploymentConfiguration, enableExecuteCommand and
  serviceConnectConfiguration, which its own UpdateService keeps), and the attributes AWS keeps
  per deployment (serviceConnectConfiguration, volumeConfigurations, vpcLatticeConfigurations)
  are on the deployment, where DescribeServices shows them.
"""
import os
import sys

from moto.cloudformation import models as cfn
from moto.core.utils import camelcase_to_underscores
from moto.ecs import responses as ecs_responses
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

_apply = cfn.ChangeSet.apply


def apply_with_outputs(self):
    _apply(self)
    fresh = cfn.OutputMap(self.stack.resource_map, self.template_dict, self.stack.stack_id)
    try:
        # Evaluated now (the map caches each value), as AWS reports them when the stack completes.
        for _ in fresh.values():
            pass
        self.stack.output_map = fresh
    except Exception:
        # moto's update of some resources (RDS) drops them from its map: keep the outputs
        # evaluated before, which is what a no-op update leaves in AWS.
        pass


cfn.ChangeSet.apply = apply_with_outputs

KEPT_BY_CREATE = {"cluster", "serviceName", "taskDefinition", "desiredCount", "loadBalancers",
                  "schedulingStrategy", "serviceRegistries", "tags", "deploymentController",
                  "launchType", "platformVersion", "propagateTags", "networkConfiguration", "role",
                  "clientToken"}
_create = ecs_responses.EC2ContainerServiceResponse.create_service


# AWS keeps these per deployment (DescribeServices shows them under deployments[]), not on the
# service.
PER_DEPLOYMENT = {"serviceConnectConfiguration", "volumeConfigurations", "vpcLatticeConfigurations"}


def keep(service, params, skip):
    for key, value in params.items():
        if key in skip or value is None:
            continue
        if key in PER_DEPLOYMENT:
            for d in service.deployments[:1]:
                d[key] = value
        else:
            setattr(service, camelcase_to_underscores(key), value)


def create_keeping_attributes(self):
    result = _create(self)
    service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
    keep(service, self._get_params(), KEPT_BY_CREATE)
    return result


ecs_responses.EC2ContainerServiceResponse.create_service = create_keeping_attributes
_update = ecs_responses.EC2ContainerServiceResponse.update_service


def update_keeping_deployment_attributes(self):
    params = self._get_params()
    result = _update(self)
    service = self.ecs_backend._get_service(params.get("cluster", "default"), params["service"])
    keep(service, {k: v for k, v in params.items() if k in PER_DEPLOYMENT}, set())
    return result


ecs_responses.EC2ContainerServiceResponse.update_service = update_keeping_deployment_attributes

port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
_, port = server.get_host_and_port()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(port))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
import threading  # noqa: E402

threading.Event().wait()
