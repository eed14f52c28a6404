"""Everything that exists only because there is no AWS here. None of it ships to Lambda.

    embedded             moto as a server on a loopback port: the embedded AWS
    moto_server          moto's server as ``serve`` runs it: served by waitress, its DynamoDB
                         hot paths shortened, full collections only when it is quiet
    gateway/             API Gateway's WebSocket data plane, which moto does not have
    moto_bridge          what moto's CloudFormation skips, made after each change set
    event_factory        API Gateway-shaped events, for calling a handler by hand
    lambda_context       Lambda's context object, for the same (and for the local runtime)
    api_shortcut         the chat's API defined with boto3 calls, before CloudFormation is taught
    connections_standin  a STAND-IN ``@connections`` with inboxes, for unit tests of handlers
    connections_replies  what ``@connections`` answers, shared by the gateway and the stand-in

On AWS none of this is needed: CloudFormation builds the stack, API Gateway serves it and
Lambda runs the handlers in ``chatlib/`` and ``chatlib/handlers/``.
"""
