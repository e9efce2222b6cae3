"""The JSON the engine writes for a plain stack, produced in Python.

A stack without extensions holds only a typed ``S3Backend`` and overrides, and the engine's output for
it is fully determined by the workspace document: a ``//`` block with the engine's metadata, the
backend, then the overrides deep-merged in (cdktf's ``deepMerge``: objects merge, arrays concatenate),
written with sorted keys. Writing that here skips about a dozen calls into the engine's JavaScript
runtime per stack, the dominant cost of synthesis. The engine still renders one of these stacks per run
and ``cdktf_engine`` compares it with this module's rendering, falling back to the engine for every
stack if they differ: an engine version that lays such a stack out differently wins in every run.
Value conversions that the probe may not exercise (None, large numbers) are checked against both
engines by tests/test_direct_rendering.py.
"""

from __future__ import annotations

import json
from collections import abc
from decimal import Decimal
from typing import Any, Iterable, Mapping

from generators.config.models import Account, AccountKind, Environment
from generators.synth.workspace import WorkspaceDocument

STACKS = "stacks"
STACK_FILE = "cdk.tf.json"
MANIFEST = "manifest.json"
_EXACT_INTEGERS = 2 ** 53  # a double holds every integer up to here
_MAPPINGS = (dict, abc.Mapping)  # dict first: isinstance stops at the first match, and the ABC check is slow
# (engine, its version, jsii's version) -> the version its manifest carries: the engines this module
# is verified against by tests/test_direct_rendering.py (every stack of a 1,000-environment
# organization, and the reference document, compared byte for byte), for which the engine's own
# check is skipped. Any other engine or runtime version is checked at run time (see cdktf_engine).
VERIFIED = {
    ("cdktf", "0.20.12", "1.142.0"): "0.20.12",
    ("cdktn", "0.24.0", "1.142.0"): "0.24.0",
}


def canonical_json(document: Any, sort_keys: bool = False) -> bytes:
    """The one layout every generated JSON file has (the same whichever engine wrote it). ``sort_keys``
    gives json-stable-stringify's order, the engine's: every object's keys sorted, arrays as they are."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=sort_keys).encode()


def stack_json(document: WorkspaceDocument, version: str, marker_key: str, marker: str) -> bytes:
    """``stacks/<name>/cdk.tf.json`` of ``document``, byte for byte as the engine writes it (canonical)."""
    name = document.environment.name
    backend = {k: v for k, v in document.backend.items() if v is not None}
    use_lockfile = backend.pop("use_lockfile", False)
    override_keys = ["//", *document.sections]
    if use_lockfile and "terraform" not in override_keys:  # add_override("terraform.backend.s3.use_lockfile")
        override_keys.append("terraform")
    tf: dict[str, Any] = {"//": {"metadata": {"version": version, "stackName": name, "backend": "s3",
                                              "overrides": {"stack": override_keys}},
                                 "outputs": {}}}
    # _deep_merge builds new objects and copies arrays, so the document is never changed
    _deep_merge(tf, {"terraform": {"backend": {"s3": backend}}})
    _deep_merge(tf, {"//": {marker_key: marker}})
    _deep_merge(tf, document.sections)
    if use_lockfile:  # the sections have no terraform.backend of their own: the same as cdktf's merge
        _deep_merge(tf, {"terraform": {"backend": {"s3": {"use_lockfile": True}}}})
    return canonical_json(_as_engine_values(tf), sort_keys=True)


def manifest_json(stacks: Iterable[tuple[str, tuple[str, ...]]], version: str,
                  annotations: Mapping[str, list[Any]] | None = None) -> bytes:
    """``manifest.json`` for ``stacks`` (name, names of the stacks it depends on), as the engine writes it."""
    annotations = annotations or {}
    entries = {}
    for name, dependencies in stacks:
        folder = f"{STACKS}/{name}"
        entries[name] = {"annotations": annotations.get(name, []), "constructPath": name,
                         "dependencies": list(dependencies), "name": name,
                         "stackMetadataPath": f"{folder}/metadata.json",
                         "synthesizedStackPath": f"{folder}/{STACK_FILE}", "workingDirectory": folder}
    return canonical_json({"stacks": entries, "version": version}, sort_keys=True)


def reference_document() -> WorkspaceDocument:
    """A plain stack with every shape a workspace document holds (each top-level section, providers as
    a list of objects, nested lists, sensitive outputs) and every kind of value (strings with
    interpolations, quotes and non-ASCII, booleans, integers small and beyond 2**53, fractions, None):
    what the engine renders once per engine version so this module is checked against it before it
    writes any stack."""
    account = Account(name="reference", kind=AccountKind.DEVELOPMENT, id="111111111111")
    environment = Environment(name="reference", account=account, region="us-east-1", modules=())
    role = {"role_arn": "arn:aws:iam::111111111111:role/${var.role_name}", "session_name": "reference"}
    backend = {"bucket": "reference-tfstate-111111111111", "key": "reference/terraform.tfstate",
               "region": "us-east-1", "encrypt": True, "use_lockfile": True,
               "assume_role": {"role_arn": "arn:aws:iam::111111111111:role/Deploy", "session_name": "reference"},
               "allowed_account_ids": ["111111111111"], "use_path_style": None}
    sections: dict[str, Any] = {
        "variable": {"role_name": {"type": "string", "default": "Deploy", "description": "the role's name",
                                   "validation": [{"condition": '${contains(["Deploy"], var.role_name)}',
                                                   "error_message": "role_name must be \"Deploy\"."}]},
                     "token": {"type": "string", "sensitive": True}},
        "terraform": {"required_version": ">= 1.10.0",
                      "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0, < 6.0"}}},
        "provider": {"aws": [{"region": "us-east-1", "allowed_account_ids": ["111111111111"],
                              "assume_role": [role], "default_tags": [{"tags": {"Environment": "reference"}}]},
                             {"alias": "west", "region": "eu-west-1", "allowed_account_ids": ["111111111111"],
                              "assume_role": [role]}]},
        "data": {"terraform_remote_state": {"uses": {"backend": "s3", "config": {
                     "bucket": "reference-tfstate-111111111111", "key": "infra/terraform.tfstate",
                     "region": "us-east-1", "assume_role": role}}},
                 "aws_ssm_parameter": {"token": {"name": "/reference/token", "with_decryption": True}}},
        "module": {"api": {"source": "../../modules/api", "version": None, "name_prefix": "reference",
                           "text": 'with "quotes", a \\ backslash, ${var.role_name}, $${literal} and ünïcödé 🚀',
                           "count": 3, "big": 2 ** 60, "ratio": 0.25, "huge": 1.5e300, "enabled": False,
                           "nothing": None, "list": [1, "two", [3.0, None], {"four": 4}], "empty": {},
                           "empty_list": [], "providers": {"aws.west": "aws.west"}}},
        "output": {"api_url": {"value": "${module.api.url}"},
                   "api_key": {"value": "${module.api.key}", "sensitive": True}},
    }
    return WorkspaceDocument(environment=environment, backend=backend, sections=sections)


def _deep_merge(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    """cdktf's deepMerge (lib/util.js): objects merge recursively, arrays concatenate, the rest replaces."""
    for key, value in source.items():
        if isinstance(value, _MAPPINGS):
            if not isinstance(target.get(key), dict):
                target[key] = {}
            _deep_merge(target[key], value)
        elif isinstance(value, (list, tuple)):
            target[key] = list(target[key]) + list(value) if isinstance(target.get(key), list) else list(value)
        else:
            target[key] = value


def _as_engine_values(value: Any) -> Any:
    """Values as they come back from the JavaScript runtime: None (undefined there) is left out of objects
    and arrays, and numbers are doubles, printed as JavaScript prints them (integral ones without a
    fraction, integers beyond 2**53 rounded)."""
    if isinstance(value, str):  # most values: answered first
        return value
    if isinstance(value, _MAPPINGS):
        return {k: _as_engine_values(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_as_engine_values(v) for v in value if v is not None]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > _EXACT_INTEGERS:
        value = float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(Decimal(repr(value)))  # JavaScript's shortest digits, zero-padded: 1.2e+19 -> 12000...
    return value
