"""Keys at rest: Argon2id + ChaCha20-Poly1305, mode 0600, refused when others can read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from crypto import keyfile
from crypto.errors import KeyfileError, UnsafeKeyfile, WrongPassphrase
from crypto.identity import NodeKeys
from node.errors import ConfigError
from node.home import Home

SECRET = bytes(range(65))


def test_round_trip_under_a_passphrase() -> None:
    data = keyfile.lock(SECRET, b"correct horse")
    assert keyfile.is_encrypted(data)
    assert SECRET not in data
    assert SECRET.hex().encode() not in data
    assert keyfile.unlock(data, b"correct horse") == SECRET


def test_wrong_passphrase() -> None:
    data = keyfile.lock(SECRET, b"correct horse")
    with pytest.raises(WrongPassphrase):
        keyfile.unlock(data, b"wrong horse")
    with pytest.raises(WrongPassphrase):
        keyfile.unlock(data, None)


def test_weakened_parameters_do_not_open() -> None:
    doc = json.loads(keyfile.lock(SECRET, b"pw"))
    doc["iterations"] = 1
    with pytest.raises(WrongPassphrase):
        keyfile.unlock(json.dumps(doc).encode(), b"pw")
    doc["memory_kib"] = 2**40
    with pytest.raises(KeyfileError, match="memory_kib"):
        keyfile.unlock(json.dumps(doc).encode(), b"pw")


@pytest.mark.parametrize(
    "data", [b"", b"not json", b"[]", b'{"commune_keyfile": 99}', b'{"commune_keyfile": 1}']
)
def test_damaged_files_are_refused_clearly(data: bytes) -> None:
    with pytest.raises(KeyfileError) as caught:
        keyfile.unlock(data, b"pw")
    assert caught.value.message


def test_insecure_mode_stores_in_the_clear() -> None:
    data = keyfile.lock(SECRET, None)
    assert not keyfile.is_encrypted(data)
    assert keyfile.unlock(data, None) == SECRET


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(KeyfileError):
        keyfile.lock(SECRET, b"")


def test_home_writes_0600_and_refuses_a_readable_key(tmp_path: Path) -> None:
    home = Home(tmp_path / "node")
    identity, keys = home.init("Los Angeles", b"pw")
    assert (home.key_path.stat().st_mode & 0o777) == 0o600
    assert (home.path.stat().st_mode & 0o777) == 0o700
    assert home.unlock(b"pw").to_bytes() == keys.to_bytes()
    assert identity.node_id == keys.node_id
    os.chmod(home.key_path, 0o644)
    with pytest.raises(UnsafeKeyfile, match="chmod 600"):
        home.unlock(b"pw")


def test_init_never_overwrites_a_node(tmp_path: Path) -> None:
    home = Home(tmp_path / "node")
    home.init("Los Angeles", None)
    before = home.key_path.read_bytes()
    with pytest.raises(ConfigError, match="already holds a node"):
        home.init("Other", None)
    assert home.key_path.read_bytes() == before


def test_node_keys_serialise() -> None:
    keys = NodeKeys.generate()
    again = NodeKeys.from_bytes(keys.to_bytes())
    assert again.node_id == keys.node_id
    assert again.sealing_public == keys.sealing_public
    assert "secret" in repr(keys)
    assert keys.to_bytes().hex() not in repr(keys)
