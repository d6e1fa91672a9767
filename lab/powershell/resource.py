"""The ``Microsoft.Exchange`` PSRP resource of a Mailbox server's ``/PowerShell`` endpoint.

PowerShell remoting over WS-Management ([MS-PSRP] 3.1.4 / [MS-WSMV]): the runspace pool is a
shell of resource ``http://schemas.microsoft.com/powershell/Microsoft.Exchange`` whose Create
carries the pool's opening messages in ``creationXml``; a pipeline is a Command whose Arguments
carry its CreatePipeline fragments; Send carries more fragments (``stdin``) and host responses
(``pr``); Receive returns the server's fragments on ``stdout`` (for the pool without a CommandId,
for a pipeline with its CommandId); Signal ``terminate`` ends a pipeline; Delete closes the pool.
The PSRP messages themselves are psrpcore's ``ServerRunspacePool`` and ``ServerPipeline``.

An answer holds at most what the client's ``MaxEnvelopeSize`` allows; the rest waits for the next
Receive ([MS-WSMV] 2.2.4.41). A pipeline runs in a worker thread as soon as its CreatePipeline
message is complete; a Receive for it waits for it up to the request's OperationTimeout.
"""

from __future__ import annotations

import base64
import binascii
import collections
import logging
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psrpcore
import psrpcore.types as ps

from exconf.lab.exchange import admin_audit_log
from exconf.lab.winrm import soap
from exconf.lab.winrm.auth import find_account, split_principal
from exconf.lab.winrm.soap import WSManRequest, q
from exconf.lab.winrm.stats import ServerStats

from . import psrpcore_paths
from .session import Session

if TYPE_CHECKING:
    from exconf.lab.exchange.store import LabStore
    from exconf.lab.exchange.spec import ServerSpec

log = logging.getLogger(__name__)

EXCHANGE_URI = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
PS_NS = "http://schemas.microsoft.com/powershell"
_RSP = soap.NS["rsp"]
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = f"{_RSP}/Command"
ACTION_SEND = f"{_RSP}/Send"
ACTION_RECEIVE = f"{_RSP}/Receive"
ACTION_SIGNAL = f"{_RSP}/Signal"
STATE_DONE = f"{_RSP}/CommandState/Done"
STATE_RUNNING = f"{_RSP}/CommandState/Running"
SIGNAL_TERMINATE = f"{_RSP}/signal/terminate"

MAX_OPERATION_TIMEOUT = 60.0
DEFAULT_IDLE_TIMEOUT = 7200.0
DEFAULT_ENVELOPE = 512_000  # WinRM's MaxEnvelopeSizekb default (500 KB)
FRAGMENT = 32 * 1024
ENVELOPE_OVERHEAD = 4096
# Exchange's default throttling policy: PowerShellMaxConcurrency 18 per user (New-ThrottlingPolicy,
# office-docs-powershell: "The default value is 18"); the error text is Exchange's throttling message.
MAX_POOLS_PER_USER = 18
# The error code New-PSSession reports when Exchange's PowerShell plug-in refuses a session:
# -2144108477 (0x80338043), Microsoft KB 2898571.
PLUGIN_FAULT_CODE = 2150858819


@dataclass
class _Pipeline:
    id: str
    core: Any  # psrpcore's ServerPipeline; None once the pipeline has finished and queued all it sends
    done: threading.Event = field(default_factory=threading.Event)
    started: bool = False


@dataclass
class _Pool:
    id: str
    owner: str
    principal: str
    core: Any
    session: Session
    idle_timeout: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: threading.Condition = field(init=False)
    queues: dict[str | None, collections.deque[bytes]] = field(default_factory=dict)
    pipelines: dict[str, _Pipeline] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    closed: bool = False

    def __post_init__(self) -> None:
        self.ready = threading.Condition(self.lock)


class PowerShellResource:
    """All runspace pools of one Mailbox server's ``/PowerShell``."""

    def __init__(self, spec: "ServerSpec", store: "LabStore", stats: ServerStats):
        self.spec = spec
        self.store = store
        self.stats = stats
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()
        psrpcore_paths.install()  # psrpcore's hottest paths without their waste (psrpcore_paths.py)

    # -- dispatch ---------------------------------------------------------------------------------

    def handle(self, req: WSManRequest, principal: str, client_ip: str = "") -> tuple[str, list[ET.Element]]:
        if req.resource_uri.rstrip("/").lower() != EXCHANGE_URI.lower():
            raise soap.resource_not_found_fault(req.resource_uri)
        if req.action == ACTION_CREATE:
            return self._create(req, principal, client_ip)
        pool = self._pool(req, principal)
        pool.last_used = time.monotonic()
        if req.action == ACTION_DELETE:
            self._delete(pool)
            return ACTION_DELETE + "Response", []
        if req.action == ACTION_COMMAND:
            return self._command(req, pool)
        if req.action == ACTION_SEND:
            return self._send(req, pool)
        if req.action == ACTION_RECEIVE:
            return self._receive(req, pool)
        if req.action == ACTION_SIGNAL:
            return self._signal(req, pool)
        raise soap.action_not_supported_fault(req.action)

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            self._abort(pool)

    # -- Create -------------------------------------------------------------------------------------

    def _create(self, req: WSManRequest, principal: str, client_ip: str) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "Shell"):
            raise soap.invalid_body_fault("the Create request has no rsp:Shell")
        creation = body.find(f"{{{PS_NS}}}creationXml")
        if creation is None or not (creation.text or "").strip():
            raise soap.invalid_body_fault("the runspace pool's creationXml is missing")
        try:
            opening = base64.b64decode(creation.text or "", validate=True)
        except (binascii.Error, ValueError):
            raise soap.invalid_body_fault("the creationXml is not base64") from None
        groups = self._role_groups(principal)
        if not groups:
            raise _access_denied(self.spec, principal, self.store)
        idle = DEFAULT_IDLE_TIMEOUT
        idle_text = (body.findtext(q("rsp", "IdleTimeOut")) or "").strip()
        if idle_text:
            idle = soap.parse_duration(idle_text) or DEFAULT_IDLE_TIMEOUT
        pool_id = (body.get("ShellId") or str(uuid.uuid4())).upper()
        try:
            runspace = uuid.UUID(pool_id)
        except ValueError:
            raise soap.invalid_body_fault(f"ShellId {pool_id!r} is not a GUID") from None
        entry = self.store.entry(self.spec)
        session = Session(self.store, self.spec, principal, groups, runspace, self.spec.fqdn.lower(),
                          entry.certificate_serialization)
        pool = _Pool(pool_id, principal.lower(), principal, psrpcore.ServerRunspacePool(), session, idle)
        with self._lock:
            self._expire_idle_locked()
            if pool_id in self._pools:
                raise soap.invalid_body_fault(f"a runspace pool {pool_id} already exists")
            if sum(1 for p in self._pools.values() if p.owner == pool.owner) >= MAX_POOLS_PER_USER:
                raise _throttled()
            self._pools[pool_id] = pool
        with pool.lock:
            try:
                self._feed(pool, opening, None)
            except psrpcore.PSRPCoreError as exc:
                with self._lock:
                    self._pools.pop(pool_id, None)
                raise soap.invalid_body_fault(f"the runspace pool's opening messages are not PSRP: {exc}") from None
        self.stats.add(runspace_pools=1)
        created = ET.Element(q("x", "ResourceCreated"))
        ET.SubElement(created, q("a", "Address")).text = req.to or f"http://{self.spec.fqdn}/PowerShell"
        ref = ET.SubElement(created, q("a", "ReferenceParameters"))
        ET.SubElement(ref, q("w", "ResourceURI")).text = EXCHANGE_URI
        selectors = ET.SubElement(ref, q("w", "SelectorSet"))
        ET.SubElement(selectors, q("w", "Selector"), {"Name": "ShellId"}).text = pool_id
        info = ET.Element(q("rsp", "Shell"))
        ET.SubElement(info, q("rsp", "ShellId")).text = pool_id
        ET.SubElement(info, q("rsp", "ResourceUri")).text = EXCHANGE_URI
        ET.SubElement(info, q("rsp", "Owner")).text = principal
        ET.SubElement(info, q("rsp", "ClientIP")).text = client_ip
        ET.SubElement(info, q("rsp", "IdleTimeOut")).text = f"PT{idle:.3f}S"
        ET.SubElement(info, q("rsp", "InputStreams")).text = "stdin pr"
        ET.SubElement(info, q("rsp", "OutputStreams")).text = "stdout"
        return ACTION_CREATE + "Response", [created, info]

    def _role_groups(self, principal: str) -> tuple[str, ...]:
        domain, user = split_principal(principal)
        account = find_account(self.spec, domain, user)
        return tuple(account.role_groups) if account is not None else ()

    # -- Command / Send ----------------------------------------------------------------------------------

    def _command(self, req: WSManRequest, pool: _Pool) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "CommandLine"):
            raise soap.invalid_body_fault("the Command request has no rsp:CommandLine")
        command_id = (body.get("CommandId") or str(uuid.uuid4())).upper()
        try:
            pipeline_id = uuid.UUID(command_id)
        except ValueError:
            raise soap.invalid_body_fault(f"CommandId {command_id!r} is not a GUID") from None
        data = b""
        for arg in body.findall(q("rsp", "Arguments")):
            try:
                data += base64.b64decode(arg.text or "", validate=True)
            except (binascii.Error, ValueError):
                raise soap.invalid_body_fault("the Command's Arguments are not base64") from None
        with pool.lock:
            if command_id in pool.pipelines:
                raise soap.invalid_body_fault(f"a pipeline {command_id} already exists")
            pipeline = _Pipeline(command_id, psrpcore.ServerPipeline(pool.core, pipeline_id))
            pool.pipelines[command_id] = pipeline
            self._feed_or_fault(pool, data, pipeline_id)
        resp = ET.Element(q("rsp", "CommandResponse"))
        ET.SubElement(resp, q("rsp", "CommandId")).text = command_id
        return ACTION_COMMAND + "Response", [resp]

    def _send(self, req: WSManRequest, pool: _Pool) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "Send"):
            raise soap.invalid_body_fault("the Send request has no rsp:Send")
        for stream in body.findall(q("rsp", "Stream")):
            if stream.get("Name", "stdin") not in ("stdin", "pr"):
                raise soap.invalid_body_fault(f"unknown input stream {stream.get('Name')!r}")
            command_id = (stream.get("CommandId") or "").upper() or None
            try:
                data = base64.b64decode(stream.text or "", validate=True)
            except (binascii.Error, ValueError):
                raise soap.invalid_body_fault("the input stream is not base64") from None
            with pool.lock:
                if command_id is not None and command_id not in pool.pipelines:
                    raise soap.command_not_found_fault(pool.id, command_id)
                self._feed_or_fault(pool, data, uuid.UUID(command_id) if command_id else None)
        return ACTION_SEND + "Response", [ET.Element(q("rsp", "SendResponse"))]

    def _feed_or_fault(self, pool: _Pool, data: bytes, pipeline_id: uuid.UUID | None) -> None:
        try:
            self._feed(pool, data, pipeline_id)
        except psrpcore.PSRPCoreError as exc:
            raise soap.invalid_body_fault(f"not PSRP data: {exc}") from None
        except ET.ParseError as exc:  # a PSRP message that is not XML (an invalid character reference …)
            raise soap.invalid_body_fault(f"a PSRP message is not well-formed XML: {exc}") from None

    def _feed(self, pool: _Pool, data: bytes, pipeline_id: uuid.UUID | None) -> None:
        """Under pool.lock: give the data to psrpcore and act on the events it completes."""
        if not data:
            return
        pool.core.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pipeline_id))
        while True:
            event = pool.core.next_event()
            if event is None:
                break
            if isinstance(event, psrpcore.CreatePipelineEvent):
                self._start(pool, str(event.pipeline_id).upper())
        self._drain(pool)

    def _drain(self, pool: _Pool) -> None:
        while True:
            payload = pool.core.data_to_send(FRAGMENT)
            if payload is None:
                break
            key = str(payload.pipeline_id).upper() if payload.pipeline_id else None
            pool.queues.setdefault(key, collections.deque()).append(bytes(payload.data))
        pool.ready.notify_all()

    # -- running a pipeline ---------------------------------------------------------------------------------

    def _start(self, pool: _Pool, command_id: str) -> None:
        pipeline = pool.pipelines.get(command_id)
        if pipeline is None or pipeline.started or pipeline.core is None:
            return
        # psrpcore read the CreatePipeline into its pipeline's metadata as it processed the event;
        # ``event.pipeline`` would build the same PowerShell from the message's objects a second time
        # (a tenth of reading a CREATE_PIPELINE; psrpcore 0.3 _server.py _process_CreatePipeline).
        metadata = pipeline.core.metadata
        pipeline.started = True
        self.stats.add(pipelines=1)
        threading.Thread(target=self._run, args=(pool, pipeline, metadata),
                         name=f"psrp-{self.spec.name}-{command_id[:8]}", daemon=True).start()

    def _run(self, pool: _Pool, pipeline: _Pipeline, metadata: Any) -> None:
        try:
            outcome = pool.session.run(metadata)
        except Exception as exc:  # a bug in the simulation: fail the pipeline as a crashed host would
            log.exception("lab pipeline failed on %s", self.spec.name)
            from .records import error_record

            outcome = None
            failure = error_record(message=f"exconf lab: the simulated session failed: {exc!r}",
                                   error_id="LabInternalError", category="NotSpecified", exception="InvalidOperationException")
        with pool.lock:
            if pool.closed:
                pipeline.done.set()
                return
            core = pipeline.core
            core.start()
            if outcome is not None:
                for event in outcome.events:
                    kind = {"output": ps.PSRPMessageType.PipelineOutput, "error": ps.PSRPMessageType.ErrorRecord,
                            "warning": ps.PSRPMessageType.WarningRecord}[event.kind]
                    core.prepare_message(event.value, message_type=kind)
                failure = outcome.failure
            if failure is None:
                core.complete()
            else:
                state = ps.PSObject()
                ps.add_note_property(state, "PipelineState", ps.PSInt(int(ps.PSInvocationState.Failed)))
                ps.add_note_property(state, "ExceptionAsErrorRecord", failure)
                core.prepare_message(state, message_type=ps.PSRPMessageType.PipelineState)
                core.state = ps.PSInvocationState.Failed
            self._drain(pool)
            # Everything the pipeline will ever send is queued: psrpcore's pipeline, which holds the client's
            # CreatePipeline read into objects, is let go now rather than when the pool closes. A long run
            # keeps a thousand pools open between a host's read and its apply; holding their finished
            # pipelines tripled the lab's heap and the cost of each full garbage collection (issue 20). The
            # wire is unchanged: a Receive or Signal for the pipeline answers from ``pool.pipelines``.
            core.close()
            pipeline.core = None
            pipeline.done.set()

    # -- Receive -------------------------------------------------------------------------------------------------

    def _receive(self, req: WSManRequest, pool: _Pool) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "Receive"):
            raise soap.invalid_body_fault("the Receive request has no rsp:Receive")
        desired = body.find(q("rsp", "DesiredStream"))
        command_id = ((desired.get("CommandId") if desired is not None else "") or "").upper() or None
        timeout = req.operation_timeout if req.operation_timeout is not None else MAX_OPERATION_TIMEOUT
        deadline = time.monotonic() + max(0.0, min(timeout, MAX_OPERATION_TIMEOUT))
        limit = max(FRAGMENT, (req.max_envelope or DEFAULT_ENVELOPE) - ENVELOPE_OVERHEAD)
        with pool.lock:
            pipeline = pool.pipelines.get(command_id) if command_id else None
            if command_id is not None and pipeline is None:
                raise soap.command_not_found_fault(pool.id, command_id)
            while True:
                if pool.closed:
                    raise soap.shell_not_found_fault(pool.id)
                queue = pool.queues.get(command_id)
                finished = pipeline is not None and pipeline.done.is_set()
                if queue or finished:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stats.add(operation_timeouts=1)
                    raise soap.operation_timeout_fault()
                pool.ready.wait(left)
            resp = ET.Element(q("rsp", "ReceiveResponse"))
            used = 0
            while queue:
                chunk = base64.b64encode(queue[0]).decode("ascii")
                if used and used + len(chunk) > limit:
                    break
                queue.popleft()
                used += len(chunk)
                attrs = {"Name": "stdout"}
                if command_id:
                    attrs["CommandId"] = command_id
                ET.SubElement(resp, q("rsp", "Stream"), attrs).text = chunk
            if pipeline is not None:
                done = pipeline.done.is_set() and not queue
                ET.SubElement(resp, q("rsp", "CommandState"), {"CommandId": command_id or "",
                                                               "State": STATE_DONE if done else STATE_RUNNING})
        return ACTION_RECEIVE + "Response", [resp]

    # -- Signal / Delete --------------------------------------------------------------------------------------

    def _signal(self, req: WSManRequest, pool: _Pool) -> tuple[str, list[ET.Element]]:
        body = req.body
        if body is None or body.tag != q("rsp", "Signal"):
            raise soap.invalid_body_fault("the Signal request has no rsp:Signal")
        command_id = (body.get("CommandId") or "").upper()
        with pool.lock:
            pipeline = pool.pipelines.get(command_id)
            if pipeline is None:
                raise soap.command_not_found_fault(pool.id, command_id)
            # terminate (and PowerShell's crtl_c): the pipeline is gone; a worker still running finishes unseen
            pool.pipelines.pop(command_id, None)
            pool.queues.pop(command_id, None)
            pool.core.pipeline_table.pop(uuid.UUID(command_id), None)
        return ACTION_SIGNAL + "Response", [ET.Element(q("rsp", "SignalResponse"))]

    def _delete(self, pool: _Pool) -> None:
        with self._lock:
            self._pools.pop(pool.id, None)
        self._abort(pool)

    def _abort(self, pool: _Pool) -> None:
        with pool.lock:
            pool.closed = True
            for pipeline in pool.pipelines.values():
                pipeline.done.set()
            pool.ready.notify_all()

    def _pool(self, req: WSManRequest, principal: str) -> _Pool:
        shell_id = req.selectors.get("ShellId")
        if not shell_id:
            raise soap.missing_shell_selector_fault()
        with self._lock:
            pool = self._pools.get(shell_id.upper())
        if pool is None or pool.owner != principal.lower():
            raise soap.shell_not_found_fault(shell_id)
        return pool

    def _expire_idle_locked(self) -> None:
        now = time.monotonic()
        for pool_id, pool in list(self._pools.items()):
            if now - pool.last_used > pool.idle_timeout:
                del self._pools[pool_id]
                self._abort(pool)


def _stamp() -> str:
    now = datetime.now(timezone.utc)
    return f"{now.month}/{now.day}/{now.year} {now.strftime('%I').lstrip('0') or '12'}:{now:%M:%S %p}"


def _access_denied(spec: "ServerSpec", principal: str, store: "LabStore") -> soap.WSManFault:
    """An account without any management role cannot open the session: Exchange's
    CmdletAccessDeniedException "The user "…" isn't assigned to any management roles." (KB 2898571),
    after the [Server=…,RequestId=…,TimeStamp=…] prefix Exchange puts on a refused session (same KB)."""
    who = admin_audit_log.caller_name(store.org, principal)
    message = (f"[Server={spec.computer_name},RequestId={uuid.uuid4()},TimeStamp={_stamp()}] "
               f"[FailureCategory=AuthZ-CmdletAccessDeniedException] The user \"{who}\" isn't assigned to any "
               "management roles.")
    return soap.WSManFault("Receiver", ("w", "InternalError"), message, PLUGIN_FAULT_CODE, message)


def _throttled() -> soap.WSManFault:
    message = ("Fail to create a runspace because you have exceeded the maximum number of connections allowed : "
               f"{MAX_POOLS_PER_USER} for the policy party : MaxConcurrency. Please close existing runspace and try again.")
    return soap.WSManFault("Receiver", ("w", "InternalError"), message, PLUGIN_FAULT_CODE, message)


__all__ = ["EXCHANGE_URI", "PowerShellResource"]
