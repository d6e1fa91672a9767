"""Issue 14: exconf_lab names a file inside the inventory's folder only; a number out of range says its range.

exconf starts a lab server from the organisation file exconf_lab names, so an inventory must not point
it anywhere on the machine: ``..``, an absolute path outside, or a link leading out are refused when the
inventory loads, at the line that sets it. A whole number outside its range says the range, not
"expected a whole number".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from exconf.inventory import InventoryError, load
from exconf.labauto import LabStartError, lab_files


def problems(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        load(path)
    return [str(i) for i in exc.value.issues]


def lab_inventory(write, lab: str) -> Path:
    return write({"inv/inv.yaml": f"all:\n  vars: {{ansible_user: u, ansible_password: p}}\n  hosts:\n    ex01: {{exconf_lab: '{lab}'}}\n"})


@pytest.mark.parametrize("lab", ["../org.yaml", "sub/../../org.yaml", "/etc/hostname", "escape/org.yaml"])
def test_exconf_lab_outside_the_inventorys_folder_is_refused(write, tmp_path, lab):
    (tmp_path / "org.yaml").write_text("organization: {}\n")
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "escape").symlink_to(tmp_path)  # a link inside that leads out
    path = lab_inventory(write, lab)
    (problem,) = problems(path)
    assert "inv.yaml:4:" in problem  # the line that sets it
    assert f"exconf_lab: {lab!r} is outside the inventory's folder ({(tmp_path / 'inv').resolve()})" in problem


@pytest.mark.parametrize("lab", ["lab-org.yaml", "labs/../lab-org.yaml", "ABSOLUTE"])
def test_exconf_lab_inside_the_inventorys_folder_is_taken(write, tmp_path, lab):
    inside = tmp_path / "inv" / "lab-org.yaml"
    lab = str(inside) if lab == "ABSOLUTE" else lab
    path = lab_inventory(write, lab)
    assert lab_files(load(path)) == [inside.resolve()]


def test_lab_files_refuses_an_outside_path_whatever_built_the_inventory(write, tmp_path):
    path = lab_inventory(write, "lab-org.yaml")
    inventory = load(path)
    host = inventory.hosts[0]
    # An Inventory built some other way (its variables a plain mapping), naming a file outside the folder.
    outside = dataclasses.replace(host, vars={**dict(host.vars), "exconf_lab": "../../../etc/passwd"})
    inventory = dataclasses.replace(inventory, hosts=(outside, *inventory.hosts[1:]))
    with pytest.raises(LabStartError, match="is outside the inventory's folder"):
        lab_files(inventory)


def test_a_whole_number_out_of_range_says_its_range(write):
    path = write({"inv.yaml": (
        "all:\n  vars: {ansible_user: u, ansible_password: p, ansible_winrm_read_timeout_sec: 0}\n  hosts:\n"
        "    ex01:\n      ansible_port: 70000\n      exchange:\n        certificates:\n"
        "          - {match: {subject: CN=x}, warn_within_days: 99999, renew: {within_days: 0}}\n"
        "        transport_service: {send_protocol_log_max_directory_size: 1000000000000000}\n")})
    found = "\n".join(problems(path))
    assert "ansible_port: 70000 is out of range: must be between 1 and 65,535" in found
    assert "warn_within_days: 99999 is out of range: must be between 0 and 3,650" in found
    assert "renew.within_days: 0 is out of range: must be between 1 and 3,650" in found
    assert "ansible_winrm_read_timeout_sec: 0 is out of range: must be more than 0" in found
    assert ("send_protocol_log_max_directory_size: 1000000000000000 is out of range: "
            "must be between 1 B and 909.5 TB (999,999,999,999,999 bytes)") in found
    assert "expected a whole number" not in found
