"""The synthesis cache: results of the pure, costly steps, remembered under ``.cache/synth/``.

Each entry is keyed by a hash of everything its value is computed from: the bytes it was computed
from, the generator's own code and the versions of the libraries that do the work (see
``code_fingerprint``), and, for rendered stacks, the engine and its version. A stale entry is therefore
never found, only missed: nothing has to be invalidated, and the folder is safe to delete at any time.

What is kept (each part in sixteen files, one per first hex digit of the keys, so adding one entry
rewrites a sixteenth of the part; each file is read at most once per run and rewritten only when changed):
  * ``environment-files``: an environment file's blocks and problems, by its path and content;
  * ``hcl``: a module file's parsed HCL, by its content;
  * ``stacks``: a rendered stack, by its workspace document (and, for stacks with extensions, what an
    extension may read: the environment, the organization's settings and accounts);
  * ``engine``: whether the engine lays out a plain stack exactly as ``engine.direct`` does.

Trust: every file is signed (HMAC-SHA256) with a key kept outside the project, in the user's own cache
folder; a file whose signature does not match is ignored. So a ``.cache/`` that came with a checkout,
or from a CI cache another branch wrote, can never feed this run's output (``synth --check`` in CI then
simply runs cold). A file is written whole or not at all, and anything unreadable counts as empty.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import os
import pickle
import sys
from functools import cache
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from generators.parallel import dumps, map_split
from generators.synth.output import atomic_write, remove_stale_temporaries

CACHE_ENV = "AWS_ORG_WORKSPACES_CACHE"  # the variable that also places the Terraform and module caches
KEY_ENV = "AWS_ORG_WORKSPACES_CACHE_KEY"  # the signing key's file; default under $XDG_CACHE_HOME
PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_ROOT = PACKAGE_DIR.parent
FORMAT = b"aws-org-workspaces synth cache 2\n"
_SIGNATURE_BYTES = 32
HclParser = Callable[[str], dict[str, Any]]  # hcl_loads, or the cache's remembering one
Item = TypeVar("Item")
Result = TypeVar("Result")
# Libraries whose version can change what a cached value holds.
_LIBRARIES = ("python-hcl2", "lark")


def default_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return (Path(configured).expanduser() if configured else PROJECT_ROOT / ".cache") / "synth"


def user_cache_dir() -> Path:
    """This user's cache folder for the tool, outside any project: what is true of the machine (the
    signing key, the provider mirror's checksums) rather than of one checkout."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aws-org-workspaces"


def default_key_file() -> Path:
    configured = os.environ.get(KEY_ENV)
    return Path(configured).expanduser() if configured else user_cache_dir() / "synth-cache.key"


@cache
def code_fingerprint() -> str:
    """This generator's ``fingerprint_of_code``, computed once per run."""
    return fingerprint_of_code(PACKAGE_DIR)


def fingerprint_of_code(package_dir: Path) -> str:
    """A hash of the generator's code (every ``.py`` and template of the package) and of the versions of
    Python and the libraries doing the parsing: any change to them changes every key."""
    digest = hashlib.sha256(FORMAT)
    digest.update(sys.version.encode())
    for library in _LIBRARIES:
        digest.update(f"{library}=={library_version(library)}\n".encode())
    for path in sorted(p for p in package_dir.rglob("*") if p.suffix in (".py", ".j2") and p.is_file()):
        digest.update(f"{path.relative_to(package_dir).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@cache
def library_version(name: str) -> str:
    """The installed version of a distribution (asked several times per run, read once)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class _Shard:
    """Part of a part: the entries whose keys start with one hex digit, in one signed file, loaded on
    first use, saved when it has new entries."""

    def __init__(self, path: Path, signing_key: bytes):
        self.path = path
        self._signing_key = signing_key
        self._entries: dict[str, Any] | None = None
        self._used: set[str] = set()
        self._added = False

    @property
    def entries(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = _read_signed(self.path, self._signing_key)
        return self._entries

    def get(self, key: str) -> Any | None:
        value = self.entries.get(key)
        if value is not None:
            self._used.add(key)
        return value

    def put(self, key: str, value: Any) -> None:
        self.entries[key] = value
        self._used.add(key)
        self._added = True

    def save(self) -> None:
        """Keep this run's entries and, so two setups used in turn do not evict each other, as many
        older ones; write only when something was added or dropped."""
        if self._entries is None:
            return
        kept = {k: self._entries[k] for k in self._used}
        for key, value in self._entries.items():
            if len(kept) >= 2 * max(len(self._used), 1):
                break
            kept.setdefault(key, value)
        if not self._added and len(kept) == len(self._entries):
            return
        _write_signed(self.path, kept, self._signing_key)
        self._entries, self._added = kept, False


class _Part:
    """One cached part: key -> value, in one shard per first hex digit of the key, so that a run which
    adds one entry (one environment file edited) rewrites a sixteenth of it, not all of it."""

    def __init__(self, root: Path, name: str, signing_key: bytes):
        self._shards = {digit: _Shard(root / f"{name}.{digit}.pickle", signing_key) for digit in "0123456789abcdef"}
        self.hits = 0
        self.misses = 0

    @property
    def entries(self) -> dict[str, Any]:
        """Every entry, from every shard (a copy: change entries through ``put``)."""
        return {k: v for shard in self._shards.values() for k, v in shard.entries.items()}

    def get(self, key: str) -> Any | None:
        value = self._shards[key[0]].get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: Any) -> None:
        self._shards[key[0]].put(key, value)

    def save(self) -> None:
        for shard in self._shards.values():
            shard.save()


class SynthCache:
    """The cache of one run. ``open`` it, use it through the stages, ``save`` it at the end."""

    def __init__(self, root: Path, signing_key: bytes):
        self.root = root
        self._signing_key = signing_key
        self._parts: dict[str, _Part] = {}

    @classmethod
    def open(cls, root: Path | None = None, key_file: Path | None = None) -> "SynthCache | None":
        """The cache under ``root``, or None when no signing key can be read or made (then the run is
        simply cold)."""
        key = signing_key(key_file or default_key_file())
        return cls(root or default_root(), key) if key else None

    def part(self, name: str) -> _Part:
        if name not in self._parts:
            self._parts[name] = _Part(self.root, name, self._signing_key)
        return self._parts[name]

    def key(self, *parts: bytes | str) -> str:
        """The key of a value computed from ``parts`` by this code (each part length-prefixed, so no two
        different sequences hash alike)."""
        digest = hashlib.sha256(code_fingerprint().encode())
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()

    def parse_hcl(self, text: str) -> dict[str, Any]:
        """``hcl2.loads(text)``, remembered by content. The result is shared: callers must not change it."""
        part = self.part("hcl")
        key = self.key("hcl", text)
        document = part.get(key)
        if document is None:
            document = hcl_loads(text)
            part.put(key, document)
        return document

    def stats(self) -> dict[str, tuple[int, int]]:
        """Hits and misses per part (what the tests check the cache by)."""
        return {name: (part.hits, part.misses) for name, part in self._parts.items()}

    def save(self) -> None:
        """Write what this run added; a cache that cannot be written only costs time, never the run."""
        remove_stale_temporaries(self.root)
        for part in self._parts.values():
            try:
                part.save()
            except Exception:  # noqa: BLE001 - a full disk or a value that cannot be pickled: left uncached
                pass


def cached_map(part: _Part | None, keyed_items: Sequence[tuple[str | None, Item]],
               compute: Callable[[Item], Result]) -> list[Result]:
    """``[compute(item) for _, item in keyed_items]``: what ``part`` holds under an item's key is taken
    from it, the rest is computed (in two processes when there are many, see generators/parallel.py)
    and stored. An item without a key, or every item without a part, is computed and not stored. The
    values are shared with the cache: callers must not change them."""
    results: list[Any] = []
    misses: list[int] = []
    for key, item in keyed_items:
        value = part.get(key) if part is not None and key is not None else None
        if value is None:
            misses.append(len(results))
        results.append(value)
    for index, value in zip(misses, map_split(compute, [keyed_items[i][1] for i in misses])):
        key = keyed_items[index][0]
        if part is not None and key is not None:
            part.put(key, value)
        results[index] = value
    return results


def hcl_loads(text: str) -> dict[str, Any]:
    """``hcl2.loads(text)``. python-hcl2 and lark are imported on first use (65 ms): a run whose files
    are all in the cache parses nothing."""
    import hcl2

    document: dict[str, Any] = hcl2.loads(text)
    return document


def parser(cache: SynthCache | None) -> HclParser:
    """``hcl_loads``, through ``cache`` when there is one."""
    return cache.parse_hcl if cache is not None else hcl_loads


def signing_key(path: Path) -> bytes | None:
    """The key in ``path``, made (random, mode 0600) when there is none; None when it cannot be read or
    made, or is too short to trust."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = None
    except OSError:
        return None
    if key is not None:
        return key if len(key) >= 32 else None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run made it first
        return signing_key(path)
    except OSError:
        return None
    key = os.urandom(32)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(key)
    return key


def _write_signed(path: Path, entries: dict[str, Any], signing_key: bytes) -> None:
    write_signed(path, dumps(entries), signing_key)


def _read_signed(path: Path, signing_key: bytes) -> dict[str, Any]:
    """The entries of ``path``; empty when it is missing, unreadable, of another format or not signed with
    this key. Only a file this key signed is unpickled."""
    payload = read_signed(path, signing_key)
    if payload is None:
        return {}
    try:
        entries = pickle.loads(payload)
    except Exception:  # noqa: BLE001 - signed by us but unreadable (a library changed): start empty
        return {}
    return entries if isinstance(entries, dict) else {}


def write_signed(path: Path, payload: bytes, signing_key: bytes, header: bytes = FORMAT) -> None:
    """Write ``header``, an HMAC-SHA256 of header and payload, and ``payload``, atomically."""
    signature = hmac.new(signing_key, header + payload, hashlib.sha256).digest()
    atomic_write(path, header + signature + payload)


def read_signed(path: Path, signing_key: bytes, header: bytes = FORMAT) -> bytes | None:
    """The payload ``write_signed`` wrote with this key and header; None for anything else (missing,
    unreadable, another format, another key, changed)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(header) or len(data) < len(header) + _SIGNATURE_BYTES:
        return None
    signature = data[len(header):len(header) + _SIGNATURE_BYTES]
    payload = data[len(header) + _SIGNATURE_BYTES:]
    expected = hmac.new(signing_key, header + payload, hashlib.sha256).digest()
    return payload if hmac.compare_digest(signature, expected) else None
