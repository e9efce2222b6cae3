"""generators/synth/provider_lock.py's checksum cache: remembered across runs, signed, and never
trusted when someone else wrote it (a planted checksum would go into every lock file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from generators.synth.cache import read_signed, write_signed
from generators.synth.provider_lock import HashCache, package_hash

pytestmark = pytest.mark.fast

KEY = b"k" * 32


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A stand-in provider package: what is hashed is the files, whatever they hold."""
    folder = tmp_path / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64"
    folder.mkdir(parents=True)
    (folder / "terraform-provider-aws_v5.100.0_x5").write_bytes(b"\x7fELF not really a provider")
    (folder / "LICENSE.txt").write_text("a licence\n")
    return folder


def _change_keeping_the_stamp(package: Path) -> None:
    """Change a file's bytes but not its size or time: what the cache keys on stays the same."""
    binary = package / "terraform-provider-aws_v5.100.0_x5"
    status = binary.stat()
    binary.write_bytes(binary.read_bytes().replace(b"not", b"NOT"))
    os.utime(binary, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_a_checksum_is_remembered_signed_and_read_back(package, tmp_path):
    path = tmp_path / "user-cache" / "provider-hashes.json"
    first = HashCache(path, KEY).hash(package)
    assert first == package_hash(package) and first.startswith("h1:")
    assert path.read_bytes().startswith(HashCache.HEADER)
    _change_keeping_the_stamp(package)
    # read from the file (the stamp still matches), not computed again
    assert HashCache(path, KEY).hash(package) == first != package_hash(package)


@pytest.mark.parametrize("written_by", ["another key", "plain JSON"])
def test_a_file_this_key_did_not_sign_is_ignored(package, tmp_path, written_by):
    path = tmp_path / "provider-hashes.json"
    HashCache(path, KEY).hash(package)
    entries = json.loads(read_signed(path, KEY, HashCache.HEADER))
    entries[str(package.resolve())]["hash"] = "h1:planted"  # the right stamp, a wrong checksum
    planted = json.dumps(entries).encode()
    if written_by == "another key":
        write_signed(path, planted, b"x" * 32, HashCache.HEADER)
    else:
        path.write_bytes(planted)
    assert HashCache(path, KEY).hash(package) == package_hash(package)


def test_without_a_key_nothing_is_written(package, tmp_path):
    path = tmp_path / "provider-hashes.json"
    assert HashCache(path, None).hash(package) == package_hash(package)
    assert not path.exists()
