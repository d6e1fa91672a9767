"""Shared by the side-by-side tests: ansible-core, isolated from any user or system configuration."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def ansible_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Ansible isolated from any user or system configuration, writing only under a tmp dir."""
    home = tmp_path_factory.mktemp("ansible-home")
    cfg = home / "ansible.cfg"
    cfg.write_text("[defaults]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(cfg),
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_HASH_BEHAVIOUR="merge",  # exconf's documented key-by-key merge
        ANSIBLE_STDOUT_CALLBACK="minimal",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_HOST_PATTERN_MISMATCH="error",
        HOME=str(home),
    )
    return env


