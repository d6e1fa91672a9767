import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAPPING = {"engine": "exconf", "modules": "exconf.modules", "lab": "exconf.lab"}


def test_every_source_package_is_installed_under_exconf():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, name in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found == listed
    assert not any(p.split(".")[0] in ("engine", "modules", "lab") for p in listed)
