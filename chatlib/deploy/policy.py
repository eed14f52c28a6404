"""The IAM policy the identity that deploys needs: ``infra_cfn/deploy-policy.json``, for a stack.

The file names the stack as ``${StackName}`` (and the code bucket's prefix, the stack name in
lower case, as ``${BucketPrefix}``); :func:`deploy_policy` fills them in. It covers the calls
chatlib makes (change sets, events, outputs, the code bucket, tokens and their secret's
rotation, teardown) and those CloudFormation makes on the caller's behalf for each resource
the template declares, at every step. ``tests/test_deploy_policy.py`` proves both: it records
every call a deploy makes, and reads CloudFormation's own list of permissions per resource type.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import Any

from chatlib.deploy.template import CHAT_TEMPLATE

__all__ = ["DEPLOY_POLICY", "deploy_policy"]

#: The policy document, with ``${StackName}`` and ``${BucketPrefix}`` to fill in.
DEPLOY_POLICY: Path = Path(CHAT_TEMPLATE).with_name("deploy-policy.json")


def deploy_policy(stack_name: str) -> dict[str, Any]:
    """The deploy policy for ``stack_name``, ready to attach to a user or role."""
    text = Template(DEPLOY_POLICY.read_text()).substitute(
        StackName=stack_name, BucketPrefix=stack_name.lower()
    )
    return json.loads(text)
