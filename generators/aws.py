"""How the tool reaches AWS: one place that knows about AWS_ENDPOINT_URL and sessions per account."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlparse


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


def session(region: str | None = None):
    """A boto3 session from the ambient credentials (honouring AWS_ENDPOINT_URL through boto3 itself)."""
    import boto3

    return boto3.session.Session(region_name=region)


def assume_role_session(base, role_arn: str, session_name: str, region: str | None = None):
    """A boto3 session acting in the account of ``role_arn``, entered from ``base``'s credentials."""
    import boto3

    credentials = base.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region or base.region_name,
    )


def caller_account(base) -> str:
    return base.client("sts").get_caller_identity()["Account"]
