"""The simulated Exchange organisation behind the lab's WinRM shells.

- ``store``: LabStore, the interface the WinRM server and the control socket use.
- ``spec`` / ``orgfile``: what an organisation file declares, and reading it.
- ``state``: the objects, their defaults and their persistence.
- ``cmdlets``: which cmdlets exist where; ``binder``: PowerShell parameter binding;
  ``errors``: PowerShell and Exchange error records; ``values``: Exchange value types;
  ``serialize``: values as exconf's remote program returns them.
- One module per object class: ``exchange_server``, ``send_connectors``,
  ``receive_connectors``, ``transport_services``, ``transport_config``, sharing
  ``kinds`` (stored properties and the Set-* flow) and ``context`` (naming rules).
"""
