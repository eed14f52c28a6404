"""The local API Gateway WebSocket data plane, split as API Gateway's own parts are:

    deployment      what is deployed: the API, routes, integrations, authorizer, functions
    routing         route selection by the API's expression (pure)
    policy          the authorizer's IAM policy against the method ARN (pure)
    server          the WebSocket protocol side: handshake, messages, closing, limits
    connections     the live connections
    management_api  ``@connections`` over HTTP
    lambda_runtime  function instances in child processes (lambda_worker is their main)
    stack           the embedded AWS plus the gateway, in the background, for notebooks

Deliberate differences from AWS: ``docs/local-gateway.md``.
"""

from chatlib.gateway.server import GatewayOptions, LocalGateway
from chatlib.gateway.stack import LocalStack, running_local_stack, start_local_stack

__all__ = [
    "GatewayOptions",
    "LocalGateway",
    "LocalStack",
    "running_local_stack",
    "start_local_stack",
]
