"""Running labs: every server's listeners in one process, a control socket, a registry.

* ``registry``  - the runtime directory, the lock and registry entry of each running lab,
  its private folder for secrets;
* ``inprocess`` - ``LabServer``: a lab's listeners in this process (tests start it directly);
* ``control``   - the control socket a running lab answers (ping, stats, exec, clock, stop);
* ``serve``     - ``exconf lab serve``: the foreground process;
* ``client``    - what the CLI and the engine call: ``ensure_running``, ``find_running``,
  ``stats``, ``exec_on``, ``advance_clock``, ``stop``;
* ``holder``    - which lab or process holds an address a lab cannot listen on.

The names below are the public interface; import them from ``exconf.lab.runtime``.
"""

from .client import (
    LAB_ENVIRONMENT, lab_environment,
    DEFAULT_IDLE_TIMEOUT, advance_clock, ensure_running, events, exec_on, find_running, labs_of, select_lab, stats,
    stop,
)
from .control import ControlServer
from .inprocess import LabServer, LabService
from .registry import (
    RUNTIME_ENV, ExecError, LabError, LabLock, RunningLab, ServerInfo, default_state_path, lab_id, log_path_for,
    runtime_dir,
)
from .serve import serve

__all__ = [
    "DEFAULT_IDLE_TIMEOUT", "LAB_ENVIRONMENT", "RUNTIME_ENV", "lab_environment", "ControlServer", "ExecError", "LabError", "LabLock", "LabServer",
    "LabService", "RunningLab", "ServerInfo", "advance_clock", "default_state_path", "ensure_running", "events", "exec_on",
    "find_running", "lab_id", "labs_of", "log_path_for", "runtime_dir", "select_lab", "serve", "stats", "stop",
]
