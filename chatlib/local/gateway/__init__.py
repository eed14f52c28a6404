"""The local API Gateway WebSocket data plane, split as API Gateway's own parts are:

    server          LocalGateway: wires the parts below, owns ports, lifecycle, background work
    protocol        the WebSocket side: handshake, messages, closing
    authorizer      the REQUEST authorizer step of a handshake
    policy          the authorizer's IAM policy against the method ARN (pure)
    routing         route selection by the API's expression (pure)
    connections     the live connections and their time limits
    served_apis     the deployed APIs, read from the control plane and kept for a moment
    deployment      what is deployed: the API, routes, integrations, authorizer, functions
    invoke_permission  may API Gateway invoke a function? its resource policy decides (pure)
    management_api  ``@connections`` over HTTP
    lambda_runtime  function instances in child processes (lambda_worker is their main)
    event_sources   Lambda's SQS poller: event source mappings' queues polled, batches invoked
    sqs_events      the SQS event a batch makes and which messages its answer keeps (pure)
    function_code   each function's zip, unpacked once per CodeSha256, for its instances
    function_logs   each instance's output shipped to CloudWatch Logs in batches
    narration       the gateway's own log lines: what each handler did, tokens masked
    stack           the embedded AWS plus the gateway, in the background, for notebooks

Deliberate differences from AWS: ``docs/local-gateway.md``.
"""

from chatlib.local.gateway.server import GatewayOptions, LocalGateway
from chatlib.local.gateway.stack import LocalStack, start_local_stack

__all__ = ["GatewayOptions", "LocalGateway", "LocalStack", "start_local_stack"]
