param([string]$PayloadJson)
# exconf remote program, contract v3 (docs/remote-contract.md). Windows PowerShell 5.1 syntax only.
# The bootstrap (exconf/remote/__init__.py) checks its SHA-256 once, then runs it for each payload line
# on standard input, with the payload JSON as the only argument, in the same powershell.exe: each run
# prints exactly one line of ASCII JSON, the answer, then the answer's end (a line of four NULs), and
# returns to the bootstrap, which waits for the next payload; only a fatal error ends the process.
# No payload string ever becomes code: cmdlet names must be in $allowedCmdlets and are resolved with
# Get-Command; values reach a cmdlet only as splatted parameters. Keep this file ASCII with LF endings.
# Module logging (event 4103) records every value bound to a cmdlet parameter, so neither the payload
# (secrets, PFX bytes) nor the answer (an Edge Subscription file) is ever bound to one: Read-Json and
# Write-Answer below do what ConvertFrom-Json and ConvertTo-Json would, .NET objects are made with
# ::new(), and a secret becomes a SecureString character by character (never ConvertTo-SecureString).
# Only the steps' own parameters reach a cmdlet, except a PFX: Import-ExchangeCertificate steps are done
# by Import-Pfx below, and only the thumbprint reaches a cmdlet.

# Every error is terminating, so each one is caught and answered; no progress or warning output.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
# .ToString() of numbers and sizes ("35 MB (36,700,160 bytes)") follows the culture: make it the
# same on every server whatever its regional settings (invariant = en-US digits and separators).
[System.Threading.Thread]::CurrentThread.CurrentCulture = [System.Globalization.CultureInfo]::InvariantCulture

# Must equal exconf.remote.ALLOWED_CMDLETS (tests/test_remote_program.py checks it).
$allowedCmdlets = @(
    'Get-ExchangeServer', 'Get-SendConnector', 'Set-SendConnector', 'Get-ReceiveConnector',
    'Set-ReceiveConnector', 'Get-TransportService', 'Set-TransportService',
    'Get-FrontendTransportService', 'Set-FrontendTransportService', 'Get-TransportConfig',
    'Set-TransportConfig', 'Get-ExchangeCertificate', 'Enable-ExchangeCertificate',
    'New-ExchangeCertificate', 'Import-ExchangeCertificate', 'Export-ExchangeCertificate',
    'Remove-ExchangeCertificate', 'New-EdgeSubscription', 'Get-EdgeSubscription',
    'Remove-EdgeSubscription', 'Start-EdgeSynchronization', 'Test-EdgeSynchronization',
    'Restart-Service', 'Search-AdminAuditLog', 'Get-ImapSettings', 'Get-PopSettings', 'Get-AuthConfig',
    'Set-AuthConfig', 'Get-OwaVirtualDirectory', 'Get-EcpVirtualDirectory', 'Get-WebServicesVirtualDirectory',
    'Get-OabVirtualDirectory', 'Get-ActiveSyncVirtualDirectory', 'Get-MapiVirtualDirectory',
    'Get-AutodiscoverVirtualDirectory', 'Get-OutlookAnywhere', 'Get-ClientAccessService', 'Get-AcceptedDomain',
    'Restart-WebAppPool', 'Set-Content', 'Remove-Item')
# Restart-Service and Restart-WebAppPool only for these (AD LDS on an Edge; the Auth certificate's service and app
# pools on a Mailbox server); Set-Content and Remove-Item only on one ACME challenge file (web_file).
$restartableServices = @('ADAM_MSExchange', 'MSExchangeServiceHost')
$restartableAppPools = @('MSExchangeOWAAppPool', 'MSExchangeECPAppPool')
# What lets IIS serve a challenge file, which has no extension (404.3 otherwise): a MIME type for ".", as ACME
# clients for IIS write it (win-acme's web_config.xml).
$challengeWebConfig = '<?xml version="1.0" encoding="UTF-8"?><configuration><system.webServer><staticContent><clear /><mimeMap fileExtension="." mimeType="text/plain" /></staticContent><handlers><clear /><add name="StaticFile" path="*" verb="*" modules="StaticFileModule" resourceType="Either" requireAccess="Read" /></handlers></system.webServer></configuration>'
# Common parameters and their aliases are not the payload's to set: -OutVariable could overwrite
# this program's variables, -ErrorAction undo -ErrorAction Stop. PowerShell binds any unambiguous
# prefix of a parameter name, so a name that is a prefix of one of these is refused as well.
$reservedParameters = @('ErrorAction', 'WarningAction', 'InformationAction', 'ErrorVariable',
    'WarningVariable', 'InformationVariable', 'OutVariable', 'OutBuffer', 'PipelineVariable',
    'Verbose', 'Debug', 'UseTransaction', 'ea', 'wa', 'infa', 'ev', 'wv', 'iv', 'ov', 'ob', 'pv',
    'vb', 'db', 'usetx')
$integerTypes = @([System.Byte], [System.SByte], [System.Int16], [System.UInt16], [System.Int32],
    [System.UInt32], [System.Int64], [System.UInt64])

$invariant = [System.Globalization.CultureInfo]::InvariantCulture
$jsonNumber = [regex]'\G-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?'
$jsonStops = [char[]]@(34, 92)  # " and \
$jsonControl = [regex]'[\x00-\x1F]'

# JSON text -> what ConvertFrom-Json gives: PSCustomObjects (members in order, names without case),
# object[], strings, Int32/Int64/Decimal/Double, booleans and $null. $at[0] is the read position.
function Read-Json([string]$text) {
    $at = [int[]]@(0)
    $value = Read-JsonValue $text $at 0
    Skip-JsonSpace $text $at
    if ($at[0] -ne $text.Length) { throw "Unexpected character at position $($at[0])." }
    return , $value
}

function Skip-JsonSpace([string]$text, [int[]]$at) {
    while ($at[0] -lt $text.Length -and ' ', "`t", "`n", "`r" -ccontains [string]$text[$at[0]]) { $at[0]++ }
}

function Read-JsonValue([string]$text, [int[]]$at, [int]$depth) {
    if ($depth -gt 64) { throw 'The JSON nests deeper than 64 levels.' }
    Skip-JsonSpace $text $at
    if ($at[0] -ge $text.Length) { throw 'Unexpected end of the JSON text.' }
    $c = [string]$text[$at[0]]
    if ($c -ceq '"') { return Read-JsonString $text $at }
    if ($c -ceq '{' -or $c -ceq '[') {
        $object = $c -ceq '{'
        $close = if ($object) { '}' } else { ']' }
        $members = [ordered]@{}
        $items = [System.Collections.Generic.List[object]]::new()
        $at[0]++
        Skip-JsonSpace $text $at
        $more = -not ($at[0] -lt $text.Length -and [string]$text[$at[0]] -ceq $close)
        while ($more) {
            if ($object) {
                Skip-JsonSpace $text $at
                if ($at[0] -ge $text.Length -or [string]$text[$at[0]] -cne '"') { throw "Expected a name at position $($at[0])." }
                $name = Read-JsonString $text $at
                Skip-JsonSpace $text $at
                if ($at[0] -ge $text.Length -or [string]$text[$at[0]] -cne ':') { throw "Expected ':' at position $($at[0])." }
                $at[0]++
                $members[$name] = Read-JsonValue $text $at ($depth + 1)
            } else { $items.Add((Read-JsonValue $text $at ($depth + 1))) }
            Skip-JsonSpace $text $at
            if ($at[0] -ge $text.Length) { throw 'Unexpected end of the JSON text.' }
            $more = [string]$text[$at[0]] -ceq ','
            if (-not $more -and [string]$text[$at[0]] -cne $close) { throw "Expected ',' or '$close' at position $($at[0])." }
            if ($more) { $at[0]++ }
        }
        $at[0]++
        if ($object) { return [pscustomobject]$members }
        return , $items.ToArray()
    }
    foreach ($literal in @(@('true', $true), @('false', $false), @('null', $null))) {
        if ([string]::CompareOrdinal($text, $at[0], $literal[0], 0, $literal[0].Length) -eq 0) {
            $at[0] += $literal[0].Length
            return $literal[1]
        }
    }
    $number = $jsonNumber.Match($text, $at[0])
    if (-not $number.Success) { throw "Unexpected character at position $($at[0])." }
    $at[0] += $number.Length
    if ($number.Groups[1].Success -or $number.Groups[2].Success) { return [double]::Parse($number.Value, $invariant) }
    $long = [long]0
    if (-not [long]::TryParse($number.Value, [System.Globalization.NumberStyles]::AllowLeadingSign, $invariant, [ref]$long)) {
        return [decimal]::Parse($number.Value, $invariant)
    }
    if ($long -ge [int]::MinValue -and $long -le [int]::MaxValue) { return [int]$long }
    return $long
}

function Read-JsonString([string]$text, [int[]]$at) {
    $builder = [System.Text.StringBuilder]::new()
    $i = $at[0] + 1
    while ($true) {
        $stop = $text.IndexOfAny($jsonStops, $i)
        if ($stop -lt 0) { throw 'Unterminated string in the JSON text.' }
        $run = $text.Substring($i, $stop - $i)
        if ($jsonControl.IsMatch($run)) { throw 'A control character in a JSON string.' }
        [void]$builder.Append($run)
        if ([string]$text[$stop] -ceq '"') { $at[0] = $stop + 1; return $builder.ToString() }
        $escape = if ($stop + 1 -lt $text.Length) { [string]$text[$stop + 1] } else { '' }
        $i = $stop + 2
        switch -CaseSensitive ($escape) {
            '"' { [void]$builder.Append('"') }
            '\' { [void]$builder.Append('\') }
            '/' { [void]$builder.Append('/') }
            'b' { [void]$builder.Append([char]8) }
            'f' { [void]$builder.Append([char]12) }
            'n' { [void]$builder.Append([char]10) }
            'r' { [void]$builder.Append([char]13) }
            't' { [void]$builder.Append([char]9) }
            'u' {
                if ($i + 4 -gt $text.Length -or $text.Substring($i, 4) -notmatch '^[0-9A-Fa-f]{4}$') { throw "Invalid \u escape at position $stop." }
                [void]$builder.Append([char][System.Convert]::ToInt32($text.Substring($i, 4), 16))
                $i += 4
            }
            default { throw "Invalid escape in a JSON string at position $stop." }
        }
    }
}

# A value -> JSON text, ASCII only: every other UTF-16 unit is escaped as \uXXXX, so the answer is
# ASCII whatever the console code page (a surrogate pair becomes two escapes).
function Write-JsonValue([System.Text.StringBuilder]$out, $value) {
    if ($null -eq $value) { [void]$out.Append('null') }
    elseif ($value -is [bool]) { [void]$out.Append($(if ($value) { 'true' } else { 'false' })) }
    elseif ($value -is [string]) { Write-JsonString $out $value }
    elseif ($value -is [System.Collections.IDictionary]) {
        [void]$out.Append('{')
        $separator = ''
        foreach ($key in $value.Keys) {
            [void]$out.Append($separator)
            $separator = ','
            Write-JsonString $out ([string]$key)
            [void]$out.Append(':')
            Write-JsonValue $out $value[$key]
        }
        [void]$out.Append('}')
    } elseif ($value -is [System.Collections.IEnumerable]) {
        [void]$out.Append('[')
        $separator = ''
        foreach ($item in $value) { [void]$out.Append($separator); $separator = ','; Write-JsonValue $out $item }
        [void]$out.Append(']')
    } elseif ($value -is [double]) { [void]$out.Append($value.ToString('R', $invariant)) }
    elseif ($value -is [decimal] -or (Test-Integer $value)) { [void]$out.Append($value.ToString($invariant)) }
    else { Write-JsonString $out ([string]$value) }
}

function Test-Integer($value) {
    foreach ($type in $integerTypes) { if ($value -is $type) { return $true } }
    return $false
}

function Write-JsonString([System.Text.StringBuilder]$out, [string]$text) {
    [void]$out.Append('"')
    foreach ($c in $text.ToCharArray()) {
        if ([int]$c -lt 32 -or [int]$c -gt 126 -or $c -ceq '"' -or $c -ceq '\') { [void]$out.Append('\u').Append(([int]$c).ToString('x4')) }
        else { [void]$out.Append($c) }
    }
    [void]$out.Append('"')
}

function Write-Answer($document) {
    $json = [System.Text.StringBuilder]::new()
    Write-JsonValue $json $document
    # [Console]::Out writes the text as it is; the output pipeline would format it. Its writer flushes on
    # every Write (StreamWriter.AutoFlush: "Console.Out is one of these cases"), so the answer and its end
    # reach the client while this process waits for its next payload. The end line (CR LF, four NULs,
    # CR LF) cannot occur in the JSON, which escapes every control character.
    [Console]::Out.Write($json.ToString() + "`r`n`0`0`0`0`r`n")
}

function Exit-Fatal([string]$message) {
    Write-Answer ([ordered]@{ exconf = 3; fatal = [ordered]@{ message = $message } })
    exit 1
}

function New-StepError($message, $errorId, $category, $exception) {
    [ordered]@{ message = [string]$message; error_id = [string]$errorId; category = [string]$category; exception = [string]$exception }
}

# A JSON parameter value -> the argument to splat; throws on anything outside the contract.
# The marker objects: {"exconf_ref":"ComputerName"}, {"exconf_ref":"Output","step":..,"property":..}
# (a property of the one object an earlier step returned), {"exconf_bytes":"<base64>"} (a byte[])
# and {"exconf_secret":"<text>"} (a SecureString; the text is never echoed in a message).
function ConvertTo-Argument($value, [string]$name, [bool]$inArray = $false) {
    if ($null -eq $value) { return $null }
    if ($value -is [string] -or $value -is [bool] -or $value -is [int] -or $value -is [long] -or
        $value -is [decimal] -or $value -is [double]) { return $value }
    if ($value -is [System.Management.Automation.PSCustomObject]) {
        # Read-Json gives PSCustomObjects, as ConvertFrom-Json would: read them by PSObject.Properties.
        $members = @($value.PSObject.Properties)
        $marker = $members[0].Name
        $text = $members[0].Value
        if ($members.Count -eq 1 -and $marker -ceq 'exconf_ref' -and $text -is [string] -and $text -ceq 'ComputerName') {
            return [string]$env:COMPUTERNAME
        }
        if ($members.Count -eq 3 -and $marker -ceq 'exconf_ref' -and $text -is [string] -and $text -ceq 'Output' -and
            $members[1].Name -ceq 'step' -and $members[1].Value -is [string] -and
            $members[2].Name -ceq 'property' -and $members[2].Value -is [string]) {
            $source = $members[1].Value
            if (-not $stepOutputs.ContainsKey($source)) { throw "Parameter '$name' refers to the output of step '$source', which has not run successfully before this step." }
            $objects = @($stepOutputs[$source])
            if ($objects.Count -ne 1) { throw "Parameter '$name' refers to the output of step '$source', which returned $($objects.Count) objects instead of one." }
            $found = $objects[0].PSObject.Properties[$members[2].Value]
            if ($null -eq $found) { throw "Parameter '$name' refers to property '$($members[2].Value)' of step '$source', whose output has no such property." }
            return , $found.Value
        }
        if ($members.Count -eq 1 -and $marker -ceq 'exconf_bytes' -and $text -is [string] -and -not $inArray) {
            try { $bytes = [System.Convert]::FromBase64String($text) }
            catch { throw "The value of parameter '$name' is not valid base64." }
            return , $bytes
        }
        if ($members.Count -eq 1 -and $marker -ceq 'exconf_secret' -and $text -is [string] -and -not $inArray) {
            $secure = [System.Security.SecureString]::new()
            foreach ($c in $text.ToCharArray()) { $secure.AppendChar($c) }
            $secure.MakeReadOnly()
            return , $secure
        }
    } elseif ($value -is [array]) {
        if ($value.Count -eq 0) { return $null }  # an empty array clears a multi-valued property
        $items = [System.Collections.Generic.List[object]]::new()
        $allStrings = $true
        foreach ($item in $value) {
            if ($item -is [array]) { throw "The value of parameter '$name' nests an array in an array." }
            $converted = ConvertTo-Argument $item $name $true
            if (-not ($converted -is [string])) { $allStrings = $false }
            $items.Add($converted)
        }
        # The unary comma returns the array whole: function output is unrolled, so a one-element
        # array would arrive as a scalar (and an empty one as $null).
        if ($allStrings) { return , ([string[]]$items.ToArray()) }
        return , ($items.ToArray())
    }
    throw "The value of parameter '$name' is not a string, number, boolean, null, array or one of the contract's marker objects."
}

# A property value -> its JSON form, the same whether the object is live (local snap-in) or
# deserialized (remote session), following the contract's value rules.
function ConvertTo-AnswerValue($value) {
    if ($null -eq $value) { return $null }
    # An enum is its name. A deserialized enum is an Int32 whose type names include
    # Deserialized.System.Enum and whose ToString() is the name: test it before the integers.
    if ($value -is [Enum] -or $value.PSObject.TypeNames -contains 'Deserialized.System.Enum') { return $value.ToString() }
    if ($value -is [bool]) { return [bool]$value }
    # A byte array (FileData of an export or a binary request) travels whole, as base64.
    if ($value -is [byte[]]) { return [ordered]@{ exconf_bytes = [System.Convert]::ToBase64String($value) } }
    foreach ($type in $integerTypes) { if ($value -is $type) { return $value.PSObject.BaseObject } }
    if ($value -is [DateTime]) {
        # The contract wants ISO 8601 in UTC.
        return ([DateTime]$value).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    }
    # [string] drops a PSObject wrapper.
    if ($value -is [string]) { return [string]$value }
    if ($value -is [System.Collections.IEnumerable]) {
        $items = [System.Collections.Generic.List[object]]::new()
        foreach ($item in $value) {
            if ($null -eq $item) { $items.Add($null) } else { $items.Add($item.ToString()) }
        }
        return , ($items.ToArray())
    }
    return $value.ToString()
}

# Import-ExchangeCertificate -FileData takes the PFX only as a byte[] (its -FileName is gone since the 2022 H1
# CUs of 2016/2019 [PS Import-ExchangeCertificate.md]), which module logging writes out as its numbers. So the
# program does what the cmdlet's server side does (ExchangeCertificateServerHelper.ImportCertificate, Exchange
# 2013 [SRC PiratesRE/exchange_diff]): key flags MachineKeySet, PersistKeySet and Exportable only for
# -PrivateKeyExportable $true; refused when LocalMachine\My has the thumbprint; FriendlyName; X509Store.Add.
# The SecureString goes to X509Certificate2's constructor, which keeps the PFX's certificate with a private key
# (else its first one: CLR FilterPFXStore). Get-ExchangeCertificate -Thumbprint then gives the cmdlet's output.
$pfxParameters = @('FileData', 'Password', 'PrivateKeyExportable', 'FriendlyName', 'Server')
function Assert-PfxArguments([hashtable]$stepArgs) {
    $ok = $stepArgs['FileData'] -is [byte[]] -and $stepArgs['Password'] -is [System.Security.SecureString] -and
        ($null -eq $stepArgs['PrivateKeyExportable'] -or $stepArgs['PrivateKeyExportable'] -is [bool]) -and
        ($null -eq $stepArgs['FriendlyName'] -or $stepArgs['FriendlyName'] -is [string]) -and
        ($null -eq $stepArgs['Server'] -or ($stepArgs['Server'] -is [string] -and $stepArgs['Server'] -eq $computer))
    foreach ($key in $stepArgs.Keys) { if (-not ($pfxParameters -contains $key)) { $ok = $false } }
    if (-not $ok) { throw 'Import-ExchangeCertificate runs in an exconf step only as -FileData <PFX> -Password <SecureString> [-PrivateKeyExportable <bool>] [-FriendlyName <string>] [-Server <this server>].' }
}

# Completing a pending request (EXD "Complete a pending Exchange Server certificate request") is the other
# Import-ExchangeCertificate: -FileData the CA's chain, public, no password; the cmdlet itself matches it to the
# request's key, so it runs as it is. Only a DER PKCS#7 signedData (OID 1.2.840.113549.1.7.2 after the outer
# SEQUENCE) is taken that way: a PFX begins with its version, never this, so no PFX byte is ever bound.
$signedDataOid = [byte[]](0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02)
function Test-CertificateChain([hashtable]$stepArgs) {
    $data = $stepArgs['FileData']
    if (-not ($data -is [byte[]]) -or $data.Length -lt 16 -or $data[0] -ne 0x30) { return $false }
    $at = 2
    if ($data[1] -ge 0x80) { $at = 2 + ($data[1] -band 0x7f) }
    if ($at + $signedDataOid.Length -gt $data.Length) { return $false }
    for ($i = 0; $i -lt $signedDataOid.Length; $i++) { if ($data[$at + $i] -ne $signedDataOid[$i]) { return $false } }
    foreach ($key in $stepArgs.Keys) { if (-not (@('FileData', 'Server') -contains $key)) { return $false } }
    return ($null -eq $stepArgs['Server'] -or ($stepArgs['Server'] -is [string] -and $stepArgs['Server'] -eq $computer))
}

function Import-Pfx([hashtable]$stepArgs) {
    $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]'MachineKeySet, PersistKeySet'
    if ($stepArgs['PrivateKeyExportable']) { $flags = $flags -bor [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::Exportable }
    $certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($stepArgs['FileData'], $stepArgs['Password'], $flags)
    $store = [System.Security.Cryptography.X509Certificates.X509Store]::new('My', 'LocalMachine')
    $store.Open('ReadWrite, OpenExistingOnly')
    try {
        if ($store.Certificates.Find('FindByThumbprint', $certificate.Thumbprint, $false).Count -gt 0) {
            throw [System.InvalidOperationException]::new("The certificate with thumbprint $($certificate.Thumbprint) already exists in the certificate store.")
        }
        if ($stepArgs['FriendlyName']) { $certificate.FriendlyName = $stepArgs['FriendlyName'] }
        $store.Add($certificate)
    } finally { $store.Close() }
    return @{ Thumbprint = $certificate.Thumbprint; Server = $computer }
}

function Invoke-Step($step) {
    $result = [ordered]@{ id = [string]$step.id; status = 'error' }
    $name = $step.cmdlet
    if (-not ($name -is [string] -and $allowedCmdlets -ccontains $name)) {
        $result['error'] = New-StepError "The cmdlet '$name' is not in exconf's allowlist." 'ExconfCmdletNotAllowed' 'PermissionDenied' 'UnauthorizedAccessException'
        return $result
    }
    $stage = 'arguments'
    $outputPath = $null
    try {
        $stepArgs = @{}
        if ($null -ne $step.params) {
            if (-not ($step.params -is [System.Management.Automation.PSCustomObject])) { throw 'The params of the step are not a JSON object.' }
            foreach ($member in $step.params.PSObject.Properties) {
                $key = $member.Name
                $refused = $key -notmatch '^[A-Za-z][A-Za-z0-9]*$'
                foreach ($reserved in $reservedParameters) { if ($reserved.StartsWith($key, 'OrdinalIgnoreCase')) { $refused = $true } }
                if ($refused) { throw "The parameter name '$key' is not allowed in an exconf step." }
                $stepArgs[$key] = ConvertTo-Argument $member.Value $key
            }
        }
        # Restart-Service only restarts AD LDS on an Edge (cmdlets.md 6 and 9), with -Force for the services
        # that depend on it, or MSExchangeServiceHost (the Auth certificate's servicelet), nothing else.
        $restartArgs = $stepArgs.Count -eq 1 -or ($stepArgs.Count -eq 2 -and $stepArgs['Force'] -is [bool] -and $stepArgs['Force'])
        if ($name -ceq 'Restart-Service' -and -not ($restartArgs -and $stepArgs['Name'] -is [string] -and
                $restartableServices -contains $stepArgs['Name'] -and $null -eq $step.output_file -and $null -eq $step.web_file)) {
            throw 'Restart-Service runs only as -Name ADAM_MSExchange or MSExchangeServiceHost [-Force] in an exconf step.'
        }
        if ($name -ceq 'Restart-WebAppPool' -and -not ($stepArgs.Count -eq 1 -and $stepArgs['Name'] -is [string] -and
                $restartableAppPools -contains $stepArgs['Name'] -and $null -eq $step.output_file -and $null -eq $step.web_file)) {
            throw 'Restart-WebAppPool runs only as -Name MSExchangeOWAAppPool or MSExchangeECPAppPool in an exconf step.'
        }
        # Set-Content and Remove-Item only on one file of the Default Web Site's /.well-known/acme-challenge/
        # (RFC 8555 8.3): the program, never the payload, chooses the path, from the web root IIS setup records.
        $webFilePath = $null
        if ($name -ceq 'Set-Content' -or $name -ceq 'Remove-Item' -or $null -ne $step.web_file) {
            $token = $step.web_file
            $valueOk = $stepArgs.Count -eq 0
            if ($name -ceq 'Set-Content') {
                $valueOk = $stepArgs.Count -eq 1 -and $stepArgs['Value'] -is [string] -and $stepArgs['Value'] -cmatch '^[A-Za-z0-9_.-]{1,1024}$'
            }
            if (-not (($name -ceq 'Set-Content' -or $name -ceq 'Remove-Item') -and $token -is [string] -and
                    $token -cmatch '^[A-Za-z0-9_-]{1,255}$' -and $valueOk -and $null -eq $step.output_file)) {
                throw 'Set-Content and Remove-Item run only on an ACME challenge file named by web_file, Set-Content with -Value alone.'
            }
            $webRoot = [Microsoft.Win32.Registry]::GetValue('HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\InetStp', 'PathWWWRoot', $null)
            # .NET, not Join-Path or Test-Path: the program's own commands bind no value (module logging, event 4103).
            $folder = [System.IO.Path]::Combine([Environment]::ExpandEnvironmentVariables([string]$webRoot), '.well-known', 'acme-challenge')
            $webFilePath = [System.IO.Path]::Combine($folder, $token)
            if ($name -ceq 'Set-Content') {
                [void][System.IO.Directory]::CreateDirectory($folder)
                $webConfig = [System.IO.Path]::Combine($folder, 'web.config')
                if (-not [System.IO.File]::Exists($webConfig)) { [System.IO.File]::WriteAllText($webConfig, $challengeWebConfig) }
                $stepArgs['NoNewline'] = $true
                $stepArgs['Encoding'] = 'ASCII'
            }
            $stepArgs['LiteralPath'] = $webFilePath
        }
        # output_file: the program, never the payload, chooses the path the cmdlet writes to.
        if ($null -ne $step.output_file) {
            $fileParameter = [string]$step.output_file
            if ($fileParameter -notmatch '^[A-Za-z][A-Za-z0-9]*$' -or $stepArgs.ContainsKey($fileParameter)) {
                throw "The output_file '$fileParameter' is not a parameter name the step leaves free."
            }
            # .xml: New-EdgeSubscription refuses any other extension (ErrorSubscriptionFileMustBeXml).
            $outputPath = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath ('exconf-' + [System.Guid]::NewGuid().ToString('N') + '.xml')
            $stepArgs[$fileParameter] = $outputPath
        }
        if ($name -ceq 'Import-ExchangeCertificate' -and -not (Test-CertificateChain $stepArgs)) {
            Assert-PfxArguments $stepArgs
            $stage = 'store'
            $stepArgs = Import-Pfx $stepArgs
            $name = 'Get-ExchangeCertificate'
        }
        $stage = 'command'
        # Resolved only after the allowlist check, and only as a compiled cmdlet (not a function or
        # alias of that name); the first one if two snap-ins provide it.
        $command = Get-Command -Name $name -CommandType Cmdlet -ErrorAction Stop | Select-Object -First 1
        $stepWarnings = $null
        # @() keeps the output an array for zero or one object too. A challenge file already gone is not removed again.
        if ($name -ceq 'Remove-Item' -and -not [System.IO.File]::Exists($webFilePath)) { $output = @() }
        else { $output = @(& $command @stepArgs -ErrorAction Stop -WarningAction SilentlyContinue -WarningVariable stepWarnings) }
        # An absent select must stay empty: @($null) is an array holding one $null.
        $select = @()
        if ($null -ne $step.select) { $select = @($step.select) }
        $objects = [System.Collections.Generic.List[object]]::new()
        foreach ($item in $output) {
            if ($null -eq $item -or $select.Count -eq 0) { continue }
            $row = [ordered]@{}
            foreach ($property in $select) {
                # "A.B" reads property B of property A (SignatureAlgorithm.FriendlyName); a missing one is left out.
                $found = $null
                $current = $item
                foreach ($part in ([string]$property).Split('.')) {
                    if ($null -eq $current) { $found = $null; break }
                    $found = $current.PSObject.Properties[$part]
                    if ($null -eq $found) { break }
                    $current = $found.Value
                }
                if ($null -ne $found) { $row[[string]$property] = ConvertTo-AnswerValue $found.Value }
            }
            $objects.Add($row)
        }
        $warnings = [System.Collections.Generic.List[object]]::new()
        foreach ($warning in $stepWarnings) { if ($null -ne $warning) { $warnings.Add([string]$warning.Message) } }
        $result['status'] = 'ok'
        $result['objects'] = $objects.ToArray()
        $result['warnings'] = $warnings.ToArray()
        if ($null -ne $outputPath) {
            $result['file'] = $null
            if ([System.IO.File]::Exists($outputPath)) { $result['file'] = [System.Convert]::ToBase64String([System.IO.File]::ReadAllBytes($outputPath)) }
        }
        $stepOutputs[[string]$step.id] = $output
    } catch {
        $record = $_
        if ($stage -eq 'arguments') {
            $result['error'] = New-StepError $record.Exception.Message 'ExconfBadParameter' 'InvalidArgument' 'ArgumentException'
        } elseif ($stage -eq 'store') {
            # .NET's own exception (CryptographicException: a wrong password), not PowerShell's wrapper.
            $exception = $record.Exception
            if ($exception -is [System.Management.Automation.MethodInvocationException] -and $null -ne $exception.InnerException) { $exception = $exception.InnerException }
            $type = $exception.GetType().Name
            $result['error'] = New-StepError $exception.Message.Trim() $type 'InvalidOperation' $type
        } else {
            # With -ErrorAction Stop the catch sees the cmdlet's own ErrorRecord and exception.
            $result['error'] = New-StepError $record.Exception.Message $record.FullyQualifiedErrorId $record.CategoryInfo.Category ($record.Exception.GetType().Name)
        }
    } finally {
        if ($null -ne $outputPath -and [System.IO.File]::Exists($outputPath)) { [System.IO.File]::Delete($outputPath) }
    }
    return $result
}

$computer = [string]$env:COMPUTERNAME
try {
    try { $payload = Read-Json $PayloadJson }
    catch { Exit-Fatal "The payload is not valid JSON: $($_.Exception.Message)" }
    $version = $null
    if ($payload -is [System.Management.Automation.PSCustomObject]) { $version = $payload.exconf }
    # -is first: -eq converts ('1' -eq 1 and $true -eq 1 are both true). 5.1 gives Int32, 7 Int64.
    if (-not (($version -is [int] -or $version -is [long]) -and $version -eq 3)) {
        Exit-Fatal "Unsupported payload version '$version': this program speaks exconf version 3."
    }

    # Edge Transport is told by the registry key ...\v15\EdgeTransportRole [cmdlets.md 1b, after
    # dpaulson45/PublicPowerShellFunctions Confirm-ExchangeShell.ps1].
    $edge = [bool](Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\ExchangeServer\v15\EdgeTransportRole')
    if ($null -eq (Get-Command -Name 'Get-ExchangeServer' -CommandType Cmdlet -ErrorAction SilentlyContinue)) {
        try {
            if ($edge) {
                # Edge has no remote PowerShell; its shell is the snap-ins listed in Bin\exshell.psc1
                # [cmdlets.md 1b; PSC exchange-management-shell.md, open-the-exchange-management-shell.md].
                $console = [System.Xml.XmlDocument]::new()
                $console.Load((Join-Path -Path $env:ExchangeInstallPath -ChildPath 'Bin\exshell.psc1'))
                foreach ($node in $console.SelectNodes('/PSConsoleFile/PSSnapIns/PSSnapIn')) {
                    $snapIn = $node.GetAttribute('Name')
                    if ($null -eq (Get-PSSnapin -Name $snapIn -ErrorAction SilentlyContinue)) { Add-PSSnapin -Name $snapIn }
                }
            } else {
                # 2013+ documents ...PowerShell.SnapIn; Microsoft's CollectExchangeInfo still adds
                # ...E2010 for local runspaces [cmdlets.md 1b; PSC control-remote-powershell-access].
                try { Add-PSSnapin -Name 'Microsoft.Exchange.Management.PowerShell.SnapIn' }
                catch { Add-PSSnapin -Name 'Microsoft.Exchange.Management.PowerShell.E2010' }
            }
            if ($null -eq (Get-Command -Name 'Get-ExchangeServer' -CommandType Cmdlet -ErrorAction SilentlyContinue)) {
                throw 'the snap-ins loaded, yet Get-ExchangeServer is missing'
            }
        } catch {
            # ${computer}, not "$computer:", which would read as a drive-qualified variable.
            Exit-Fatal "Exchange Management Shell snap-in not found on ${computer}: $($_.Exception.Message)"
        }
    }

    $halt = $payload.halt_on_error -ne $false  # absent means true
    $steps = @()
    if ($null -ne $payload.steps) { $steps = @($payload.steps) }
    $results = [System.Collections.Generic.List[object]]::new()
    # The output objects of each successful step, by id (case-sensitive), for Output references.
    $stepOutputs = [System.Collections.Generic.Dictionary[string,object]]::new()
    $failed = $false
    foreach ($step in $steps) {
        # always_run: a read-back that must run even after a failed change (it changes nothing).
        if ($halt -and $failed -and $step.always_run -ne $true) { $result = [ordered]@{ id = [string]$step.id; status = 'not_run' } }
        elseif ($edge -and $step.skip_on_edge -eq $true) { $result = [ordered]@{ id = [string]$step.id; status = 'not_applicable' } }
        else { $result = Invoke-Step $step }
        if ($result['status'] -eq 'error') { $failed = $true }
        $results.Add($result)
    }
    # The server's clock when the steps ran: certificates' expiry is judged on it, not the controller's.
    $utcNow = [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    Write-Answer ([ordered]@{ exconf = 3; computer = $computer; edge = $edge; utc_now = $utcNow; results = $results.ToArray() })
} catch {
    Exit-Fatal "The exconf program failed on ${computer}: $($_.Exception.Message)"
}
# No exit: the bootstrap runs this program again for the next payload line (a fatal error exits 1 above).
