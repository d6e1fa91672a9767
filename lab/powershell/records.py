"""PowerShell's error and warning records as a remote session writes them ([MS-PSRP] 2.2.3.15, 2.2.3.16).

Built as plain property bags so that every category travels, Exchange's 1003 included (its
ExchangeErrorCategory.Context, which has no ErrorCategory name, errors.py): the properties are
those PowerShell serialises for an ErrorRecord (``Exception``, ``TargetObject``,
``FullyQualifiedErrorId``, ``ErrorCategory_*``, ``SerializeExtendedInfo`` and, with the client's
RemoteStreamOptions AddInvocationInfo, ``InvocationInfo_*``), as psrpcore writes them too.
"""

from __future__ import annotations

from typing import Any

import psrpcore.types as ps

from .objects import set_to_string

# ErrorCategory [MS-PSRP] 2.2.3.9
CATEGORIES = {c.name: int(c.value) for c in ps.ErrorCategory}
EXCEPTION_TYPES = {
    "ParameterBindingException": "System.Management.Automation.ParameterBindingException",
    "ParameterBindingValidationException": "System.Management.Automation.ParameterBindingValidationException",
    "ParameterBindingArgumentTransformationException": "System.Management.Automation.ParameterBindingArgumentTransformationException",
    "CommandNotFoundException": "System.Management.Automation.CommandNotFoundException",
    "ParseException": "System.Management.Automation.ParseException",
    "PSInvalidOperationException": "System.Management.Automation.PSInvalidOperationException",
    "InvalidOperationException": "System.InvalidOperationException",
    "ArgumentException": "System.ArgumentException",
    "ManagementObjectNotFoundException": "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
    "ManagementObjectAmbiguousException": "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException",
    "DataValidationException": "Microsoft.Exchange.Data.DataValidationException",
}


def category_number(name: str) -> int:
    if name.isdigit():
        return int(name)
    return CATEGORIES.get(name, 0)


def _exception(message: str, short: str) -> ps.PSObject:
    full = EXCEPTION_TYPES.get(short, short if "." in short else f"System.{short}")
    exc = ps.PSObject()
    exc.PSObject.type_names = [full, "System.Exception", "System.Object"]
    set_to_string(exc, f"{full}: {message}")
    for name, value in (("Message", message), ("Data", None), ("HelpLink", None), ("HResult", ps.PSInt(-2146233087)),
                        ("InnerException", None), ("Source", None), ("StackTrace", None), ("TargetSite", None)):
        exc.PSObject.adapted_properties.append(ps.PSNoteProperty(name, value))
    return exc


def error_record(*, message: str, error_id: str, category: str, exception: str, activity: str = "",
                 target_name: str = "", target_object: Any = None, invocation_name: str | None = None,
                 bound: dict[str, Any] | None = None) -> ps.PSObject:
    """One ErrorRecord. ``invocation_name`` (the command as invoked) and ``bound`` (its bound
    parameters) add the InvocationInfo a client asked for with RemoteStreamOptions.AddInvocationInfo."""
    number = category_number(category)
    shown = category if not category.isdigit() else "NotSpecified"  # no name: the NotSpecified template
    record = ps.PSObject()
    record.PSObject.type_names = ["System.Management.Automation.ErrorRecord", "System.Object"]
    set_to_string(record, message)
    notes: list[tuple[str, Any]] = [
        ("Exception", _exception(message, exception)),
        ("TargetObject", target_object),
        ("FullyQualifiedErrorId", error_id),
        ("ErrorCategory_Category", ps.PSInt(number)),
        ("ErrorCategory_Activity", activity),
        ("ErrorCategory_Reason", exception),
        ("ErrorCategory_TargetName", target_name),
        ("ErrorCategory_TargetType", "String" if target_name else ""),
        ("ErrorCategory_Message", f"{shown} ({target_name}:{'String' if target_name else ''}) [{activity}], {exception}"),
        ("SerializeExtendedInfo", invocation_name is not None),
    ]
    if invocation_name is not None:
        notes += _invocation(invocation_name, bound)
    for name, value in notes:
        ps.add_note_property(record, name, value)
    return record


def _invocation(name: str, parameters: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """InvocationInfo_* with the .NET types PowerShell gives them (InvocationInfo.ToPSObjectForRemoting):
    each collection has a type of its own, so no type-name reference crosses between them. The bound
    parameters travel as their text (byte arrays and SecureStrings are left out)."""
    bound = ps.PSDict()
    for key, value in (parameters or {}).items():
        shown = _bound_text(value)
        if shown is not None:
            bound[key] = shown
    bound.PSObject.type_names = [
        "System.Management.Automation.PSBoundParametersDictionary",
        "System.Collections.Generic.Dictionary`2[[System.String, mscorlib, Version=4.0.0.0, Culture=neutral, "
        "PublicKeyToken=b77a5c561934e089],[System.Object, mscorlib, Version=4.0.0.0, Culture=neutral, "
        "PublicKeyToken=b77a5c561934e089]]", "System.Object"]
    unbound = ps.PSList()
    unbound.PSObject.type_names = [
        "System.Collections.Generic.List`1[[System.Object, mscorlib, Version=4.0.0.0, Culture=neutral, "
        "PublicKeyToken=b77a5c561934e089]]", "System.Object"]
    iteration = ps.PSList()
    iteration.PSObject.type_names = ["System.Int32[]", "System.Array", "System.Object"]
    return [
        ("InvocationInfo_BoundParameters", bound), ("InvocationInfo_CommandOrigin", ps.CommandOrigin.Runspace),
        ("InvocationInfo_ExpectingInput", False), ("InvocationInfo_InvocationName", name), ("InvocationInfo_Line", ""),
        ("InvocationInfo_OffsetInLine", ps.PSInt(0)), ("InvocationInfo_HistoryId", ps.PSInt64(1)),
        ("InvocationInfo_PipelineIterationInfo", iteration), ("InvocationInfo_PipelineLength", ps.PSInt(1)),
        ("InvocationInfo_PipelinePosition", ps.PSInt(1)), ("InvocationInfo_PositionMessage", ""),
        ("InvocationInfo_ScriptLineNumber", ps.PSInt(0)), ("InvocationInfo_ScriptName", ""),
        ("InvocationInfo_UnboundArguments", unbound), ("SerializeExtent", False),
    ]


def _bound_text(value: Any) -> Any:
    if value is None or isinstance(value, (bytes, bytearray)) or type(value).__name__ == "SecureString":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        return ps.PSList([str(v) for v in value])
    return str(value)


def warning_record(message: str, invocation_name: str, bound: dict[str, Any] | None = None) -> ps.PSObject:
    """A WARNING_RECORD: the message and the invocation of the command that wrote it."""
    record = ps.PSObject()
    record.PSObject.type_names = ["System.Management.Automation.WarningRecord",
                                  "System.Management.Automation.InformationalRecord", "System.Object"]
    set_to_string(record, message)
    ps.add_note_property(record, "InformationalRecord_Message", message)
    ps.add_note_property(record, "InformationalRecord_SerializeInvocationInfo", True)
    for name, value in _invocation(invocation_name, bound):
        ps.add_note_property(record, name, value)
    return record
