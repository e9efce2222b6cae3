"""A local multi-account AWS sandbox: moto's server mode on loopback, in this process.

moto serves real HTTP for Organizations, IAM, STS, S3 (with the conditional writes that S3-native
state locking needs), DynamoDB and SSM, and assuming a role in account N yields credentials that act
in N, so the whole multi-account layout runs on one machine. It stores but does not enforce SCPs,
bucket policies and most trust conditions.
"""

from __future__ import annotations

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
