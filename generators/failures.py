"""What went wrong, in one line an on-call engineer can act on: any exception -> message and exit code.

The CLI's error boundary prints what ``explain`` returns instead of a traceback. The project's own
errors carry their message and exit code; errors from the file system, AWS and the templates are
named by what they touched (the path, the endpoint or role, the template), with a hint where one
helps; anything else is an internal error, with how to see the traceback.
"""

from __future__ import annotations

import errno
import os
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from generators.errors import EXIT_FAILURE, ToolError

DEBUG_HINT = "run with --debug for the traceback"
# AWS error codes that mean "these credentials are not good enough here", whatever the service.
AUTH_CODES = {
    "AccessDenied", "AccessDeniedException", "AuthFailure", "ExpiredToken", "ExpiredTokenException",
    "InvalidAccessKeyId", "InvalidClientTokenId", "InvalidToken", "MissingAuthenticationToken",
    "NotAuthorized", "RequestExpired", "SignatureDoesNotMatch", "UnauthorizedOperation",
    "UnrecognizedClientException", "AccountNotFound",
}
_CREDENTIALS_HINT = ("set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`aws sts get-caller-identity` "
                     "should work), or run `python main.py demo --keep` and use its export lines for the sandbox")


@dataclass(frozen=True)
class Failure:
    message: str
    exit_code: int = EXIT_FAILURE


def explain(exc: BaseException) -> Failure:
    """The message and exit code for ``exc``; never raises."""
    for kind, describe in _DESCRIBERS:
        exception_class = kind()
        if exception_class is not None and isinstance(exc, exception_class):
            return describe(exc)
    return Failure(f"internal error: {type(exc).__name__}: {_first_line(exc)}; {DEBUG_HINT}")


def one_line(exc: BaseException) -> str:
    """``explain``'s message, for reports that list one failure per environment or account."""
    return explain(exc).message


def _tool_error(exc: ToolError) -> Failure:
    return Failure(str(exc), exc.exit_code)


def _os_error(exc: OSError) -> Failure:
    path = exc.filename
    reason = exc.strerror or _first_line(exc)
    if path is None:
        return Failure(f"operating system error: {reason}; {DEBUG_HINT}")
    where = f"{os.fsdecode(path)}" + (f" -> {os.fsdecode(exc.filename2)}" if exc.filename2 else "")
    hint = {
        errno.EACCES: "check the permissions of the file and the folders above it",
        errno.EPERM: "check the permissions of the file and the folders above it",
        errno.EROFS: "the file system is read-only; choose another folder (--out)",
        errno.ENOSPC: "the disk is full",
        errno.ENOTDIR: "a file stands where a folder is expected",
        errno.EISDIR: "a folder stands where a file is expected",
        errno.ENAMETOOLONG: "a name is too long for the file system",
        errno.ELOOP: "a symbolic link loops",
    }.get(exc.errno or 0)
    return Failure(f"{where}: {reason}" + (f" ({hint})" if hint else ""))


def _endpoint() -> str:
    from generators.aws.clients import endpoint_url

    url = endpoint_url()
    return f"AWS_ENDPOINT_URL {url}" if url else "AWS's public endpoints"


def _no_credentials(exc: Exception) -> Failure:
    return Failure(f"no AWS credentials found for {_endpoint()}: {_first_line(exc)}; {_CREDENTIALS_HINT}")


def _unreachable(exc: Exception) -> Failure:
    url = getattr(exc, "kwargs", {}).get("endpoint_url") or _endpoint()
    hint = ("is the sandbox still running? (`python main.py demo --keep`)" if os.environ.get("AWS_ENDPOINT_URL")
            else "check the network, the proxy settings and the region")
    return Failure(f"cannot reach AWS at {url}: {_first_line(exc)}; {hint}")


def _client_error(exc: Exception) -> Failure:
    error = exc.response.get("Error", {})  # type: ignore[attr-defined]
    code = error.get("Code", "?")
    operation = getattr(exc, "operation_name", "a call")
    text = f"AWS refused {operation} ({_endpoint()}): {code}: {(error.get('Message') or '').strip()}"
    if code in AUTH_CODES:
        hint = ("the credentials may have expired, belong to another account, or lack the permission; "
                "bootstrap needs the management account, plan/deploy the roles bootstrap creates")
        return Failure(f"{text}; {hint}")
    return Failure(text)


def _botocore_error(exc: Exception) -> Failure:
    return Failure(f"AWS client error ({_endpoint()}): {_first_line(exc)}")


def _template_error(exc: Exception) -> Failure:
    name = getattr(exc, "filename", None) or getattr(exc, "name", None) or _template_in_traceback(exc)
    line = getattr(exc, "lineno", None)
    where = f"{name}:{line}" if name and line else (name or "a template")
    return Failure(f"template {where}: {type(exc).__name__}: {_first_line(exc)}; {DEBUG_HINT}")


def _template_in_traceback(exc: BaseException) -> str | None:
    # jinja2 rewrites tracebacks so a rendering error's frames name the template file.
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return frame.filename
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _botocore(name: str):
    def kind():
        try:
            from botocore import exceptions
        except ImportError:  # pragma: no cover - botocore is a dependency
            return None
        return getattr(exceptions, name)

    return kind


def _jinja():
    try:
        from jinja2 import TemplateError
    except ImportError:  # pragma: no cover - jinja2 is a dependency
        return None
    return TemplateError


# Most specific first: botocore's NoCredentialsError and EndpointConnectionError are BotoCoreErrors.
# (the exception class, or None when its library is not installed; what to say about one of them)
_DESCRIBERS: tuple[tuple[Callable[[], type[BaseException] | None], Callable[[Any], Failure]], ...] = (
    (lambda: ToolError, _tool_error),
    (_botocore("NoCredentialsError"), _no_credentials),
    (_botocore("PartialCredentialsError"), _no_credentials),
    (_botocore("NoRegionError"), lambda exc: Failure(f"no AWS region configured: set AWS_REGION ({_endpoint()})")),
    (_botocore("EndpointConnectionError"), _unreachable),
    (_botocore("ConnectTimeoutError"), _unreachable),
    (_botocore("ReadTimeoutError"), _unreachable),
    (_botocore("ClientError"), _client_error),
    (_botocore("BotoCoreError"), _botocore_error),
    (_jinja, _template_error),
    (lambda: OSError, _os_error),
)
