"""The double hop, said where it happens: a program-path step that Active Directory refused.

exconf's program loads Exchange's snap-in in a WinRM shell on the server; on a Mailbox server its
cmdlets read and write Active Directory as the caller, from that shell. A logon made with NTLM,
Basic, or Kerberos without a delegated ticket holds no credential a domain controller accepts, so
Exchange answers "Active Directory operation failed on <DC>. The supplied credential for '<user>'
is invalid." (ADInvalidCredentialException). That message alone sends people looking for a wrong
password; this adds what is really wrong and what to do, to the step's own error.
"""

from __future__ import annotations

from dataclasses import replace

from exconf.remote import Answer

EXCEPTION = "ADInvalidCredentialException"
EXPLANATION = (
    " This is the double hop: exconf's program runs in a WinRM shell on this Mailbox server, and Exchange's "
    "cmdlets there reach Active Directory as you, which that shell's logon (NTLM, Basic, or Kerberos without "
    "delegation) cannot do. Reach Mailbox servers through Exchange's remote PowerShell (ansible_connection: "
    "psrp), or give the program path a delegated Kerberos ticket (ansible_winrm_transport: kerberos, "
    "ansible_winrm_kerberos_delegation: true)."
)


def explain(answer: Answer) -> Answer:
    """The answer with the explanation added to each step Active Directory refused this way."""
    results = dict(answer.results)
    changed = False
    for step_id, result in answer.results.items():
        error = result.error
        if error is not None and error.exception == EXCEPTION and EXPLANATION not in error.message:
            results[step_id] = replace(result, error=replace(error, message=error.message + EXPLANATION))
            changed = True
    return replace(answer, results=results) if changed else answer
