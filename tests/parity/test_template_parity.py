"""Every filter, test, global and lookup exconf offers, rendered by ansible-core and by exconf, side by side.

The cases (templates.py) put backslashes in string literals wherever a filter takes text: ansible-core
2.19 keeps them as written inside ``{{ }}`` (its AnsibleLexer), so ``'D:\\Logs\\transport'`` holds no TAB
and ``regex_replace(..., 'n\\1')`` a back-reference. A case per offered name is required: adding a filter
without proving it here fails this test.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exconf.inventory import load
from exconf.templating import Renderer, make_environment

from .templates import CASES, ENVIRON, FILES, NOT_PLUGINS, VARS
from .conftest import BIN
from .test_ansible_parity import pytestmark  # noqa: F401 - skipped without ansible-core

HOSTS = ["ex07.contoso.com", "ex02.contoso.com"]


def _inventory(tmp: Path) -> Path:
    lines = ["all:", "  vars:"]
    for key, value in VARS.items():
        lines.append(f"    {key}: {json.dumps(value)}")
    for index, (_, template) in enumerate(CASES):
        lines.append(f"    c_{index:03d}: {json.dumps(template)}")  # a JSON string is a YAML double-quoted scalar
    lines += ["  hosts:"] + [f"    {h}:" for h in HOSTS]
    path = tmp / "inv.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, text in FILES.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text, encoding="utf-8")
    return path


def _ansible(tmp: Path, env: dict[str, str], keys: list[str]) -> dict[str, dict[str, Any]]:
    body = ", ".join(f"{k!r}: ({k} | default('__MISSING__'))" for k in keys)
    done = subprocess.run([str(BIN / "ansible"), "all", "-i", "inv.yml", "-m", "debug", "-a", "msg={{ {" + body + "} }}"],
                          capture_output=True, text=True, env=env | ENVIRON, cwd=tmp, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    decoder = json.JSONDecoder()
    return {m.group(1): decoder.raw_decode(done.stdout, m.end())[0]["msg"] for m in re.finditer(r"^(\S+) \| SUCCESS => ", done.stdout, re.M)}


def _plain(value: Any) -> Any:
    """A value as it comes out of ansible's JSON: tuples as lists, anything else as text."""
    return json.loads(json.dumps(value, default=str))


def test_every_offered_filter_test_and_global_has_a_case() -> None:
    env = make_environment()
    offered = {n for n in list(env.filters) + list(env.tests) if not n.startswith("ansible.")}
    offered |= {n for n in env.globals} | {"lookup", "query", "q"}
    covered = {name for name, _ in CASES}
    for name in offered:  # used in some case: as a filter, a test, or by name in map/select/reject
        used = rf"(\|\s*|\bis\s+(not\s+)?|\('){re.escape(name)}(?=[\s()',|}}]|$)"
        if any(re.search(used, template) for _, template in CASES):
            covered.add(name)
    assert offered - covered == set(), "filters, tests or globals without a side-by-side case"
    assert covered - offered - NOT_PLUGINS == set()
    renderer = Renderer({})
    assert {"lookup", "query", "q"} <= set(renderer.env.globals)


def test_templates_render_as_ansible_core_renders_them(tmp_path: Path, ansible_env: dict[str, str]) -> None:
    path = _inventory(tmp_path)
    keys = [f"c_{i:03d}" for i in range(len(CASES))]
    theirs = _ansible(tmp_path, ansible_env, keys)
    ours = load(path, environ=ENVIRON)
    differ = []
    for host in HOSTS:
        mine = ours.host(host).vars
        for key, (name, template) in zip(keys, CASES, strict=True):
            expected = theirs[host].get(key, "__OMITTED__")
            got = _plain(mine[key]) if key in mine else "__OMITTED__"
            if expected == "__MISSING__":
                expected = "__OMITTED__"
            if got != expected:
                differ.append(f"{host} {name}: {template}\n    ansible-core: {expected!r}\n    exconf:       {got!r}")
    assert not differ, "\n".join(differ)


def test_the_issues_backslash_examples_hold_no_control_character(tmp_path: Path) -> None:
    """The two examples of the issue, as an inventory writes them (YAML double quotes)."""
    path = tmp_path / "inv.yml"
    path.write_text(
        'all:\n  hosts:\n    ex07.contoso.com:\n'
        '      log_path: "{{ log_root | default(\'D:\\\\Logs\\\\transport\\\\send\') }}"\n'
        '      short: "{{ inventory_hostname | regex_replace(\'^ex0*(\\\\d+)\\\\..*$\', \'n\\\\1\') }}"\n',
        encoding="utf-8",
    )
    host = load(path).host("ex07.contoso.com")
    assert host.vars["log_path"] == "D:\\Logs\\transport\\send"
    assert host.vars["short"] == "n7"
    assert not any(ord(c) < 32 for v in host.vars.values() for c in str(v))


@pytest.mark.parametrize(
    "template, theirs, ours",
    [
        ("{{ lookup('pipe', 'id') }}", None, "lookup 'pipe' runs a command on the controller"),  # ansible-core runs it
        ("{{ 100 | random }}", None, "random without seed="),
        ("{{ '1 Mb' | human_to_bytes }}", "human_to_bytes", "human_to_bytes() failed to convert 1 Mb"),
        ("{{ '' is version('1.0') }}", "Input version value cannot be empty", "Input version value cannot be empty"),
        ("{{ lookup('file', 'nope.txt') }}", "Unable to access the file 'nope.txt'", "Unable to access the file 'nope.txt'"),
        ("{{ lookup('vars', 'nope') }}", "No variable named 'nope' was found", "No variable named 'nope' was found"),
    ],
)
def test_what_ansible_core_refuses_exconf_refuses_at_the_variable(tmp_path: Path, ansible_env: dict[str, str], template: str, theirs: str | None, ours: str) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(f"all:\n  hosts:\n    ex07.contoso.com:\n      broken: {json.dumps(template)}\n", encoding="utf-8")
    if theirs is not None:
        done = subprocess.run([str(BIN / "ansible"), "all", "-i", "inv.yml", "-m", "debug", "-a", "msg={{ broken }}"],
                              capture_output=True, text=True, env=ansible_env, cwd=tmp_path, timeout=300, check=False)
        assert done.returncode != 0 and theirs in done.stdout + done.stderr
    from exconf.inventory import InventoryError

    with pytest.raises(InventoryError) as info:
        load(path)
    (issue,) = info.value.issues
    assert str(issue).startswith("inv.yml:4:15: broken: ") or ":4:15: broken: " in str(issue)
    assert ours in str(issue)

