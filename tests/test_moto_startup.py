"""moto's own process starts quicker (:mod:`chatlib.local.moto_startup`) without answering
differently: what the warm-up and the trimmed imports do, and what they leave alone."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading

from chatlib.local.moto_startup import SERVICES, warm_up


class Dispatcher:
    """The part of moto's ``DomainDispatcherApplication`` the warm-up uses."""

    def __init__(self, failing: str | None = None) -> None:
        self.lock = threading.Lock()
        self.app_instances: dict[str, object] = {"s3": "made by a request already"}
        self.failing = failing
        self.made: list[str] = []
        self.lock_held: list[bool] = []

    def create_app(self, service: str) -> object:
        self.lock_held.append(self.lock.locked())
        if service == self.failing:
            raise ImportError(f"no module for {service}")
        self.made.append(service)
        return f"app for {service}"


def test_warm_up_makes_each_missing_application_under_moto_s_lock_and_turns_the_collector_on():
    dispatcher = Dispatcher()
    gc.disable()
    try:
        warm_up(dispatcher).join(timeout=30)
        assert gc.isenabled()
    finally:
        gc.enable()
    assert dispatcher.made == [s for s in SERVICES if s != "s3"]  # CloudFormation early
    assert dispatcher.made.index("cloudformation") == 1
    assert dispatcher.app_instances["s3"] == "made by a request already"
    assert all(dispatcher.lock_held)
    assert not dispatcher.lock.locked()


def test_a_service_that_fails_to_load_is_left_to_its_first_request():
    dispatcher = Dispatcher(failing="cloudformation")
    warm_up(dispatcher).join(timeout=30)
    assert "cloudformation" not in dispatcher.app_instances
    assert dispatcher.made == [s for s in SERVICES if s not in {"s3", "cloudformation"}]
    assert gc.isenabled()


TRIMMED = textwrap.dedent(
    """
    from chatlib.local.moto_startup import trim_imports
    trim_imports()
    import boto3, botocore.session, jsonschema
    try:
        import rfc3987_syntax
        print("rfc3987_syntax imported")
    except ImportError:
        print("rfc3987_syntax absent")
    one, two = botocore.session.Session(), botocore.session.Session()
    print(one.get_component("data_loader") is two.get_component("data_loader"))
    print(boto3.Session().get_available_regions("ec2") == sorted(
        boto3.Session().get_available_regions("ec2")) != [])
    print(jsonschema.validate({"a": 1}, {"properties": {"a": {"type": "integer"}}}))
    """
)


def test_trimmed_imports_leave_out_one_optional_checker_and_share_botocore_s_loader():
    """Run in a fresh interpreter: the trims are for moto's process, never for this one."""
    done = subprocess.run(
        [sys.executable, "-c", TRIMMED], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["rfc3987_syntax absent", "True", "True", "None"]
