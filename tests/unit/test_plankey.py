"""The plan key (docs/plan-files.md, "How the file is authenticated"): made private on first use, refused as ssh
refuses a private key when it is not."""

import os
import stat

import pytest

from exconf import plankey


def test_the_key_is_made_once_private_in_a_private_folder(tmp_path):
    path = tmp_path / "cfg" / "exconf" / "plan.key"
    key = plankey.load_or_create(path)
    assert len(key) == 32 and plankey.load_or_create(path) == key == plankey.load(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_where_the_key_lives():
    assert plankey.key_path({"EXCONF_PLAN_KEY": "/k/team.key"}) == plankey.Path("/k/team.key")
    assert plankey.key_path({"XDG_CONFIG_HOME": "/cfg"}) == plankey.Path("/cfg/exconf/plan.key")


def test_apply_never_creates_a_key(tmp_path):
    with pytest.raises(plankey.PlanKeyError, match="there is no plan key at"):
        plankey.load(tmp_path / "none.key")
    assert not (tmp_path / "none.key").exists()


def test_a_key_others_can_read_a_link_or_not_a_key_is_refused(tmp_path):
    path = tmp_path / "plan.key"
    plankey.load_or_create(path)
    path.chmod(0o640)
    with pytest.raises(plankey.PlanKeyError, match=r"can be read or written by others \(mode 0640\)"):
        plankey.load(path)
    path.chmod(0o600)
    link = tmp_path / "link.key"
    link.symlink_to(path)
    with pytest.raises(plankey.PlanKeyError, match="not a link"):
        plankey.load(link)
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    short.chmod(0o600)
    with pytest.raises(plankey.PlanKeyError, match="not a key exconf wrote"):
        plankey.load(short)


def test_the_mac_covers_every_member_but_itself_and_names_another_key():
    key, other = b"a" * 32, b"b" * 32
    doc = {"format_version": "1", "saved": {"review": {"changes": []}}}
    doc["mac"] = plankey.sign(key, doc)
    assert plankey.problem(key, doc) is None
    assert "another plan key" in plankey.problem(other, doc)
    doc["saved"]["review"]["changes"].append({})
    assert "changed after exconf wrote it" in plankey.problem(key, doc)
    assert "carries no MAC" in plankey.problem(key, {"saved": {}})
