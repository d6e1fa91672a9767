"""Saved plans, what an administrator relies on beyond the round trip (engine/planfile.py): every field a new
plan file records, the bounds a hostile file meets (size, depth, shape), the messages that say what is wrong and
how to go on, and the provenance and file checks `apply PLANFILE` makes before any host is read."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from exconf import __version__, planfile
from exconf.inventory import load as load_inventory
from exconf.model import HostPlan, HostStatus, Operation, Plan, ServerFacts
from exconf.remote import Step, program_hash
from exconf.controllerfiles import PfxBytes
from exconf.model import FileRef
from exconf.review import review

KEY = b"k" * 32
FACTS = ServerFacts("EX01", "ex01.contoso.lab", "Mailbox", "15.2.1544.4", "Amsterdam")


def inventory_at(folder: Path, level: str = "Verbose") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "group_vars").mkdir(exist_ok=True)
    (folder / "inv.yaml").write_text("all:\n  hosts:\n    ex01.contoso.lab:\n      ansible_host: 127.0.0.1\n", encoding="utf-8")
    (folder / "group_vars" / "all.yaml").write_text(
        f'exchange:\n  receive_connectors:\n    "Default {{server}}":\n      protocol_logging_level: {level}\n', encoding="utf-8")
    return folder / "inv.yaml"


def empty_plan() -> Plan:
    return Plan({"ex01.contoso.lab": HostPlan("ex01.contoso.lab", HostStatus.OK, FACTS, ())})


def write_doc(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def saved_doc(**saved) -> dict:
    """A plan file's document as exconf writes it, with ``saved`` members replaced."""
    base = {"planfile_version": 2, "exconf_version": "0.1.0", "program_hash": "AB" * 32, "inventory": "/srv/inv.yaml",
            "sources": ["/srv/inv.yaml", "/srv/more.yaml"], "inventory_digest": "d" * 64, "limit": "mailbox",
            "created": "2026-12-01T15:20:00+00:00", "org_host": "ex01", "carrier_only": ["ex09"],
            "review": review(empty_plan())}
    base.update(saved)
    return {"format_version": "1", "saved": {k: v for k, v in base.items() if v is not ...}}


# --- what a new plan file records ---------------------------------------------------------------------------------


def test_a_new_plan_file_records_where_it_came_from_and_what_was_reviewed(tmp_path):
    first, second = inventory_at(tmp_path / "a"), tmp_path / "a" / "more.yaml"
    second.write_text("all:\n  hosts:\n    ex02.contoso.lab:\n      ansible_host: 127.0.0.2\n", encoding="utf-8")
    inv = load_inventory([first, second])
    plan = empty_plan()
    saved = planfile.new(plan, inv, "mailbox", "ex01.contoso.lab", ("level=None",), ("ex09.contoso.lab",))
    assert saved.review == review(plan) and saved.public == {}
    assert (saved.exconf_version, saved.program_hash) == (__version__, program_hash())
    assert saved.inventory == first.resolve() and saved.sources == (first.resolve(), second.resolve())
    assert saved.inventory_digest == planfile.inventory_digest(inv, ("level=None",)) != planfile.inventory_digest(inv)
    assert (saved.limit, saved.org_host, saved.carrier_only, saved.authentic) == ("mailbox", "ex01.contoso.lab", ("ex09.contoso.lab",), None)
    # When it was made, to the second, in UTC (show prints it; nothing compares it).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", saved.created)
    assert dt.datetime.fromisoformat(saved.created).utcoffset() == dt.timedelta(0)


def test_every_saved_member_survives_the_file(tmp_path):
    first = inventory_at(tmp_path / "a")
    (tmp_path / "a" / "more.yaml").write_text("all:\n  hosts:\n    ex02.contoso.lab:\n      ansible_host: 127.0.0.2\n", encoding="utf-8")
    inv = load_inventory([first, tmp_path / "a" / "more.yaml"])
    saved = planfile.new(empty_plan(), inv, None, "ex01.contoso.lab", (), ("ex09.contoso.lab",))
    saved = replace(saved, review={**saved.review, "warnings": ["Connecteur reçu: 東京"]})
    path = tmp_path / "x.plan"
    planfile.save(path, saved, {"format_version": "1"}, KEY)
    back = planfile.load(path, KEY, strict=True)
    assert back == replace(saved, public={"format_version": "1"})  # authentic None: the MAC verified
    assert len(back.sources) == 2
    # Indented UTF-8 JSON: a reviewer can read and diff the file, names as they were written.
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and '\n  "saved": {\n    "planfile_version": 2,' in text and "Connecteur reçu: 東京" in text


def test_saving_never_writes_through_a_link_or_keeps_a_stale_temporary_file(tmp_path):
    saved = planfile.new(empty_plan(), load_inventory(inventory_at(tmp_path / "a")), None, None)
    path = tmp_path / "x.plan"
    tmp = tmp_path / f".x.plan.{os.getpid()}.tmp"
    tmp.write_text("x" * 100_000)  # left by a crashed exconf of the same pid
    planfile.save(path, saved, {}, KEY)
    assert planfile.load(path, KEY, strict=True).authentic is None and not tmp.exists()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    tmp.symlink_to(victim)
    with pytest.raises(OSError):
        planfile.save(path, saved, {}, KEY)
    assert victim.read_text() == "keep me"


def test_without_a_key_a_file_is_read_but_its_mac_is_not_checked(tmp_path):
    path = write_doc(tmp_path / "x.plan", saved_doc())
    assert planfile.load(path).authentic == "not checked"
    assert "carries no MAC" in planfile.load(path, KEY).authentic


def test_older_plan_files_without_sources_or_carriers_read_as_the_inventory_alone(tmp_path):
    back = planfile.load(write_doc(tmp_path / "x.plan", saved_doc(sources=..., carrier_only=...)))
    assert (back.sources, back.carrier_only) == ((Path("/srv/inv.yaml"),), ())
    both = planfile.load(write_doc(tmp_path / "y.plan", saved_doc()))
    assert (both.sources, both.carrier_only) == ((Path("/srv/inv.yaml"), Path("/srv/more.yaml")), ("ex09",))
    assert (both.inventory_digest, both.created, both.limit, both.org_host) == ("d" * 64, "2026-12-01T15:20:00+00:00", "mailbox", "ex01")


# --- the digest of the inventory ------------------------------------------------------------------------------------


def test_the_inventory_digest_follows_content_and_minus_e_not_where_the_folder_is(tmp_path):
    here = load_inventory(inventory_at(tmp_path / "here"))
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    there = load_inventory(tmp_path / "there" / "inv.yaml")
    assert planfile.inventory_files(here) == [(tmp_path / "here" / p).resolve() for p in ("group_vars/all.yaml", "inv.yaml")]
    assert planfile.inventory_digest(here) == planfile.inventory_digest(there)  # relative paths: a copied folder plans the same
    assert planfile.inventory_digest(here, ("a=1",)) == planfile.inventory_digest(there, ("a=1",)) != planfile.inventory_digest(here, ("a=2",))
    assert planfile.inventory_digest(here, ("a=1", "b=2")) != planfile.inventory_digest(here, ("a=1",))
    (tmp_path / "there" / "group_vars" / "all.yaml").write_text("# edited\n", encoding="utf-8")
    assert planfile.inventory_digest(here) != planfile.inventory_digest(there)
    (tmp_path / "there" / "group_vars" / "all.yaml").unlink()  # a file gone since: no traceback, another digest
    gone = planfile.inventory_digest(there)
    assert gone not in (planfile.inventory_digest(here), planfile.inventory_digest(load_inventory(inventory_at(tmp_path / "x"))))


def test_every_file_a_value_came_from_counts_for_the_digest_the_organisations_too(tmp_path):
    inv_file = inventory_at(tmp_path / "a")
    (tmp_path / "a" / "group_vars" / "org.yaml").write_text("", encoding="utf-8")
    (tmp_path / "a" / "inv.yaml").write_text(
        "all:\n  hosts:\n    ex01.contoso.lab:\n      ansible_host: 127.0.0.1\n  children:\n    org:\n      hosts:\n        ex01.contoso.lab:\n",
        encoding="utf-8")
    (tmp_path / "a" / "group_vars" / "all.yaml").write_text(
        "exchange_organization:\n  transport_config:\n    tls_send_domain_secure_list: [a.example]\n", encoding="utf-8")
    (tmp_path / "a" / "host_vars").mkdir()
    (tmp_path / "a" / "host_vars" / "ex01.contoso.lab.yaml").write_text(
        'exchange:\n  receive_connectors:\n    "Default {server}":\n      protocol_logging_level: None\n', encoding="utf-8")
    inv = load_inventory(inv_file)
    files = planfile.inventory_files(inv)
    assert (tmp_path / "a" / "group_vars" / "all.yaml").resolve() in files  # only the organisation's values come from it
    assert (tmp_path / "a" / "host_vars" / "ex01.contoso.lab.yaml").resolve() in files
    assert files == sorted(files) and all(f.name != "?" for f in files) and len(files) == len(set(files))
    before = planfile.inventory_digest(inv)
    (tmp_path / "a" / "group_vars" / "all.yaml").write_text(
        "exchange_organization:\n  transport_config:\n    tls_send_domain_secure_list: [b.example]\n", encoding="utf-8")
    assert planfile.inventory_digest(inv) != before


# --- bounds ---------------------------------------------------------------------------------------------------------


def nested(depth: int, sibling_first: bool = False, as_dict: bool = False):
    """A JSON value ``depth`` levels deep (a scalar is one level), beside a shallow sibling."""
    value = 1
    for _ in range(depth - 2):
        value = [value]
    if as_dict:
        return {"deep": value, "x": [1]} if not sibling_first else {"x": [1], "deep": value}
    return [value, {"x": 1}] if not sibling_first else [{"x": 1}, value]


def test_a_plan_nesting_up_to_the_limit_is_read_one_level_more_is_not(tmp_path):
    fits = saved_doc(extra=nested(planfile.MAX_DEPTH - 2))  # document, saved, extra: the value starts at level 3
    assert planfile.load(write_doc(tmp_path / "ok.plan", fits)).inventory == Path("/srv/inv.yaml")
    too_deep = saved_doc(extra=nested(planfile.MAX_DEPTH - 1))
    with pytest.raises(planfile.PlanFileError, match=r"nests deeper than a plan file does \(more than 32 levels\)$"):
        planfile.load(write_doc(tmp_path / "deep.plan", too_deep))


@pytest.mark.parametrize("as_dict", [False, True])
@pytest.mark.parametrize("sibling_first", [False, True])
def test_depth_is_measured_on_every_branch(tmp_path, as_dict, sibling_first):
    doc = saved_doc(extra=nested(planfile.MAX_DEPTH, sibling_first, as_dict))
    with pytest.raises(planfile.PlanFileError, match="nests deeper"):
        planfile.load(write_doc(tmp_path / "deep.plan", doc))


def test_a_file_of_exactly_the_size_limit_is_read(tmp_path, monkeypatch):
    doc = json.dumps(saved_doc())
    monkeypatch.setattr(planfile, "MAX_BYTES", len(doc.encode()))
    assert planfile.load(write_doc(tmp_path / "x.plan", json.loads(doc))).limit == "mailbox"


class GrowingFile:
    """A regular file that says it is small (fstat) and delivers its bytes a few at a time: a file that grows
    while it is read, or a file system that lies. The read must stop one byte past the limit."""

    def __init__(self, monkeypatch, path: Path, chunk: int = 7):
        self.asked = 0
        self.chunk = chunk
        real_fstat, real_read = os.fstat, os.read
        target = os.stat(path).st_ino

        def fstat(fd):
            st = real_fstat(fd)
            if st.st_ino != target:
                return st
            fields = list(st)
            fields[6] = 10  # st_size
            return os.stat_result(fields)

        def read(fd, n):
            data = real_read(fd, min(n, self.chunk))
            self.asked += len(data)
            return data

        monkeypatch.setattr(os, "fstat", fstat)
        monkeypatch.setattr(os, "read", read)


def test_a_file_that_grows_while_read_is_read_at_most_one_byte_past_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.plan"
    path.write_text(json.dumps(saved_doc()) + " " * 5000, encoding="utf-8")
    monkeypatch.setattr(planfile, "MAX_BYTES", 1000)
    grown = GrowingFile(monkeypatch, path, chunk=10)  # 100 reads of 10 bytes leave one to read
    with pytest.raises(planfile.PlanFileError) as exc:
        planfile.load(path)
    assert str(exc.value) == f"{path} is larger than 1,000 bytes; a plan file is not"
    assert grown.asked == 1001


def test_a_plan_read_in_small_pieces_is_read_whole(tmp_path, monkeypatch):
    path = write_doc(tmp_path / "x.plan", saved_doc())
    monkeypatch.setattr(planfile, "MAX_BYTES", path.stat().st_size)
    grown = GrowingFile(monkeypatch, path, chunk=3)
    assert planfile.load(path).carrier_only == ("ex09",)
    assert grown.asked == path.stat().st_size


def test_a_plan_file_of_another_user_is_refused_for_apply(tmp_path, monkeypatch):
    path = write_doc(tmp_path / "x.plan", saved_doc())
    path.chmod(0o600)
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    with pytest.raises(planfile.PlanFileError) as exc:
        planfile.load(path, KEY, strict=True)
    assert str(exc.value) == f"{path} belongs to another user (uid {os.getuid()}); exconf applies only plan files of its own user"
    assert planfile.load(path, KEY).limit == "mailbox"  # show reads it


@pytest.mark.parametrize("mode, refused", [(0o600, False), (0o640, False), (0o604, False), (0o620, True), (0o602, True), (0o610, False), (0o601, False)])
def test_only_a_file_others_can_write_is_refused_for_apply(tmp_path, mode, refused):
    path = write_doc(tmp_path / "x.plan", saved_doc())
    path.chmod(mode)
    if refused:
        with pytest.raises(planfile.PlanFileError, match=f"can be written by others \\(mode 0{mode:o}\\)"):
            planfile.load(path, strict=True)
    else:
        assert planfile.load(path, strict=True).limit == "mailbox"


def test_a_file_that_cannot_be_opened_says_why(tmp_path):
    with pytest.raises(planfile.PlanFileError) as exc:
        planfile.load(tmp_path / "missing.plan")
    assert str(exc.value) == f"cannot read {tmp_path / 'missing.plan'}: No such file or directory"


# --- what a file that is not a plan gets --------------------------------------------------------------------------


def refused(path: Path) -> str:
    with pytest.raises(planfile.PlanFileError) as exc:
        planfile.load(path)
    return str(exc.value)


def test_what_is_not_a_plan_file_is_named_with_what_to_do(tmp_path):
    p = tmp_path / "x.plan"
    p.write_bytes(b'{"saved": "\xff"}')
    assert refused(p) == f"{p} is not a plan file (not UTF-8 text)"
    assert refused(write_doc(p, [1, 2])) == f"{p} is not a saved plan: write one with exconf plan INVENTORY --out {p}"
    assert refused(write_doc(p, {"saved": []})) == f"{p} is not a saved plan: write one with exconf plan INVENTORY --out {p}"
    assert refused(write_doc(p, saved_doc(planfile_version=1))) == (
        f"{p} is a plan file of format 1; this exconf reads format 2: make a new one with exconf plan --out")


@pytest.mark.parametrize("edit, why", [
    ({"limit": 5}, "TypeError: limit or org_host is not text"),
    ({"org_host": ["ex01"]}, "TypeError: limit or org_host is not text"),
    ({"created": 5}, "TypeError: created is not text"),
    ({"inventory": ...}, "KeyError: 'inventory'"),
    ({"review": {"hosts": {}}}, "TypeError: the review is not the shape exconf writes"),
    ({"review": []}, "TypeError: the review is not the shape exconf writes"),
    ({"review": {**review(empty_plan()), "changes": ["x"]}}, "TypeError: a change of the review is not the shape exconf writes"),
    ({"review": {**review(empty_plan()), "changes": [{"properties": [], "operations": {}}]}}, "TypeError: a change of the review is not the shape exconf writes"),
    ({"review": {**review(empty_plan()), "changes": [{"properties": {}, "operations": []}]}}, "TypeError: a change of the review is not the shape exconf writes"),
    ({"carrier_only": 5}, "TypeError: 'int' object is not iterable"),
])
def test_a_damaged_plan_file_is_refused_naming_what_is_wrong(tmp_path, edit, why):
    p = write_doc(tmp_path / "x.plan", saved_doc(**edit))
    assert refused(p) == f"{p} is damaged ({why}); make a new one with exconf plan --out"


@pytest.mark.parametrize("limit, org_host", [(None, "ex01"), ("mailbox", None), (None, None)])
def test_no_limit_or_no_organisation_carrier_is_a_plan_too(tmp_path, limit, org_host):
    back = planfile.load(write_doc(tmp_path / "x.plan", saved_doc(limit=limit, org_host=org_host)))
    assert (back.limit, back.org_host) == (limit, org_host)


# --- before any host is read: the files a plan sends, and where it came from ----------------------------------------


def plan_sending(*files: tuple[str, Path, bytes]) -> planfile.SavedPlan:
    """A saved plan whose reviewed commands send these controller-side files (host, path, the bytes at plan time)."""
    ops = []
    for i, (host, path, data) in enumerate(files):
        ref = FileRef(str(path), hashlib.sha256(data).hexdigest())
        step = Step(f"s{i}", "Import-ExchangeCertificate", {"FileData": PfxBytes(data, ref)})
        ops.append(Operation(f"op{i}", host, "c", (step,)))
    from exconf.model import Change

    change = Change("c", "ex01", "exchange_certificate", "CN=x", "A" * 40, "create", (), "import")
    plan = Plan({"ex01": HostPlan("ex01", HostStatus.OK, FACTS, (change,))}, tuple(ops), schedule=(tuple(o.id for o in ops),))
    return planfile.SavedPlan(review(plan), {}, __version__, program_hash(), Path("/srv/inv.yaml"), "d" * 64, None, "", None)


def test_every_file_a_plan_sends_is_checked_before_any_host(tmp_path):
    a, b = tmp_path / "a.pfx", tmp_path / "b.pfx"
    a.write_bytes(b"pfx-a")
    b.write_bytes(b"pfx-b")
    saved = plan_sending(("ex01", a, b"pfx-a"), ("ex02", b, b"pfx-b"))
    assert planfile.file_problems(saved) == [] and planfile.provenance_problems(saved, None) == []
    a.write_bytes(b"other")
    b.unlink()
    assert planfile.file_problems(saved) == [
        f"ex01: the file {a} changed since the plan was made (SHA-256 {hashlib.sha256(b'pfx-a').hexdigest()[:16]}… then, "
        f"{hashlib.sha256(b'other').hexdigest()[:16]}… now)",
        f"ex02: cannot read the file {b}: No such file or directory",
    ]


def test_a_plan_of_another_exconf_program_or_inventory_is_refused_saying_which(tmp_path):
    inv = load_inventory(inventory_at(tmp_path / "a"))
    (tmp_path / "gone.pfx").write_bytes(b"x")
    saved = plan_sending(("ex01", tmp_path / "gone.pfx", b"x"))
    fresh = planfile.SavedPlan(saved.review, {}, __version__, program_hash(), inv.path, planfile.inventory_digest(inv, ("a=1",)), None, "", None)
    assert planfile.provenance_problems(fresh, inv, ("a=1",)) == []
    assert planfile.provenance_problems(fresh, inv) == [f"the inventory {inv.path} changed since the plan was made (or -e differs from the plan's)"]
    (tmp_path / "gone.pfx").unlink()
    old = planfile.SavedPlan(saved.review, {}, "0.0.9", "0123456789ABCDEF" * 4, inv.path, "e" * 64, None, "", None)
    assert planfile.provenance_problems(old, inv, ("a=1",)) == [
        f"ex01: cannot read the file {tmp_path / 'gone.pfx'}: No such file or directory",
        f"the plan was made by exconf 0.0.9; this is exconf {__version__}",
        f"the plan was made for remote program 0123456789AB…; this exconf sends {program_hash()[:12]}…",
        f"the inventory {inv.path} changed since the plan was made (or -e differs from the plan's)",
    ]


@pytest.mark.parametrize("number, why", [
    ("NaN", "NaN is not a JSON number"),
    ("-Infinity", "-Infinity is not a JSON number"),
    ("1e999", "1e999 is too large a number"),
    ("9" * 5000, "Exceeds the limit (4300 digits) for integer string conversion"),
    ("1" + "0" * 400 + ".5", "1" + "0" * 19 + " is too large a number"),
])
def test_a_number_json_does_not_have_is_refused_never_a_traceback(tmp_path, number, why):
    """Python reads NaN, Infinity, 1e999 (inf) and asks for a limit on huge integers; the MAC's canonical form has
    no such numbers, so a file carrying one (with this user's key id) once ended show and apply in a traceback."""
    from exconf import plankey

    p = tmp_path / "x.plan"
    mac = json.dumps({"algorithm": "HMAC-SHA256", "key_id": plankey.key_id(KEY), "value": "0" * 64})
    p.write_text(f'{{"format_version": "1", "x": {number}, "saved": {json.dumps(saved_doc()["saved"])}, "mac": {mac}}}', encoding="utf-8")
    with pytest.raises(planfile.PlanFileError) as exc:
        planfile.load(p, KEY, strict=True)
    assert str(exc.value).startswith(f"{p} is not a JSON plan file ({why}")


def test_the_digest_covers_every_hosts_own_vars_file(tmp_path):
    inv_file = inventory_at(tmp_path / "a")
    (tmp_path / "a" / "inv.yaml").write_text(
        "all:\n  hosts:\n    ex01.contoso.lab:\n      ansible_host: 127.0.0.1\n    ex02.contoso.lab:\n      ansible_host: 127.0.0.2\n", encoding="utf-8")
    (tmp_path / "a" / "host_vars").mkdir()
    for host, level in (("ex01", "None"), ("ex02", "Verbose")):
        (tmp_path / "a" / "host_vars" / f"{host}.contoso.lab.yaml").write_text(
            f'exchange:\n  transport_service:\n    intra_org_connector_protocol_logging_level: {level}\n', encoding="utf-8")
    files = planfile.inventory_files(load_inventory(inv_file))
    assert [f.name for f in files] == ["all.yaml", "ex01.contoso.lab.yaml", "ex02.contoso.lab.yaml", "inv.yaml"]


def test_a_plan_made_with_minus_e_in_one_folder_applies_from_another(tmp_path, monkeypatch):
    """-e values are placed at "-e #1", which is no file: read as a path it made the digest depend on the folder exconf
    ran in, so apply PLANFILE from another folder refused the plan as "the inventory changed"."""
    inv_file = inventory_at(tmp_path / "a")
    digests = set()
    for cwd in (tmp_path, tmp_path / "a" / "group_vars"):
        monkeypatch.chdir(cwd)
        inv = load_inventory(inv_file, extra=("x=1",))
        assert planfile.inventory_files(inv) == [(tmp_path / "a" / p).resolve() for p in ("group_vars/all.yaml", "inv.yaml")]
        digests.add(planfile.inventory_digest(inv, ("x=1",)))
    assert len(digests) == 1
