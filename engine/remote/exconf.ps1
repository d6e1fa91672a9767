param([string]$PayloadJson)
# exconf remote program (contract v1, docs/remote-contract.md). Runs under Windows PowerShell 5.1,
# started by the bootstrap in exconf/remote/__init__.py after it checked this file's SHA-256.
# Input: the payload JSON (data only). Output: exactly one line of ASCII JSON on standard output.
# Rules: no payload string ever becomes code. Cmdlet names come from $allowedCmdlets only and are
# resolved with Get-Command; values are passed only by splatting. Keep this file ASCII with LF endings.

# Every error is terminating, so nothing ends up on the error stream unanswered; host noise is off.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$VerbosePreference = 'SilentlyContinue'
# .ToString() of numbers and sizes ("35 MB (36,700,160 bytes)") follows the culture: make it the
# same on every server whatever its regional settings (invariant = en-US digits and separators).
[System.Threading.Thread]::CurrentThread.CurrentCulture = [System.Globalization.CultureInfo]::InvariantCulture

# Must equal exconf.remote.ALLOWED_CMDLETS (tests/test_remote_program.py checks it).
$allowedCmdlets = @(
    'Get-ExchangeServer',
    'Get-SendConnector',
    'Set-SendConnector',
    'Get-ReceiveConnector',
    'Set-ReceiveConnector',
    'Get-TransportService',
    'Set-TransportService',
    'Get-FrontendTransportService',
    'Set-FrontendTransportService',
    'Get-TransportConfig',
    'Set-TransportConfig'
)
# Common parameters and their aliases: a payload must not set them (-OutVariable could overwrite
# this program's variables, -ErrorAction could undo -ErrorAction Stop). PowerShell also binds any
# unambiguous prefix of a name, so a parameter name that is a prefix of one of these is refused too.
$reservedParameters = @('ErrorAction', 'WarningAction', 'InformationAction', 'ErrorVariable',
    'WarningVariable', 'InformationVariable', 'OutVariable', 'OutBuffer', 'PipelineVariable',
    'Verbose', 'Debug', 'UseTransaction', 'ea', 'wa', 'infa', 'ev', 'wv', 'iv', 'ov', 'ob', 'pv',
    'vb', 'db', 'usetx')
$integerTypes = @([System.Byte], [System.SByte], [System.Int16], [System.UInt16], [System.Int32],
    [System.UInt32], [System.Int64], [System.UInt64])

function Write-Answer($document) {
    # -Depth: the default depth of 2 would flatten results[].objects[] into type names.
    # -InputObject: piping would enumerate the document.
    $json = ConvertTo-Json -InputObject $document -Depth 8 -Compress
    # Windows PowerShell 5.1 leaves non-ASCII characters raw; escape each UTF-16 unit as \uXXXX so
    # the answer is ASCII whatever the console code page (a surrogate pair becomes two escapes).
    $ascii = New-Object System.Text.StringBuilder
    foreach ($c in $json.ToCharArray()) {
        if ([int]$c -lt 128) { [void]$ascii.Append($c) }
        else { [void]$ascii.Append('\u').Append(([int]$c).ToString('x4')) }
    }
    # [Console]::Out writes the text as is; the pipeline would add formatting and a line break.
    [Console]::Out.Write($ascii.ToString())
}

function Exit-Fatal([string]$message) {
    Write-Answer ([ordered]@{ exconf = 1; fatal = [ordered]@{ message = $message } })
    exit 1
}

function New-StepError($message, $errorId, $category, $exception) {
    [ordered]@{ message = [string]$message; error_id = [string]$errorId; category = [string]$category; exception = [string]$exception }
}

# A JSON parameter value -> the argument to splat. Throws on anything outside the contract.
function ConvertTo-Argument($value, [string]$name) {
    if ($null -eq $value) { return $null }
    if ($value -is [string] -or $value -is [bool] -or $value -is [int] -or $value -is [long] -or
        $value -is [decimal] -or $value -is [double] -or $value -is [DateTime]) { return $value }
    if ($value -is [System.Management.Automation.PSCustomObject]) {
        # ConvertFrom-Json gives a PSCustomObject, not a hashtable (no -AsHashtable in 5.1).
        $members = @($value.PSObject.Properties)
        if ($members.Count -eq 1 -and $members[0].Name -ceq 'exconf_ref' -and
            $members[0].Value -is [string] -and $members[0].Value -ceq 'ComputerName') {
            return [string]$env:COMPUTERNAME
        }
    } elseif ($value -is [array]) {
        # An empty array clears a multi-valued property: pass $null.
        if ($value.Count -eq 0) { return $null }
        $items = New-Object 'System.Collections.Generic.List[object]'
        $allStrings = $true
        foreach ($item in $value) {
            if ($item -is [array]) { throw "The value of parameter '$name' nests an array in an array." }
            $converted = ConvertTo-Argument $item $name
            if (-not ($converted -is [string])) { $allStrings = $false }
            $items.Add($converted)
        }
        # The unary comma keeps the array whole: a function's output is unrolled, and a
        # one-element array would arrive as a scalar, an empty one as $null.
        if ($allStrings) { return , ([string[]]$items.ToArray()) }
        return , ($items.ToArray())
    }
    throw "The value of parameter '$name' is not a string, number, boolean, null, array or {""exconf_ref"": ""ComputerName""}."
}

# A property value -> its JSON form, the same for live objects (local snap-in) and deserialized
# ones (remote sessions), per the contract's value rules.
function ConvertTo-AnswerValue($value) {
    if ($null -eq $value) { return $null }
    # An enum is its name. A deserialized enum is an Int32 whose type names say Deserialized.System.Enum
    # and whose ToString() is the name, so test it before the integers.
    if ($value -is [Enum] -or $value.PSObject.TypeNames -contains 'Deserialized.System.Enum') { return $value.ToString() }
    if ($value -is [bool]) { return [bool]$value }
    foreach ($type in $integerTypes) {
        if ($value -is $type) { return $value.PSObject.BaseObject }
    }
    if ($value -is [DateTime]) {
        # ConvertTo-Json would write "\/Date(...)\/"; the contract wants ISO 8601 UTC.
        return ([DateTime]$value).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    }
    # [string] drops any PSObject wrapper, which ConvertTo-Json 5.1 would write as an object.
    if ($value -is [string]) { return [string]$value }
    if ($value -is [System.Collections.IEnumerable]) {
        $items = New-Object 'System.Collections.Generic.List[object]'
        foreach ($item in $value) {
            if ($null -eq $item) { $items.Add($null) } else { $items.Add($item.ToString()) }
        }
        return , ($items.ToArray())
    }
    return $value.ToString()
}

function Invoke-Step($step) {
    $result = [ordered]@{ id = [string]$step.id; status = 'error' }
    $name = $step.cmdlet
    if (-not ($name -is [string] -and $allowedCmdlets -ccontains $name)) {
        $result['error'] = New-StepError "The cmdlet '$name' is not in exconf's allowlist." 'ExconfCmdletNotAllowed' 'PermissionDenied' 'UnauthorizedAccessException'
        return $result
    }
    $stage = 'arguments'
    try {
        $stepArgs = @{}
        if ($null -ne $step.params) {
            if (-not ($step.params -is [System.Management.Automation.PSCustomObject])) { throw "The params of step '$($result['id'])' are not a JSON object." }
            foreach ($member in $step.params.PSObject.Properties) {
                foreach ($reserved in $reservedParameters) {
                    if ($reserved.StartsWith($member.Name, [System.StringComparison]::OrdinalIgnoreCase)) {
                        throw "The parameter '$($member.Name)' is not allowed in an exconf step."
                    }
                }
                $stepArgs[$member.Name] = ConvertTo-Argument $member.Value $member.Name
            }
        }
        $stage = 'command'
        # Resolved only after the allowlist check, and only as a compiled cmdlet (never a function
        # or alias of that name); the first match if two snap-ins both provide it.
        $command = Get-Command -Name $name -CommandType Cmdlet -ErrorAction Stop | Select-Object -First 1
        $stepWarnings = $null
        # @() keeps the output an array even for zero or one object.
        $output = @(& $command @stepArgs -ErrorAction Stop -WarningAction SilentlyContinue -WarningVariable stepWarnings)
        $select = @()
        # @($null) would be an array holding one $null, so test for an absent select first.
        if ($null -ne $step.select) { $select = @($step.select) }
        $objects = New-Object 'System.Collections.Generic.List[object]'
        if ($select.Count -gt 0) {
            foreach ($item in $output) {
                if ($null -eq $item) { continue }
                $row = [ordered]@{}
                foreach ($property in $select) {
                    $key = [string]$property
                    $member = $item.PSObject.Properties[$key]
                    if ($null -ne $member) { $row[$key] = ConvertTo-AnswerValue $member.Value }
                }
                $objects.Add($row)
            }
        }
        $warnings = New-Object 'System.Collections.Generic.List[object]'
        foreach ($warning in @($stepWarnings)) {
            if ($null -ne $warning) { $warnings.Add([string]$warning.Message) }
        }
        $result['status'] = 'ok'
        $result['objects'] = $objects.ToArray()
        $result['warnings'] = $warnings.ToArray()
    } catch {
        $record = $_
        if ($stage -eq 'arguments') {
            $result['error'] = New-StepError $record.Exception.Message 'ExconfBadParameter' 'InvalidArgument' 'ArgumentException'
        } else {
            # With -ErrorAction Stop the catch sees the cmdlet's own ErrorRecord and exception.
            $result['error'] = New-StepError $record.Exception.Message $record.FullyQualifiedErrorId $record.CategoryInfo.Category $record.Exception.GetType().Name
        }
    }
    return $result
}

$computer = [string]$env:COMPUTERNAME
try {
    try { $payload = ConvertFrom-Json -InputObject $PayloadJson }
    catch { Exit-Fatal "The payload is not valid JSON: $($_.Exception.Message)" }
    $version = $null
    if ($payload -is [System.Management.Automation.PSCustomObject]) { $version = $payload.exconf }
    # -is first: -eq would convert ('1' -eq 1 and $true -eq 1 are both true).
    if (-not (($version -is [int] -or $version -is [long]) -and $version -eq 1)) {
        Exit-Fatal "Unsupported payload version '$version': this program speaks exconf version 1."
    }

    # Edge Transport: registry key ...\v15\EdgeTransportRole [cmdlets.md 1b; dpaulson45
    # Confirm-ExchangeShell.ps1].
    $edge = [bool](Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\v15\EdgeTransportRole')
    if ($null -eq (Get-Command -Name 'Get-ExchangeServer' -CommandType Cmdlet -ErrorAction SilentlyContinue)) {
        try {
            if ($edge) {
                # Edge has no remote PowerShell: its EMS is the snap-ins listed in exshell.psc1
                # [cmdlets.md 1b; PSC exchange-management-shell.md, open-the-exchange-management-shell.md].
                $console = New-Object System.Xml.XmlDocument
                $console.Load((Join-Path -Path $env:ExchangeInstallPath -ChildPath 'Bin\exshell.psc1'))
                foreach ($node in $console.SelectNodes('/PSConsoleFile/PSSnapIns/PSSnapIn')) {
                    $snapIn = $node.GetAttribute('Name')
                    if ($null -eq (Get-PSSnapin -Name $snapIn -ErrorAction SilentlyContinue)) { Add-PSSnapin -Name $snapIn }
                }
            } else {
                # Exchange 2013+ documents ...PowerShell.SnapIn; Microsoft's own collector still adds
                # ...E2010 for local runspaces [cmdlets.md 1b; PSC control-remote-powershell-access;
                # jpmessaging/CollectExchangeInfo].
                try { Add-PSSnapin -Name 'Microsoft.Exchange.Management.PowerShell.SnapIn' }
                catch { Add-PSSnapin -Name 'Microsoft.Exchange.Management.PowerShell.E2010' }
            }
            if ($null -eq (Get-Command -Name 'Get-ExchangeServer' -CommandType Cmdlet -ErrorAction SilentlyContinue)) {
                throw 'the snap-ins loaded but Get-ExchangeServer is still missing'
            }
        } catch {
            # ${computer}: "$computer:" would be read as a drive-qualified variable name.
            Exit-Fatal "Exchange Management Shell snap-in not found on ${computer}: $($_.Exception.Message)"
        }
    }

    $halt = $payload.halt_on_error -ne $false
    $steps = @()
    if ($null -ne $payload.steps) { $steps = @($payload.steps) }
    $results = New-Object 'System.Collections.Generic.List[object]'
    $failed = $false
    foreach ($step in $steps) {
        if ($halt -and $failed) {
            $results.Add([ordered]@{ id = [string]$step.id; status = 'not_run' })
        } elseif ($edge -and $step.skip_on_edge -eq $true) {
            $results.Add([ordered]@{ id = [string]$step.id; status = 'not_applicable' })
        } else {
            $result = Invoke-Step $step
            if ($result['status'] -ne 'ok') { $failed = $true }
            $results.Add($result)
        }
    }
    Write-Answer ([ordered]@{ exconf = 1; computer = $computer; edge = $edge; results = $results.ToArray() })
} catch {
    Exit-Fatal "The exconf program failed on ${computer}: $($_.Exception.Message)"
}
exit 0
