"""Reading a held Terraform state lock: who holds it, for the message that names them."""

from __future__ import annotations

import json

from generators import TOOL_NAME, naming
from generators.aws import clients as aws
from generators.config.models import Environment, Organization
from generators.run.terraform_output import LockInfo, lock_from_fields


def read_state_lock(organization: Organization, environment: Environment,
                    role: str | None = None) -> LockInfo | None:
    """The lock object S3-native locking writes next to the state (``<key>.tflock``), read in the
    environment's own account through ``role`` (a role name; default the deploy role); None when there
    is none or it cannot be read. Only ever reads."""
    from botocore.exceptions import BotoCoreError, ClientError

    region = organization.settings.region
    try:
        account_session = aws.assume_role_session(aws.session(region),
                                                  organization.role_arn(environment.account, role),
                                                  f"{TOOL_NAME}-lock-{environment.name}", region)
        body = aws.client(account_session, "s3").get_object(
            Bucket=organization.state_bucket(environment.account),
            Key=naming.state_lock_key(environment.name))["Body"].read()
        document = json.loads(body)
    except (BotoCoreError, ClientError, ValueError):
        return None
    if not isinstance(document, dict) or not document.get("ID"):
        return None
    return lock_from_fields({k: str(v) for k, v in document.items()})
