"""Synthesize workspace documents through CDK for Terraform or CDK Terrain (same API, same layout).

Each environment becomes one ``TerraformStack`` with a typed ``S3Backend``; the rest of the document
is attached with ``add_override``, one call per top-level section. That keeps the number of calls
into cdktf's JavaScript runtime (about 0.4 ms each, the dominant cost) constant per stack, which is
what lets an organization of 1,000 environments synthesize in seconds. Extensions then add typed
constructs to the same stack. Stacks without extensions skip the runtime altogether (see ``direct``).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

from generators.config.models import Organization
from generators.errors import ToolError, UsageError
from generators.synth.cache import SynthCache, cached_map, library_version
from generators.synth.engine import ENGINES, GENERATED_MARKER, GENERATED_MARKER_KEY, Engine, direct
from generators.synth.extensions import ExtensionSpec, applicable
from generators.synth.workspace import WorkspaceDocument


# cdktf runs on Node.js through jsii; Node 20 is past end-of-life and would print a banner per run.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def synthesize(organization: Organization, documents: Iterable[WorkspaceDocument], with_extensions: bool = True,
               engine: Engine = ENGINES["cdktf"], cache: SynthCache | None = None,
               check: DirectCheck | None = None) -> dict[str, bytes]:
    """cdktf's output layout for ``documents`` (relative path -> content), in the canonical JSON layout.

    Stacks with extensions go through the engine; the others, and the manifest, are written by
    ``direct`` once it is known to write them as the engine would (``check``, see ``DirectCheck``;
    else the engine renders everything). With a ``cache``, stacks rendered before from the same inputs
    are taken from it: a run in which every stack is cached does not start the engine at all.
    """
    documents = list(documents)  # walked more than once
    if not documents:
        return _through_engine(organization, documents, with_extensions, engine)
    version = (check or DirectCheck(engine, cache)).verdict()
    if version == _MISMATCH:
        return _through_engine(organization, documents, with_extensions, engine)
    stacks = _CachedStacks(cache, organization, engine) if cache is not None else None
    plain = _plain_stacks([d for d in documents if not (with_extensions and _extensions(organization, d))],
                          version, stacks)
    rendered: dict[str, bytes] = {}
    annotations: dict[str, list[Any]] = {}
    pending = []
    for document in documents:
        if document.environment.name in plain:
            rendered[_stack_path(document)] = plain[document.environment.name]
            continue
        key = stacks.extended_key(document) if stacks else None
        hit = stacks.part.get(key) if stacks and key else None
        if hit is None:
            pending.append((document, key))
        else:
            rendered.update(hit[0])
            annotations[document.environment.name] = hit[1]
    if pending:
        output = _through_engine(organization, [d for d, _ in pending], with_extensions, engine)
        manifest = json.loads(output[direct.MANIFEST])
        if manifest["version"] != version:  # not the engine that was checked: no guess, the engine does all
            return _through_engine(organization, documents, with_extensions, engine)
        for document, key in pending:
            name = document.environment.name
            files = {p: c for p, c in output.items() if p.startswith(f"{direct.STACKS}/{name}/")}
            rendered.update(files)
            annotations[name] = manifest["stacks"][name].get("annotations", [])
            if stacks and key:
                stacks.part.put(key, (files, annotations[name]))
    names = {d.environment.name for d in documents}
    rendered[direct.MANIFEST] = direct.manifest_json(
        ((d.environment.name, (d.environment.uses,) if d.environment.uses in names else ()) for d in documents),
        version, annotations)
    return rendered


def _plain_stacks(documents: list[WorkspaceDocument], version: str,
                  stacks: _CachedStacks | None) -> dict[str, bytes]:
    """Each plain stack's ``cdk.tf.json`` by environment name: from the cache, or rendered by ``direct``
    (in two processes when there are many, see generators/parallel.py)."""
    keyed = [(stacks.plain_key(document, version) if stacks else None, document) for document in documents]
    contents = cached_map(stacks.part if stacks else None, keyed,
                          functools.partial(direct.stack_json, version=version, marker_key=GENERATED_MARKER_KEY,
                                            marker=GENERATED_MARKER))
    return {document.environment.name: content for document, content in zip(documents, contents)}


_MISMATCH = "\0mismatch"  # the verdict when the engine lays out a plain stack otherwise than ``direct``
_ENGINE_LIBRARIES = ("jsii", "constructs")


def engine_key(cache: SynthCache, engine: Engine) -> str:
    """What the engine's output depends on besides the inputs: the engine and its runtime's versions."""
    libraries = [f"{n}=={library_version(n)}" for n in (engine.name, *_ENGINE_LIBRARIES)]
    return cache.key("engine", engine.name, *libraries)


class DirectCheck:
    """Whether ``direct`` writes plain stacks, and the manifest, byte for byte as ``engine`` does.

    The verdict is the engine's version string (or ``_MISMATCH``). It is known without asking for the
    engine versions ``direct.VERIFIED`` lists, and remembered in the cache per engine version;
    otherwise the engine renders ``direct.reference_document()`` and the two are compared. ``start``
    does that in a thread, so the engine's runtime starts while the configuration is read; ``wait``
    before the process exits, so the runtime is never left mid-call.
    """

    def __init__(self, engine: Engine, cache: SynthCache | None = None,
                 verified: Mapping[tuple[str, str, str], str] | None = None):
        self.engine = engine
        self._cache = cache
        self._key = engine_key(cache, engine) if cache is not None else ""
        verified = direct.VERIFIED if verified is None else verified
        self._verdict: str | None = verified.get((engine.name, library_version(engine.name),
                                                  library_version("jsii")))
        if self._verdict is None and cache is not None:
            self._verdict = cache.part("engine").get(self._key)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> DirectCheck:
        if self._verdict is None and self._thread is None:
            self._thread = threading.Thread(target=self._compare, name="engine-check", daemon=True)
            self._thread.start()
        return self

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def verdict(self) -> str:
        if self._verdict is None:
            if self._thread is None:
                self._compare()
            self.wait()
            if self._error is not None:
                raise self._error
            assert self._verdict is not None
            if self._cache is not None:
                self._cache.part("engine").put(self._key, self._verdict)
        return self._verdict

    def _compare(self) -> None:
        try:
            reference = direct.reference_document()
            output = _through_engine(None, [reference], False, self.engine)
            manifest = json.loads(output[direct.MANIFEST])
            self._verdict = manifest["version"] if _direct_matches(reference, output, manifest) else _MISMATCH
        except BaseException as exc:  # raised again by verdict(), in the thread that asks
            self._error = exc


def _direct_matches(probe: WorkspaceDocument, output: dict[str, bytes], manifest: dict[str, Any]) -> bool:
    """Whether ``direct`` writes the probe's stack, and its manifest entry, exactly as the engine did."""
    version = manifest["version"]
    name = probe.environment.name
    mine = json.loads(direct.manifest_json([(name, ())], version))
    return (direct.stack_json(probe, version, GENERATED_MARKER_KEY, GENERATED_MARKER) == output[_stack_path(probe)]
            and manifest["stacks"].get(name) == mine["stacks"][name])


class _CachedStacks:
    """The stacks part of the synthesis cache, for one engine.

    A plain stack is a function of its workspace document and the engine's version string; a stack
    with extensions also of what its extensions may read: the environment, the organization's settings
    and accounts, and the other environments if an extension says it reads them (extensions/__init__.py).
    """

    def __init__(self, cache: SynthCache, organization: Organization, engine: Engine):
        self.cache = cache
        self.organization = organization
        self.part = cache.part("stacks")
        self.engine_key = engine_key(cache, engine)
        self.scope = repr((organization.settings, organization.accounts))

    def _extension_scope(self, document: WorkspaceDocument) -> str:
        environment = document.environment
        specs = _extensions(self.organization, document)
        scope = [self.scope, repr(environment), repr([spec.name for spec in specs])]
        if any(spec.reads_other_environments for spec in specs):
            scope.append(repr(self.organization.environments))
        return "\0".join(scope)

    def plain_key(self, document: WorkspaceDocument, version: str) -> str | None:
        """The key of a plain stack's rendered bytes; None when it is not cached (see ``_key``)."""
        return self._key(document, "plain", version)

    def extended_key(self, document: WorkspaceDocument) -> str | None:
        """The key of a stack with extensions: its files and manifest annotations."""
        return self._key(document, "extended", self._extension_scope(document))

    def _key(self, document: WorkspaceDocument, *parts: str) -> str | None:
        try:
            text = json.dumps([document.environment.name, document.backend, document.sections],
                              ensure_ascii=False, default=_plain_mapping)
        except (TypeError, ValueError):  # a value JSON cannot say exactly: not cached
            return None
        return self.cache.key(self.engine_key, *parts, text)


def _plain_mapping(value: object) -> dict[Any, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


def _stack_path(document: WorkspaceDocument) -> str:
    return f"{direct.STACKS}/{document.environment.name}/{direct.STACK_FILE}"


def _extensions(organization: Organization, document: WorkspaceDocument) -> list[ExtensionSpec]:
    environment = document.environment
    return list(applicable(organization.extensions_for(environment.account), environment.kind))


def _through_engine(organization: Organization | None, documents: list[WorkspaceDocument], with_extensions: bool,
                    engine: Engine) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="synth-") as scratch:
        _run_engine(organization, documents, Path(scratch), with_extensions, engine)
        root = Path(scratch)
        return {p.relative_to(root).as_posix(): _canonical(p.name, p.read_bytes())
                for p in sorted(root.rglob("*")) if p.is_file()}


def _canonical(name: str, content: bytes) -> bytes:
    """One JSON layout whichever engine wrote the file (cdktf spells empty lists over two lines, cdktn
    as []), so switching engines changes nothing but the engine's version marker."""
    if not name.endswith(".json"):
        return content
    return direct.canonical_json(json.loads(content))


def _run_engine(organization: Organization | None, documents: list[WorkspaceDocument], outdir: Path,
                with_extensions: bool, engine: Engine) -> None:
    """Write the engine's output layout for ``documents`` into ``outdir`` (a fresh, empty folder);
    extensions only ``with_extensions`` and an organization to give them."""
    # deferred: ~0.5 s, and commands that do not synthesize should not pay it
    cdktf = importlib.import_module(engine.name)

    app = cdktf.App(outdir=str(outdir), stack_traces=False, skip_validation=True)
    stacks = {}
    for document in documents:
        environment = document.environment
        stack = cdktf.TerraformStack(app, environment.name)
        stacks[environment.name] = stack
        backend = dict(document.backend)
        use_lockfile = backend.pop("use_lockfile", False)
        cdktf.S3Backend(stack, **backend)
        stack.add_override(f"//.{GENERATED_MARKER_KEY}", GENERATED_MARKER)
        for key, value in document.sections.items():
            stack.add_override(key, value)
        if use_lockfile:  # S3-native locking is newer than cdktf's typed S3Backend; after the `terraform` section
            stack.add_override("terraform.backend.s3.use_lockfile", True)
        if with_extensions and organization is not None:
            for spec in applicable(organization.extensions_for(environment.account), environment.kind):
                if engine.name != "cdktf":
                    raise UsageError(
                        f"extension '{spec.name}' (on account '{environment.account.name}') is written with "
                        f"cdktf's typed AWS bindings, which need the cdktf engine; {engine.title} has no "
                        "prebuilt bindings for the 5.x AWS provider this project targets (cdktn-provider-aws "
                        "starts with the 6.x provider). Synthesize with --no-extensions, or with --engine cdktf")
                try:
                    spec.load()(stack, environment, organization)
                except ImportError as exc:
                    raise ToolError(
                        f"extension '{spec.name}' needs the typed AWS bindings ({exc.name} is not installed); "
                        "install them with: pip install -e '.[typed]'") from exc
    for document in documents:
        # `uses` reads the used environment's state: the manifest's dependencies make `cdktf deploy '*'`
        # deploy it first and `cdktf destroy '*'` destroy it last.
        used = document.environment.uses
        if used in stacks:
            stacks[document.environment.name].add_dependency(stacks[used])
    app.synth()
