"""Starting the lab an inventory names (``exconf_lab``), so ``exconf plan inventories/lab.yaml`` just works.

The lab keeps running after the run (it stops itself when idle), so the next
run, ``exconf lab exec`` and ``exconf lab stats`` find it; its state file
beside the organisation file makes every run see what the previous one did.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from .inventory import Inventory, display_path
from .safepath import inside


class LabStartError(Exception):
    pass


def lab_files(inventory: Inventory) -> list[Path]:
    """Organisation files named by exconf_lab, resolved against the inventory's folder and never outside it
    (inventory.load refuses one outside; this holds for an Inventory built any other way too)."""
    seen: dict[Path, None] = {}
    for host in inventory.hosts:
        name = inventory.value(host, "exconf_lab")
        if name:
            path = inside(inventory.path.parent, str(name))
            if path is None:
                raise LabStartError(f"{host.name}: exconf_lab {name!r} is outside the inventory's folder; the lab's organisation file must be inside it")
            seen[path] = None
    return list(seen)


def start_labs(inventory: Inventory, err: Console) -> None:
    files = lab_files(inventory)
    if not files:
        return
    from exconf.lab.runtime import LabError, default_state_path, ensure_running

    for org in files:
        try:
            lab = ensure_running(org, default_state_path(org))
        except LabError as exc:
            raise LabStartError(f"cannot start the lab {display_path(org)}: {exc}") from None
        if getattr(lab, "started", False):
            err.print(Text(f"Started the lab {display_path(org)} (state in {display_path(default_state_path(org))}).", style="dim"))
