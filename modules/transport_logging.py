"""The protocol-log settings shared by the Transport and Front End Transport services (cmdlets.md §5)."""

from exconf.values import PROTOCOL_LOG_SIZE, PROTOCOL_LOGGING_LEVEL, PathType, TimeSpanType

from .settings import Prop


def logging_props() -> tuple[Prop, ...]:
    """Intra-organisation connector logging level, log paths, age and size limits."""
    props = [
        Prop(
            "intra_org_connector_protocol_logging_level",
            "IntraOrgConnectorProtocolLoggingLevel",
            PROTOCOL_LOGGING_LEVEL,
            "Protocol logging of the service's implicit intra-organisation connectors.",
        )
    ]
    for direction in ("send", "receive"):
        cap = direction.capitalize()
        props += [
            Prop(f"{direction}_protocol_log_path", f"{cap}ProtocolLogPath", PathType(), f"Folder of the {direction} protocol logs."),
            Prop(
                f"{direction}_protocol_log_max_age",
                f"{cap}ProtocolLogMaxAge",
                TimeSpanType(),
                f"Oldest {direction} protocol log kept, as days.hh:mm:ss (00:00:00 = no age limit).",
            ),
            Prop(
                f"{direction}_protocol_log_max_directory_size",
                f"{cap}ProtocolLogMaxDirectorySize",
                PROTOCOL_LOG_SIZE,
                f"Size limit of the {direction} protocol log folder (e.g. 250 MB, or Unlimited; at most 909.5 TB).",
            ),
            Prop(
                f"{direction}_protocol_log_max_file_size",
                f"{cap}ProtocolLogMaxFileSize",
                PROTOCOL_LOG_SIZE,
                f"Size of one {direction} protocol log file (e.g. 10 MB; at most 909.5 TB).",
            ),
        ]
    return tuple(props)
