"""The plan key, what an administrator reads and relies on (engine/plankey.py): where it lives, what a key file
that cannot be trusted gets, two exconf making the key at once, and the MAC: over the document's content (not its
formatting), in any script, and the messages that say why a file does not authenticate."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from exconf import plankey

KEY, OTHER = b"a" * 32, b"b" * 32


def refused(path: Path) -> str:
    with pytest.raises(plankey.PlanKeyError) as exc:
        plankey.load(path)
    return str(exc.value)


def test_without_xdg_config_home_the_key_is_in_the_users_config_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert plankey.key_path({}) == tmp_path / ".config" / "exconf" / "plan.key"
    assert plankey.key_path({"XDG_CONFIG_HOME": "", "EXCONF_PLAN_KEY": ""}) == tmp_path / ".config" / "exconf" / "plan.key"
    assert plankey.key_path({"EXCONF_PLAN_KEY": "~/team.key"}) == tmp_path / "team.key"


def test_a_key_file_that_cannot_be_trusted_is_refused_saying_why(tmp_path, monkeypatch):
    real = tmp_path / "plan.key"
    plankey.load_or_create(real)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    assert refused(link) == f"the plan key {link} cannot be opened: Too many levels of symbolic links (it must be a regular file, not a link)"
    folder = tmp_path / "folder.key"
    folder.mkdir(mode=0o700)
    assert refused(folder) == f"the plan key {folder} is not a regular file"
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    assert refused(real) == f"the plan key {real} belongs to another user (uid {os.getuid()}); exconf uses only a key of its own user"


@pytest.mark.parametrize("size", [31, 33, 64])
def test_only_a_key_of_exactly_32_bytes_is_a_key(tmp_path, size):
    path = tmp_path / "plan.key"
    path.write_bytes(b"x" * size)
    path.chmod(0o600)
    assert refused(path) == f"the plan key {path} is not a key exconf wrote (32 bytes expected)"


def test_a_key_that_cannot_be_created_says_where_and_why():
    with pytest.raises(plankey.PlanKeyError) as exc:
        plankey.load_or_create(Path("/sys/exconf-plan.key"))
    assert str(exc.value) == "cannot create the plan key /sys/exconf-plan.key: Permission denied"


def test_two_exconf_making_the_key_at_once_both_use_the_one_written_first(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "plan.key"
    first = b"f" * 32

    def other_exconf_wins(n: int) -> bytes:
        """Between finding no key and creating it, another exconf creates it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(first)
        path.chmod(0o600)
        return b"s" * n

    monkeypatch.setattr(plankey.secrets, "token_bytes", other_exconf_wins)
    assert plankey.load_or_create(path) == first
    assert path.read_bytes() == first  # never overwritten: plans signed with it still verify


def test_the_key_id_names_a_key_in_16_hex_digits_and_says_nothing_of_it():
    assert len(plankey.key_id(KEY)) == 16 and int(plankey.key_id(KEY), 16) >= 0
    assert plankey.key_id(KEY) != plankey.key_id(OTHER) and KEY.hex()[:16] not in plankey.key_id(KEY)


def signed(doc: dict, key: bytes = KEY) -> dict:
    return {**doc, "mac": plankey.sign(key, doc)}


def test_the_mac_covers_content_not_formatting_or_member_order():
    doc = signed({"format_version": "1", "saved": {"b": [1, 2], "a": {"y": "z", "x": None}}})
    reordered = json.loads(json.dumps({"mac": doc["mac"], "saved": {"a": {"x": None, "y": "z"}, "b": [1, 2]}, "format_version": "1"}, indent=4))
    assert plankey.problem(KEY, reordered) is None
    assert plankey.problem(KEY, {**reordered, "saved": {"a": {"x": None, "y": "z"}, "b": [2, 1]}}) is not None  # list order is content


def test_a_plan_naming_objects_in_any_script_signs_and_verifies():
    doc = signed({"changes": [{"name": "Connecteur reçu 東京 EX01", "after": "Ünïcode ✓"}]})
    assert doc["mac"]["algorithm"] == "HMAC-SHA256" and plankey.problem(KEY, doc) is None
    assert plankey.problem(KEY, {**doc, "changes": [{"name": "Connecteur reçu 東京 EX02", "after": "Ünïcode ✓"}]}) == (
        "it was changed after exconf wrote it (its MAC does not match)")


@pytest.mark.parametrize("mac", [
    None,
    "abc",
    {"algorithm": "HMAC-MD5", "key_id": plankey.key_id(KEY), "value": "0" * 64},
    {"algorithm": "HMAC-SHA256", "key_id": plankey.key_id(KEY), "value": 5},
    {"key_id": plankey.key_id(KEY), "value": "0" * 64},
])
def test_a_file_without_a_mac_exconf_can_check_says_so(mac):
    doc = {"saved": {}} if mac is None else {"saved": {}, "mac": mac}
    assert plankey.problem(KEY, doc) == "it carries no MAC exconf can check (was it written by exconf plan --out?)"


def test_a_file_made_with_another_key_names_both_keys():
    doc = signed({"saved": {}}, OTHER)
    assert plankey.problem(KEY, doc) == (f"it was made with another plan key (key {plankey.key_id(OTHER)}; this machine's is {plankey.key_id(KEY)}): "
                                         "apply it as the user who made it, or with that key")
    long_id = {**doc, "mac": {**doc["mac"], "key_id": "f" * 40}}
    assert plankey.problem(KEY, long_id).startswith(f"it was made with another plan key (key {'f' * 16}; this machine's")
