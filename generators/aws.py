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
