"""The simulated Exchange organisation behind the lab's WinRM shells.

- ``store``: LabStore, the interface the WinRM server and the control socket use.
- ``spec`` / ``orgfile``: what an organisation file declares, and reading it.
- ``state``: the objects, their defaults and their persistence.
- ``cmdlets``: which cmdlets exist where; ``binder``: PowerShell parameter binding;
  ``errors``: PowerShell and Exchange error records; ``serialize``: values as exconf's
  remote program returns them.
- Values: ``dotnet_values`` (TimeSpan, ByteQuantifiedSize, Unlimited), ``enums``,
  ``string_values`` (parsers of domains, IP ranges, address spaces …), ``param_types``
  (how a parameter converts what PowerShell passes) and ``ps_conversion`` (its failures).
- One module per object class: ``exchange_server``, ``send_connectors``,
  ``receive_connectors``, ``transport_services``, ``transport_config``, sharing
  ``kinds`` (stored properties and the Set-* flow) and ``context`` (naming rules).
"""
