"""PowerShell error records the lab produces, with the real texts and ids.

A failing cmdlet raises :class:`CmdletError`; it carries what exconf's remote
program reports for a step (docs/remote-contract.md, "Errors"): the exception
message, the FullyQualifiedErrorId, the CategoryInfo.Category name and the
exception's short type name.

Sources:
[PSB] PowerShell/PowerShell src/System.Management.Automation/resources/ParameterBinderStrings.resx
      and engine/ParameterBinderBase.cs (ids and categories of binding errors).
[EXO] PiratesRE/exchange_diff @ 1d7d834 (decompiled Exchange 2013):
      Configuration.ObjectModel/Configuration/Tasks/Task.cs CreateErrorRecord (the
      "[Server=…,RequestId=…,TimeStamp=…] [FailureCategory=Cmdlet-<Exception>] <HEX>" id),
      GetObjectWithIdentityTaskBase.cs (not found is written with (ErrorCategory)1003),
      and the Strings.resources of Configuration.ObjectModel / Management.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass
class CmdletError(Exception):
    message: str
    error_id: str
    category: str
    exception: str
    activity: str = ""  # the cmdlet name, for the console's CategoryInfo line

    def __str__(self) -> str:
        return self.message

    def as_contract(self) -> dict[str, str]:
        return {"message": self.message, "error_id": self.error_id, "category": self.category, "exception": self.exception}

    def console_text(self) -> str:
        """How Windows PowerShell 5.1 prints the error record (without the script position)."""
        # An ErrorCategory value with no name (Exchange's 1003) is shown with the NotSpecified template.
        shown = self.category if not self.category.isdigit() else "NotSpecified"
        activity = self.activity or self.error_id.rsplit(",", 1)[-1]
        return (
            f"{activity} : {self.message}\n"
            f"    + CategoryInfo          : {shown}: (:) [{activity}], {self.exception}\n"
            f"    + FullyQualifiedErrorId : {self.error_id}"
        )


# --- parameter binding [PSB] -----------------------------------------------------------------


def _binding(cmdlet: str, message: str, error_id: str, category: str = "InvalidArgument",
             exception: str = "ParameterBindingException") -> CmdletError:
    return CmdletError(message, f"{error_id},{cmdlet}", category, exception, cmdlet)


def named_parameter_not_found(cmdlet: str, name: str) -> CmdletError:
    return _binding(cmdlet, f"A parameter cannot be found that matches parameter name '{name}'.", "NamedParameterNotFound")


def positional_parameter_not_found(cmdlet: str, argument: str) -> CmdletError:
    return _binding(
        cmdlet, f"A positional parameter cannot be found that accepts argument '{argument}'.", "PositionalParameterNotFound"
    )


def ambiguous_parameter(cmdlet: str, name: str, matches: list[str]) -> CmdletError:
    listed = "".join(f" -{m}" for m in matches)
    return _binding(
        cmdlet,
        f"Parameter cannot be processed because the parameter name '{name}' is ambiguous. Possible matches include:{listed}.",
        "AmbiguousParameter",
    )


def parameter_already_bound(cmdlet: str, name: str) -> CmdletError:
    return _binding(
        cmdlet,
        f"Cannot bind parameter because parameter '{name}' is specified more than once. To provide multiple values "
        'to parameters that can accept multiple values, use the array syntax. For example, "-parameter value1,value2,value3".',
        "ParameterAlreadyBound",
    )


def missing_mandatory(cmdlet: str, names: list[str]) -> CmdletError:
    # In a non-interactive shell PowerShell cannot prompt and fails instead.
    listed = "".join(f" {n}" for n in names)
    return _binding(
        cmdlet, f"Cannot process command because of one or more missing mandatory parameters:{listed}.", "MissingMandatoryParameter"
    )


def missing_argument(cmdlet: str, name: str, dotnet: str) -> CmdletError:
    return _binding(
        cmdlet, f"Missing an argument for parameter '{name}'. Specify a parameter of type '{dotnet}' and try again.",
        "MissingArgument",
    )


def ambiguous_parameter_set(cmdlet: str) -> CmdletError:
    # Windows PowerShell 5.1 wording (PowerShell 7 appends more sentences).
    return _binding(cmdlet, "Parameter set cannot be resolved using the specified named parameters.", "AmbiguousParameterSet")


def argument_null(cmdlet: str, name: str) -> CmdletError:
    # A mandatory parameter's argument is validated after conversion: $null is refused
    # (ParameterBinderBase.ValidateNullOrEmptyArgument, ParameterArgumentValidationErrorNullNotAllowed) [PSB].
    return CmdletError(
        f"Cannot bind argument to parameter '{name}' because it is null.",
        f"ParameterArgumentValidationErrorNullNotAllowed,{cmdlet}",
        "InvalidData",
        "ParameterBindingValidationException",
        cmdlet,
    )


def cannot_convert(cmdlet: str, name: str, inner: str) -> CmdletError:
    return _binding(cmdlet, f"Cannot bind parameter '{name}'. {inner}", "CannotConvertArgumentNoMessage")


def transformation_failed(cmdlet: str, name: str, inner: str) -> CmdletError:
    return CmdletError(
        f"Cannot process argument transformation on parameter '{name}'. {inner}",
        f"ParameterArgumentTransformationError,{cmdlet}",
        "InvalidData",
        "ParameterBindingArgumentTransformationException",
        cmdlet,
    )


def binding_failed(cmdlet: str, name: str, inner: str) -> CmdletError:
    # The Exchange setter threw while PowerShell bound the value: SetValueInvocationException
    # 'Exception setting "X": "…"' wrapped in ParameterBindingFailed (category WriteError).
    return _binding(
        cmdlet, f"Cannot bind parameter '{name}' to the target. Exception setting \"{name}\": \"{inner}\"",
        "ParameterBindingFailed", category="WriteError",
    )


def command_not_found(name: str) -> CmdletError:
    return CmdletError(
        f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. "
        "Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
        "CommandNotFoundException",
        "ObjectNotFound",
        "CommandNotFoundException",
        name,
    )


# --- Exchange task errors [EXO] ----------------------------------------------------------------

# ExchangeErrorCategory.Context: the value Exchange writes for "not found" and validation
# errors. It has no ErrorCategory name, so CategoryInfo.Category prints as the number
# (PowerShell displays it with the NotSpecified template).
CATEGORY_CONTEXT = "1003"
# ExchangeErrorCategory.Authorization (Microsoft.Exchange.Data/ExchangeErrorCategory.cs): what Exchange
# writes for ADInvalidCredentialException and ADScopeException (DataAccessHelper.ResolveExceptionErrorCategory).
CATEGORY_AUTHORIZATION = "1004"


@dataclass(frozen=True)
class TaskContext:
    """Where an Exchange task runs: the server name for the error id, and the cmdlet."""

    server: str
    cmdlet: str
    dotnet: str  # the task's .NET type, e.g. Microsoft.Exchange.Management.SystemConfigurationTasks.SetSendConnector


def task_error(ctx: TaskContext, message: str, exception: str, category: str) -> CmdletError:
    now = datetime.now(timezone.utc)
    stamp = f"{now.month}/{now.day}/{now.year} {now.strftime('%I').lstrip('0') or '12'}:{now:%M:%S %p}"
    code = zlib.crc32(f"{exception}:{message}".encode()) & 0xFFFFFFFF  # LocalizedException.GenerateErrorCode stand-in
    error_id = (
        f"[Server={ctx.server},RequestId={uuid.uuid4()},TimeStamp={stamp}] "
        f"[FailureCategory=Cmdlet-{exception}] {code:X},{ctx.dotnet}"
    )
    return CmdletError(message, error_id, category, exception, ctx.cmdlet)


def not_found(ctx: TaskContext, identity: str, source: str) -> CmdletError:
    # Strings.ErrorManagementObjectNotFoundWithSource [EXO]
    return task_error(
        ctx, f"The operation couldn't be performed because object '{identity}' couldn't be found on '{source}'.",
        "ManagementObjectNotFoundException", CATEGORY_CONTEXT,
    )


def ambiguous(ctx: TaskContext, identity: str) -> CmdletError:
    # Strings.ErrorManagementObjectAmbiguous [EXO]
    return task_error(
        ctx, f"The operation couldn't be performed because '{identity}' matches multiple entries.",
        "ManagementObjectAmbiguousException", CATEGORY_CONTEXT,
    )


def validation_error(ctx: TaskContext, message: str, prop: str) -> CmdletError:
    # DataValidationException: the description plus DataStrings.PropertyName [EXO DataValidationException.cs]
    return task_error(ctx, f"{message} Property Name: {prop}", "DataValidationException", CATEGORY_CONTEXT)


def not_modified_warning(identity: str) -> str:
    # Strings.WarningForceMessageWithId, written by SetObjectTaskBase when nothing changed [EXO]
    return f"The command completed successfully but no settings of '{identity}' have been modified."
