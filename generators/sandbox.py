"""A local multi-account AWS sandbox: moto's server mode on loopback, in this process.

moto serves real HTTP for Organizations, IAM, STS, S3 (with the conditional writes that S3-native
state locking needs), DynamoDB and SSM, and assuming a role in account N yields credentials that act
in N, so the whole multi-account layout runs on one machine. It stores but does not enforce SCPs,
bucket policies and most trust conditions.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

# moto's default account: the credentials below act in it, so it plays the management account.
SANDBOX_MANAGEMENT_ACCOUNT = "123456789012"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}


@dataclass(frozen=True)
class Sandbox:
    endpoint: str
    region: str

    def environment(self) -> dict[str, str]:
        """What a shell needs to point `terraform` and `aws` at the sandbox."""
        return {"AWS_ENDPOINT_URL": self.endpoint, **DUMMY_CREDENTIALS,
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}


def correct_conditional_denies() -> None:
    """Make moto treat a Deny statement whose condition keys it has no values for as not applying.

    moto (5.2) passes no condition values (aws:SecureTransport, ...) when it checks a bucket policy,
    and counts a condition it cannot evaluate as met, so a conditional Deny denies every request.
    So the TLS-only policy that bootstrap puts on every state bucket would refuse Terraform's own state
    writes in the sandbox. The policy documents themselves are checked by the tests. Idempotent.
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    if getattr(IAMPolicyStatement.is_action_permitted, "_conditional_deny_corrected", False):
        return
    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        result = original(self, action, resource, principal, incoming_condition_values)
        condition = self._statement.get("Condition") or {}
        keys = {key for operands in condition.values() for key in operands}
        if (result is PermissionResult.DENIED and self._statement.get("Effect") == "Deny" and keys
                and not keys <= set(incoming_condition_values or {})):
            return PermissionResult.NEUTRAL
        return result

    is_action_permitted._conditional_deny_corrected = True
    IAMPolicyStatement.is_action_permitted = is_action_permitted


def provide_managed_policies(arns: tuple[str, ...]) -> None:
    """Make the AWS managed policies that bootstrap attaches exist in every sandbox account.

    moto knows none unless MOTO_IAM_LOAD_MANAGED_POLICIES is set, and then builds all ~1,300 in every
    account (about 2 s each); the catalogue is cut to the ones needed. Must run before the server starts.
    """
    import moto.iam.models

    names = {arn.rsplit("/", 1)[-1] for arn in arns}
    catalogue = json.loads(moto.iam.models.aws_managed_policies_data)
    moto.iam.models.aws_managed_policies_data = json.dumps({n: catalogue[n] for n in sorted(names) if n in catalogue})
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_sandbox(region: str, keep: bool = False) -> Iterator[Sandbox]:
    """Start the emulator, point this process (and every child: terraform) at it, restore afterwards.

    With ``keep`` the server outlives the block; the caller keeps the process alive to serve it.
    """
    from moto.server import ThreadedMotoServer

    from .policies import ADMINISTRATOR_ACCESS, READ_ONLY_ACCESS

    provide_managed_policies((ADMINISTRATOR_ACCESS, READ_ONLY_ACCESS))
    correct_conditional_denies()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    sandbox = Sandbox(endpoint=f"http://127.0.0.1:{port}", region=region)
    overrides = {**sandbox.environment(), "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None}
    saved = {name: os.environ.get(name) for name in overrides}
    try:
        for name, value in overrides.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield sandbox
    finally:
        if not keep:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            server.stop()
