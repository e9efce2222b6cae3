"""How the tool reaches AWS: the one place that knows about AWS_ENDPOINT_URL, builds sessions (one per
account) and clients (retries, timeouts, S3 addressing), and reads the environments' state objects out of
a state bucket (whose layout naming.py composes and parses)."""

from __future__ import annotations

import ipaddress
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from generators import naming

# Retries after the first attempt, in botocore's "standard" mode (exponential back-off with jitter, also on
# throttling and connection errors); 2 is that mode's own default, so a failure is reported as soon as before.
RETRIES = 2
# Seconds. botocore waits 60 for a connection by default: three attempts at an unreachable endpoint that drops
# packets would keep a command silent for three minutes. A read may legitimately take longer (a large listing).
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60


def endpoint_url() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or None


def endpoint_is_local() -> bool:
    """True when AWS_ENDPOINT_URL points at this machine (the sandbox emulator), which needs path-style S3."""
    url = endpoint_url()
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client(session, service: str, region: str | None = None, *, retries: int = RETRIES,
           connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT):
    """A boto3 client for ``service`` from ``session`` (in ``region``, default the session's), with standard
    retries and timeouts. Every client the tool uses is built here."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": retries},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # A loopback endpoint (the emulator) cannot resolve <bucket>.localhost: address buckets by path.
        s3={"addressing_style": "path"} if endpoint_is_local() else None,
    )
    return session.client(service, region_name=region, config=config)


def session(region: str | None = None):
    """A boto3 session from the ambient credentials (honouring AWS_ENDPOINT_URL through boto3 itself)."""
    return _session(region=region)


def assume_role_session(base, role_arn: str, session_name: str, region: str | None = None):
    """A boto3 session acting in the account of ``role_arn``, entered from ``base``'s credentials."""
    credentials = client(base, "sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])["Credentials"]
    return _session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region=region or base.region_name,
    )


def caller_account(base) -> str:
    return client(base, "sts").get_caller_identity()["Account"]


_loader_lock = threading.Lock()
_shared_loader = None


def _session(*, region: str | None, **credentials):
    """A boto3 session whose botocore session shares the loader (and so the parsed-JSON cache) of the first
    session made here. Each botocore session otherwise parses botocore's endpoint rules and every service
    model again, about 0.25 s of CPU per session: visiting seven accounts cost seconds before a request.
    Safe from several threads: each call builds its own session; only the read-only models are shared."""
    import boto3
    import botocore.session

    global _shared_loader
    core = botocore.session.Session()
    # Built first, so that the first loader gets boto3's data path added to it, as any boto3 session's does.
    built = boto3.session.Session(botocore_session=core, region_name=region, **credentials)
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _shared_loader)
    return built


# -- the state objects in a state bucket ------------------------------------------------------------------


@dataclass(frozen=True)
class StateObject:
    """An environment's state object, found by listing a state bucket."""

    environment: str
    key: str
    last_modified: datetime | None


def environment_states(s3, bucket: str) -> tuple[StateObject, ...]:
    """The state objects of environments in ``bucket``, listed with the S3 client ``s3``, in key order.
    Objects that are not an environment's state (lock objects, anything put there by hand) are passed
    over; botocore's errors propagate."""
    return tuple(StateObject(environment, entry["Key"], entry.get("LastModified"))
                 for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                 for entry in page.get("Contents", [])
                 if (environment := naming.environment_of_state_key(entry["Key"])) is not None)
