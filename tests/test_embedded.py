"""The embedded AWS in a process of its own (what ``chatlib-local serve`` runs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_moto_in_its_own_process_serves_boto3_and_ends_with_stop():
    script = textwrap.dedent(
        """
        import os, socket
        import boto3
        from chatlib.local.embedded import start_embedded_aws
        aws = start_embedded_aws(own_process=True)
        child = aws.process()
        assert child.pid != os.getpid() and child.poll() is None
        boto3.client("dynamodb").create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
        print(boto3.client("dynamodb").list_tables()["TableNames"])
        port = int(aws.endpoint_url.rsplit(":", 1)[1])
        aws.stop()
        assert child.poll() is not None and "AWS_ENDPOINT_URL" not in os.environ
        with socket.socket() as probe:
            print("closed" if probe.connect_ex(("127.0.0.1", port)) else "still open")
        """
    )
    environment = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=environment
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["['t']", "closed"]
