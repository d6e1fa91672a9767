"""Settings every test shares: a plan key of the test session's own, never the user's."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _plan_key(tmp_path_factory: pytest.TempPathFactory):
    """exconf signs saved plans with the user's plan key (engine/plankey.py); tests use a key of their own."""
    folder = tmp_path_factory.mktemp("plan-key")
    folder.chmod(0o700)
    previous = os.environ.get("EXCONF_PLAN_KEY")
    os.environ["EXCONF_PLAN_KEY"] = str(folder / "plan.key")
    yield folder / "plan.key"
    if previous is None:
        os.environ.pop("EXCONF_PLAN_KEY", None)
    else:
        os.environ["EXCONF_PLAN_KEY"] = previous
