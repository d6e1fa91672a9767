"""Exchange remote PowerShell as a lab Mailbox server serves it: ``/PowerShell`` on IIS's ports,
configuration ``Microsoft.Exchange``, a NoLanguage runspace under RBAC (docs/lab.md).

``resource.PowerShellResource`` is the WS-Management side (runspace pools and pipelines, with
psrpcore's server classes), ``session.Session`` what a pipeline runs, ``objects`` how answers are
serialised, ``records`` PowerShell's error and warning records, ``nrbf_writer`` a certificate's
SerializationData.
"""
