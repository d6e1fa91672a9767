"""The remote PowerShell program (engine/remote/exconf.ps1) and its bootstrap.

There is no PowerShell here, so these tests read the program's syntax tree
(tree-sitter-powershell) instead of running it: it parses, it never turns data
into code, its allowlist is the Python one, and what exconf.remote puts on the
command line and on standard input round-trips.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from importlib import resources

import pytest
import tree_sitter  # the test extra; a missing parser must fail, not skip, these checks
import tree_sitter_powershell

import exconf.remote as remote

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

# Commands that turn a string into code, start other code, or load code.
CODE_COMMANDS = {
    "invoke-expression", "iex", "invoke-command", "icm", "add-type", "start-process", "saps", "start",
    "start-job", "sajb", "invoke-item", "ii", "import-module", "ipmo", "new-module", "nmo",
    "set-item", "si", "new-item", "ni", "set-alias", "sal", "new-alias", "nal", "powershell",
    "powershell.exe", "pwsh", "pwsh.exe", "cmd", "cmd.exe",
}
# Members that compile or run text, or a script block.
CODE_MEMBERS = {
    "invokescript", "newscriptblock", "expandstring", "invokecommand", "create", "invoke",
    "invokereturnasis", "getnewclosure", "addscript", "parseinput",
}
# Types whose use could compile or run text (a type literal containing any of these).
CODE_TYPES = ("scriptblock", "powershell", "runspace", "parser", "reflection", "codedom", "csharp",
              "activator", "appdomain", "assembly", "process")
# The only commands the program calls besides its own functions. Adding one is a deliberate
# change: check first that it cannot run text as code.
PROGRAM_COMMANDS = {"add-pssnapin", "get-command", "get-pssnapin", "join-path", "select-object", "test-path"}
# The only variables those commands may be given: an allowlisted cmdlet name, a snap-in name from the
# server's own exshell.psc1, the Exchange install path. Nothing else reaches a parameter that module
# logging (event 4103) records: not the payload (secrets, PFX bytes), not the answer.
PROGRAM_COMMAND_VARIABLES = {"name", "snapin", "env:exchangeinstallpath"}


# --- syntax tree helpers -------------------------------------------------------------------


def parse(text: str):
    return PARSER.parse(text.encode("ascii"))


def walk(node) -> Iterator:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node) -> str:
    return node.text.decode("ascii")


def child(node, type_: str):
    return next((c for c in node.children if c.type == type_), None)


def problems(tree) -> list[str]:
    return [f"{n.type} at {n.start_point}: {text(n)[:60]!r}" for n in walk(tree.root_node)
            if n.type == "ERROR" or n.is_error or n.is_missing]


def command_name(command) -> str:
    """The name a `command` node calls, as written ('' for `& <expression>`)."""
    name = child(command, "command_name")
    if name is None:
        expr = child(command, "command_name_expr")
        name = child(expr, "command_name") if expr is not None else None
    return text(name) if name is not None else ""


def variable_name(node) -> str:
    """`$Foo` / `${Foo}` / `@Foo` -> 'foo'."""
    return text(node).lstrip("$@").strip("{}").lower()


def first_command(pipeline):
    """The first command of a pipeline node, or None when it starts with an expression."""
    chain = child(pipeline, "pipeline_chain")
    return child(chain, "command") if chain is not None else None


def assignments(root, name: str) -> list:
    """(assignment node, right-hand pipeline) for every assignment to $name."""
    found = []
    for node in walk(root):
        if node.type == "assignment_expression":
            left = child(node, "left_assignment_expression")
            if left is not None and variable_name(left) == name.lower():
                found.append((node, child(node, "pipeline")))
    return found


def string_value(literal) -> str:
    raw = text(literal)
    assert raw[0] == raw[-1] == "'", f"expected a verbatim string, got {raw}"
    return raw[1:-1].replace("''", "'")


@pytest.fixture(scope="module")
def program() -> str:
    return remote.program_text()


@pytest.fixture(scope="module")
def tree(program):
    return parse(program)


# --- the file -----------------------------------------------------------------------------------


def test_program_file_is_ascii_lf_without_bom_and_short():
    raw = resources.files("exconf.remote").joinpath("exconf.ps1").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("ascii")  # raises on any non-ASCII byte
    assert b"\r" not in raw
    assert raw.endswith(b"\n")
    assert len(raw.splitlines()) < 550  # 440 until the program imported a PFX itself (Import-Pfx) and wrote ACME challenge files
    assert remote.program_text() == raw.decode("ascii")


def test_program_parses(tree):
    assert problems(tree) == []
    assert tree.root_node.children[0].type == "param_block"
    assert "$PayloadJson" in text(tree.root_node.children[0])


def test_bootstrap_parses():
    assert problems(parse(remote.bootstrap_script())) == []


# --- never data into code ---------------------------------------------------------------------


def test_program_calls_no_command_that_runs_text(tree):
    for node in walk(tree.root_node):
        if node.type != "command":
            continue
        name = command_name(node).lower()
        assert name not in CODE_COMMANDS, text(node)
        if name == "new-object":
            assert not any(t in text(node).lower() for t in CODE_TYPES), text(node)


def test_program_calls_only_known_commands(tree):
    own = {text(child(n, "function_name")).lower() for n in walk(tree.root_node) if n.type == "function_statement"}
    for node in walk(tree.root_node):
        if node.type == "command" and child(node, "command_invokation_operator") is None:
            name = command_name(node)
            assert re.fullmatch(r"[A-Za-z]+-[A-Za-z]+", name), f"not a plain command name: {text(node)}"
            assert name.lower() in PROGRAM_COMMANDS | own, f"unexpected command {name}: {text(node)}"


def test_program_binds_no_payload_and_no_answer_to_a_cmdlet_parameter(tree):
    """Module logging records each value bound to a cmdlet parameter (event 4103): the program's own
    cmdlet calls take only constants and the names above; the payload is read by Read-Json, the
    answer written by Write-Answer, program functions that no module logging sees."""
    own = {text(child(n, "function_name")).lower() for n in walk(tree.root_node) if n.type == "function_statement"}
    for node in walk(tree.root_node):
        if node.type != "command" or child(node, "command_invokation_operator") is not None:
            continue
        name = command_name(node).lower()
        if name in own:
            continue
        used = {variable_name(v) for v in walk(node) if v.type == "variable"}
        assert used <= PROGRAM_COMMAND_VARIABLES, f"{text(node)} binds {used - PROGRAM_COMMAND_VARIABLES}"
    assert not re.search(r"ConvertFrom-Json|ConvertTo-Json|ConvertTo-SecureString|New-Object", remote.program_text(),
                         re.IGNORECASE) or all(
        line.lstrip().startswith("#") for line in remote.program_text().splitlines()
        if re.search(r"ConvertFrom-Json|ConvertTo-Json|ConvertTo-SecureString|New-Object", line, re.IGNORECASE))
    (call,) = [n for n in walk(tree.root_node) if n.type == "command" and command_name(n) == "Read-Json"]
    assert "$PayloadJson" in text(call)


def test_program_has_no_script_block_types_or_code_members(tree):
    for node in walk(tree.root_node):
        if node.type == "type_literal":
            assert not any(t in text(node).lower() for t in CODE_TYPES), text(node)
        elif node.type == "member_name":
            assert text(node).lower() not in CODE_MEMBERS, text(node.parent)
        elif node.type == "variable":
            name = variable_name(node)
            assert name.split(":")[-1] != "executioncontext", text(node.parent)  # also $global:...
            assert not name.startswith(("function:", "alias:")), text(node.parent)
        assert node.type != "format_operator", f"-f in the program: {text(node.parent)}"


def test_program_invokes_only_the_cmdlet_resolved_by_get_command(tree):
    invocations = [n for n in walk(tree.root_node)
                   if n.type == "command" and child(n, "command_invokation_operator") is not None]
    assert len(invocations) == 1, [text(n) for n in invocations]
    (invocation,) = invocations
    assert text(child(invocation, "command_invokation_operator")) == "&"  # never dot-sourcing
    target = child(invocation, "command_name_expr")
    variables = [n for n in walk(target) if n.type == "variable"]
    assert len(variables) == 1 and text(variables[0]) == text(target), text(invocation)
    name = variable_name(variables[0])

    assigned = assignments(tree.root_node, name)
    assert assigned, f"${name} is never assigned"
    for node, pipeline in assigned:
        source = first_command(pipeline)
        assert source is not None and command_name(source).lower() == "get-command", text(node)
        arguments = text(source)
        assert re.search(r"-CommandType\s+Cmdlet\b", arguments), arguments
        name_argument = re.search(r"-Name\s+\$(\w+)", arguments)
        assert name_argument, arguments
        # That name passed the allowlist check earlier in the same function.
        check = re.compile(r"\$allowedCmdlets\s+-ccontains\s+\$" + name_argument.group(1) + r"\b")
        function = node
        while function is not None and function.type != "function_statement":
            function = function.parent
        assert function is not None, "the cmdlet is resolved outside a function"
        body = text(function)
        assert check.search(body), "the cmdlet name is not checked against $allowedCmdlets"
        assert check.search(body).start() < body.index(text(node))
    # Values reach the cmdlet only by splatting.
    elements = text(child(invocation, "command_elements")).split()
    assert elements[0].startswith("@"), text(invocation)
    assert all(e.startswith("-") or e in {"Stop", "SilentlyContinue"} or re.fullmatch(r"\w+", e)
               for e in elements[1:]), text(invocation)


def test_bootstrap_creates_a_script_block_only_after_the_hash_check():
    bootstrap = remote.bootstrap_script()
    tree = parse(bootstrap)
    assert problems(tree) == []
    for node in walk(tree.root_node):
        if node.type == "command":
            assert command_name(node).lower() not in CODE_COMMANDS, text(node)
        if node.type == "member_name":
            assert text(node).lower() not in CODE_MEMBERS - {"create"}, text(node.parent)

    script_blocks = [n for n in walk(tree.root_node)
                     if n.type == "type_literal" and "scriptblock" in text(n).lower()]
    assert len(script_blocks) == 1
    create = script_blocks[0].parent
    assert create.type == "invokation_expression"
    assert text(create).replace(" ", "").lower() == "[scriptblock]::create($p)"
    # The only other ::Create is SHA256's (the hasher).
    creates = [n.parent for n in walk(tree.root_node) if n.type == "member_name" and text(n).lower() == "create"]
    assert [text(n) for n in creates if n != create and "SHA256]::Create()" not in text(n)] == []
    (s_assignment, s_value), = [(a, v) for a, v in assignments(tree.root_node, "s") if "Create" in text(v)]
    assert s_value.start_byte <= create.start_byte < s_value.end_byte

    # The one invocation is "& $s $x", under "if($s)": it runs only what that assignment made.
    calls = [n for n in walk(tree.root_node) if n.type == "command" and child(n, "command_invokation_operator") is not None]
    assert [text(n).replace(" ", "") for n in calls] == ["&$s$x"]
    guard = calls[0]
    while guard.type != "if_statement":
        guard = guard.parent
    assert text(child(guard, "pipeline")) == "$s"

    # In the branch of the separator line: $b is the base64-decoded text of the lines before it, $h its
    # SHA-256, a mismatch exits, and only then $p is the program text made of those same bytes, and $s its block.
    (b_assignment, b_value), (_, b_fallback) = assignments(tree.root_node, "b")
    assert text(b_value).replace(" ", "") == "[Convert]::FromBase64String(-join$q)"
    assert text(b_fallback).replace(" ", "") == "[byte[]]@()"
    (h_assignment, h_value), = assignments(tree.root_node, "h")
    assert "SHA256" in text(h_value) and "ComputeHash($b)" in text(h_value)
    checks = [n for n in walk(tree.root_node) if n.type == "if_statement" and "$h" in text(child(n, "pipeline"))]
    assert len(checks) == 1
    check = checks[0]
    condition = text(child(check, "pipeline"))
    assert re.fullmatch(r"\$h\s+-ne\s+'([0-9A-F]{64})'", condition), condition
    assert re.search(r"'([0-9A-F]{64})'", condition).group(1) == remote.program_hash()
    body = child(check, "statement_block")
    assert any(n.type == "flow_control_statement" and text(n).startswith("exit") for n in walk(body))
    (p_assignment, p_value), = assignments(tree.root_node, "p")
    assert text(p_value).replace(" ", "") == "[Text.Encoding]::ASCII.GetString($b)"
    assert b_assignment.end_byte <= h_assignment.start_byte < h_assignment.end_byte <= check.start_byte
    assert check.end_byte <= p_assignment.start_byte and p_assignment.end_byte <= s_assignment.start_byte
    # $s is assigned nowhere else but its $null start.
    assert [text(v) for a, v in assignments(tree.root_node, "s") if a != s_assignment] == ["$null"]


def test_bootstrap_reads_standard_input_through_input_up_to_a_line_of_four_nuls():
    """As Ansible's bootstrap_wrapper.ps1 (ansible/ansible @ 26cba868) does: never [Console]::In."""
    bootstrap = remote.bootstrap_script()
    tree = parse(bootstrap)
    assert "[console]::in" not in bootstrap.lower()
    loops = [n for n in walk(tree.root_node) if n.type == "foreach_statement"]
    assert len(loops) == 1
    (loop,) = loops
    assert re.match(r"foreach\s*\(\s*\$x\s+in\s+\$input\s*\)", text(loop), re.IGNORECASE), text(loop)
    assert '[string]::Equals($x,"`0`0`0`0")' in text(loop)  # a whole line of four NULs
    # The lines before it are the program ($q); each line after it is a payload, run as it arrives ($x).
    assert re.search(r"-join \$q\b", bootstrap) and "& $s $x" in text(loop) and "$q+=$x" in text(loop)


def test_bootstrap_refuses_constrained_language_mode_first_with_plain_output():
    """A CLM session (AppLocker/WDAC) cannot use [Console] or [ScriptBlock]::Create: the bootstrap
    checks the language mode before anything else and answers with pipeline output, which CLM allows."""
    tree = parse(remote.bootstrap_script())
    statements = [n for n in tree.root_node.children[0].children if n.is_named]
    (m_assignment, m_value), = assignments(tree.root_node, "m")
    assert text(m_value) == "$ExecutionContext.SessionState.LanguageMode"
    # $ExecutionContext is read in that one place only.
    uses = [n for n in walk(tree.root_node) if n.type == "variable" and variable_name(n) == "executioncontext"]
    assert len(uses) == 1 and m_value.start_byte <= uses[0].start_byte < m_value.end_byte
    check = next(n for n in statements if n.type == "if_statement")
    assert m_assignment.end_byte <= check.start_byte
    assert not [n for n in statements if n.end_byte <= check.start_byte and n.type not in ("empty_statement", "pipeline")]
    body = text(check)
    assert re.match(r"if\(\$m -ne 'FullLanguage'\)", body), body
    assert "::" not in body and "[" not in body, body  # no .NET type: CLM allows none of ours
    assert body.rstrip("}").endswith("exit 1")
    # Everything that reads input or makes code comes after the check.
    loop = next(n for n in walk(tree.root_node) if n.type == "foreach_statement")
    assert check.end_byte <= loop.start_byte


# --- the allowlist ----------------------------------------------------------------------------------


def test_program_allowlist_equals_python_allowlist(tree):
    (node, value), = assignments(tree.root_node, "allowedCmdlets")
    names = tuple(string_value(n) for n in walk(value) if n.type == "string_literal")
    assert names == remote.ALLOWED_CMDLETS


# --- what crosses the wire ----------------------------------------------------------------------------

TRICKY = "na\u00efve \u2603 \U0001F600 \"quoted\" 'single' $(Remove-Item C:\\ -Recurse) `n`0 ; Stop-Computer; \\ \x00 \r\n end"


def tricky_steps() -> list[remote.Step]:
    return [
        remote.Step("r1", "Get-ReceiveConnector", {"Server": remote.LOCAL_SERVER}, select=("Identity", "Name")),
        remote.Step("a1", "Set-SendConnector", {
            "Identity": TRICKY, "Comment": "x" * 20000, "AddressSpaces": [TRICKY, "SMTP:*;1"],
            "Enabled": True, "MaxMessageSize": 35, "Clear": [], "Other": None}),
    ]


def test_encode_stdin_is_program_line_nul_line_payload_line():
    data = remote.encode_stdin(tricky_steps())
    data.decode("ascii")
    lines = data.split(b"\r\n")
    assert len(lines) == 4 and lines[-1] == b"" and lines[1] == b"\0\0\0\0"
    assert data.count(b"\0") == 4
    program = base64.b64decode(lines[0], validate=True)
    assert program.decode("ascii") == remote.program_text()
    # What the bootstrap checks: SHA-256 of the decoded program bytes, upper-case hex.
    assert hashlib.sha256(program).hexdigest().upper() == remote.program_hash()
    assert remote.program_hash() in remote.bootstrap_script()
    assert json.loads(lines[2]) == json.loads(remote.encode_payload(tricky_steps()))


def test_tricky_payload_is_ascii_json_and_decodes_back_exactly():
    steps = tricky_steps()
    payload = remote.encode_payload(steps, halt_on_error=False)
    assert payload.isascii()
    assert "\0" not in payload and "\r" not in payload and "\n" not in payload
    doc = json.loads(payload)
    assert doc == {"exconf": 3, "halt_on_error": False, "steps": [s.to_json() for s in steps]}
    assert doc["steps"][1]["params"]["Identity"] == TRICKY
    assert doc["steps"][0]["params"]["Server"] == {"exconf_ref": "ComputerName"}
    wire = remote.encode_stdin(steps, halt_on_error=False).split(b"\r\n")[2]
    assert json.loads(wire.decode("ascii")) == doc


def test_command_line_is_short_and_constant():
    command, args = remote.command_line()
    assert command == "powershell.exe"
    assert args[:-1] == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"]
    assert base64.b64decode(args[-1]).decode("utf-16-le") == remote.bootstrap_script()
    # Far below cmd.exe's 8191 characters (WinRS runs the line through cmd.exe).
    assert len(" ".join([command, *args])) < 3000
    remote.encode_stdin(tricky_steps())
    assert remote.command_line() == (command, args)
    assert TRICKY not in base64.b64decode(args[-1]).decode("utf-16-le")


def test_encode_payload_refuses_a_cmdlet_outside_the_allowlist():
    with pytest.raises(ValueError, match="Remove-SendConnector"):
        remote.encode_payload([remote.Step("x", "Remove-SendConnector")])


def ps51_answer_text(doc: dict) -> str:
    """What the program writes: JSON with every non-ASCII UTF-16 unit escaped as \\uxxxx."""
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    units = raw.encode("utf-16-le")
    out = []
    for i in range(0, len(units), 2):
        unit = int.from_bytes(units[i:i + 2], "little")
        out.append(chr(unit) if unit < 128 else f"\\u{unit:04x}")
    return "".join(out)


def test_program_style_answer_decodes_back_exactly():
    results = [
        {"id": "r1", "status": "ok", "objects": [{"Identity": TRICKY, "Enabled": True, "Size": 36700160,
                                                  "When": "2024-01-02T03:04:05Z", "Ranges": ["a", None]}],
         "warnings": [TRICKY]},
        {"id": "a1", "status": "error", "error": {"message": TRICKY, "error_id": "X,Y", "category": "InvalidArgument",
                                                  "exception": "ParameterBindingException"}},
        {"id": "a2", "status": "not_run"},
        {"id": "a3", "status": "not_applicable"},
    ]
    answer = ps51_answer_text({"exconf": 3, "computer": "EX01", "edge": False, "results": results})
    assert answer.isascii()
    decoded = remote.decode_answer(answer.encode("ascii"))
    assert decoded.computer == "EX01" and decoded.edge is False
    assert decoded.result("r1").objects[0]["Identity"] == TRICKY
    assert decoded.result("r1").warnings == (TRICKY,)
    assert decoded.result("a1").error == remote.StepError(TRICKY, "X,Y", "InvalidArgument", "ParameterBindingException")
    assert [decoded.result(i).status for i in ("a2", "a3")] == ["not_run", "not_applicable"]
    assert remote.encode_answer("EX01", False, results).isascii()
    with pytest.raises(remote.RemoteFatal, match="snap-in"):
        remote.decode_answer(ps51_answer_text({"exconf": 3, "fatal": {"message": "snap-in not found"}}).encode(), exit_code=1)


# --- contract v2: bytes, secrets, output references, output files ------------------------------------


def test_a_secret_is_revealed_only_in_the_encoded_payload(monkeypatch):
    monkeypatch.setenv("EXCONF_TEST_PFX_PASSWORD", "s3cret-Pfx!")
    secret = remote.Secret.from_env("EXCONF_TEST_PFX_PASSWORD")
    step = remote.Step("i1", "Import-ExchangeCertificate", {"FileData": b"\x00\x01pfx", "Password": secret})
    shown = " ".join([repr(secret), str(secret), repr(step), json.dumps(step.to_json())])
    assert "s3cret-Pfx!" not in shown
    assert "EXCONF_TEST_PFX_PASSWORD" in repr(secret)  # where it comes from may be shown
    doc = json.loads(remote.encode_payload([step]))
    assert doc["steps"][0]["params"] == {"FileData": {"exconf_bytes": "AAFwZng="}, "Password": {"exconf_secret": "s3cret-Pfx!"}}
    assert remote.encode_stdin([step]).isascii()


def test_a_secret_whose_source_is_missing_names_the_source_only(monkeypatch, tmp_path):
    monkeypatch.delenv("EXCONF_TEST_UNSET", raising=False)
    step = remote.Step("i1", "Import-ExchangeCertificate", {"Password": remote.Secret.from_env("EXCONF_TEST_UNSET")})
    with pytest.raises(remote.SecretError, match="EXCONF_TEST_UNSET is not set"):
        remote.encode_payload([step])
    with pytest.raises(remote.SecretError, match="cannot read the secret file"):
        remote.Secret.from_file(str(tmp_path / "missing")).reveal()
    (tmp_path / "pw").write_text("from-file\n")
    assert remote.Secret.from_file(str(tmp_path / "pw")).reveal() == "from-file"


def test_an_output_reference_must_name_an_earlier_step():
    imp = remote.Step("i1", "Import-ExchangeCertificate", {"FileData": b"x"}, select=("Thumbprint",))
    enable = remote.Step("e1", "Enable-ExchangeCertificate",
                         {"Thumbprint": remote.OutputRef("i1", "Thumbprint"), "Services": "SMTP", "Force": True})
    doc = json.loads(remote.encode_payload([imp, enable]))
    assert doc["steps"][1]["params"]["Thumbprint"] == {"exconf_ref": "Output", "step": "i1", "property": "Thumbprint"}
    with pytest.raises(ValueError, match="refers to step 'i1', which is not an earlier step"):
        remote.encode_payload([enable, imp])


@pytest.mark.parametrize("params", [{"Name": "MSExchangeTransport"}, {"Name": "ADAM_MSExchange", "Force": False},
                                    {"Name": "ADAM_MSExchange", "PassThru": True},
                                    {"DisplayName": "ADAM_MSExchange"}, {}])
def test_restart_service_is_limited_to_ad_lds(params):
    with pytest.raises(ValueError, match="runs only as -Name ADAM_MSExchange or MSExchangeServiceHost"):
        remote.encode_payload([remote.Step("r", "Restart-Service", params)])
    remote.encode_payload([remote.Step("r", "Restart-Service", {"Name": "ADAM_MSExchange"})])
    # -Force: AD LDS has dependent services on an Edge (EXD services-overview.md), which only -Force restarts.
    remote.encode_payload([remote.Step("r", "Restart-Service", {"Name": "ADAM_MSExchange", "Force": True})])


def test_the_allowlist_has_no_general_file_or_content_cmdlet():
    """The only file cmdlets are Set-Content and Remove-Item, and only on an ACME challenge file (web_file), whose path
    the program chooses: a step that names any path, or writes anything but a key authorization, is refused."""
    general = re.compile(r"-(Content|Item|ItemProperty|ChildItem|Location|Acl)$|^(Out-File|Copy-|Move-|Remove-Item|"
                         r"Export-Csv|Import-Csv|Start-|Invoke-|Set-Service|Stop-Service)", re.IGNORECASE)
    assert [c for c in remote.ALLOWED_CMDLETS if general.search(c) and c != "Start-EdgeSynchronization"] == list(remote.WEB_FILE_CMDLETS)
    assert "Restart-Service" in remote.ALLOWED_CMDLETS and remote.RESTARTABLE_SERVICES == ("ADAM_MSExchange", "MSExchangeServiceHost")
    remote.encode_payload([remote.Step("w", "Set-Content", {"Value": "tok.Abc-_9"}, web_file="tok"),
                           remote.Step("r", "Remove-Item", {}, web_file="tok")])
    for step in (remote.Step("w", "Set-Content", {"Value": "x"}),
                 remote.Step("w", "Set-Content", {"Value": "x", "Path": "C:\\x"}, web_file="tok"),
                 remote.Step("w", "Set-Content", {"Value": "<script>"}, web_file="tok"),
                 remote.Step("w", "Set-Content", {"Value": "x"}, web_file="..\\web.config"),
                 remote.Step("r", "Remove-Item", {"LiteralPath": "C:\\Windows"}),
                 remote.Step("r", "Remove-Item", {"Recurse": True}, web_file="tok"),
                 remote.Step("g", "Get-ExchangeServer", {}, web_file="tok")):
        with pytest.raises(ValueError, match="acme-challenge"):
            remote.encode_payload([step])
    for name in ("MSExchangeOWAAppPool", "MSExchangeECPAppPool"):
        remote.encode_payload([remote.Step("p", "Restart-WebAppPool", {"Name": name})])
    with pytest.raises(ValueError, match="Restart-WebAppPool runs only"):
        remote.encode_payload([remote.Step("p", "Restart-WebAppPool", {"Name": "DefaultAppPool"})])


def test_answer_bytes_and_output_files_decode_to_bytes():
    results = [{"id": "x", "status": "ok", "objects": [{"FileData": {"exconf_bytes": "AAEC"}, "Thumbprint": "AB"}],
                "warnings": [], "file": base64.b64encode(b"-----BEGIN NEW CERTIFICATE REQUEST-----").decode()}]
    answer = remote.decode_answer(remote.encode_answer("EX01", False, results).encode())
    assert answer.result("x").objects[0] == {"FileData": b"\x00\x01\x02", "Thumbprint": "AB"}
    assert answer.result("x").file == b"-----BEGIN NEW CERTIFICATE REQUEST-----"
    bad = [{"id": "x", "status": "ok", "objects": [], "file": "not base64!"}]
    with pytest.raises(remote.ContractError, match="step 'x'"):
        remote.decode_answer(remote.encode_answer("EX01", False, bad).encode())


def test_the_program_never_puts_a_secret_or_the_output_path_source_in_a_message(tree):
    for node in walk(tree.root_node):
        if node.type == "expandable_string_literal":
            assert "$text" not in text(node) and "$secure" not in text(node), text(node)
    (node, value), = assignments(tree.root_node, "outputPath")[1:]  # the first sets it to $null
    assert "GetTempPath()" in text(value) and "NewGuid()" in text(value) and "$step" not in text(value)


def test_the_program_turns_markers_into_typed_values(tree, program):
    assert "[System.Convert]::FromBase64String($text)" in program
    assert "[System.Security.SecureString]::new()" in program and "$secure.MakeReadOnly()" in program
    assert "$secure.AppendChar($c)" in program  # never ConvertTo-SecureString, whose -String module logging records
    assert "$value -is [byte[]]" in program and "exconf_bytes = [System.Convert]::ToBase64String($value)" in program
    assert re.search(r"\$stepOutputs\[\[string\]\$step\.id\] = \$output", program)


def test_the_program_deletes_an_output_file_whatever_happened(tree, program):
    finals = [n for n in walk(tree.root_node) if n.type == "finally_clause"]
    assert any("[System.IO.File]::Delete($outputPath)" in text(n) for n in finals), [text(n) for n in finals]
    # The path is only made, given to the cmdlet, tested, read back and deleted: no other file access.
    uses = [line.strip() for line in program.splitlines() if "$outputPath" in line]
    assert len(uses) == 6, uses
    allowed = (r"^(\$outputPath = (\$null|Join-Path -Path \(\[System\.IO\.Path\]::GetTempPath\(\)\) .*)"
               r"|\$stepArgs\[\$fileParameter\] = \$outputPath|if \(\$null -ne \$outputPath.*"
               r"|if \(\[System\.IO\.File\]::Exists\(\$outputPath\)\) .*ReadAllBytes\(\$outputPath\).*)$")
    assert all(re.match(allowed, u) for u in uses), uses
    # The one file the program writes itself is the constant web.config beside an ACME challenge file (IIS serves a
    # file without an extension only with it), at a path of its own making.
    writes = [line.strip() for line in program.splitlines() if "System.IO.File]::WriteAll" in line]
    assert writes == ["if (-not [System.IO.File]::Exists($webConfig)) { [System.IO.File]::WriteAllText($webConfig, $challengeWebConfig) }"]
    assert "OpenWrite" not in program
    assert "$webConfig = [System.IO.Path]::Combine($folder, 'web.config')" in program and "$challengeWebConfig = '<?xml" in program


def test_only_a_pkcs7_chain_is_imported_by_the_cmdlet_itself(program):
    """Completing a pending request binds the CA's chain (public) to Import-ExchangeCertificate; anything else is a PFX
    step, imported by Import-Pfx, so no PFX byte reaches module logging (docs/remote-contract.md)."""
    assert "$signedDataOid = [byte[]](0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02)" in program
    assert "if ($name -ceq 'Import-ExchangeCertificate' -and -not (Test-CertificateChain $stepArgs)) {" in program
    body = program[program.index("function Test-CertificateChain"):program.index("function Import-Pfx")]
    assert "@('FileData', 'Server') -contains $key" in body and "-eq $computer" in body
    from exconf.lab.program import SIGNED_DATA_OID  # the lab's program takes the same shape

    assert bytes.fromhex("06092A864886F70D010702") == SIGNED_DATA_OID
