"""Host ranges as ansible-core's expand_hostname_range expands them: exactly the hosts written, in its order."""

from __future__ import annotations

import pytest

from exconf.hostpattern import HostPatternError, expand, expand_host


@pytest.mark.parametrize(
    "pattern, hosts",
    [
        ("ex[1:3]", ["ex1", "ex2", "ex3"]),  # both ends included, no more
        ("ex[01:03]", ["ex01", "ex02", "ex03"]),  # a leading zero keeps the width
        ("ex[:2]", ["ex0", "ex1", "ex2"]),  # no begin: from 0
        ("ex[0:10:5]", ["ex0", "ex5", "ex10"]),  # 0 alone is no leading zero
        ("ex[1:10:9]", ["ex1", "ex10"]),
        ("ex[10:100:90]", ["ex10", "ex100"]),  # neither is 10 padded to 100's width
        ("node[a:c]", ["nodea", "nodeb", "nodec"]),
        ("node[b:b]", ["nodeb"]),
        ("node[a:e:2]", ["nodea", "nodec", "nodee"]),
        ("r[1:2]s[3:4]", ["r1s3", "r1s4", "r2s3", "r2s4"]),  # the first range varies slowest
    ],
)
def test_ranges_expand_to_exactly_the_hosts_written(pattern, hosts):
    assert expand(pattern) == hosts


def test_a_host_key_with_a_range_and_a_port():
    assert expand_host(" ex[01:02].contoso.com:5986 ") == (["ex01.contoso.com", "ex02.contoso.com"], 5986)
    assert expand_host("[::1]:22") == (["::1"], 22)
    assert expand_host("ex01") == (["ex01"], None)


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("ex[1:3", "host range in 'ex[1:3' has no closing ']'"),
        ("ex[1]", "host range [1] in 'ex[1]' must be begin:end or begin:end:step"),
        ("ex[1:2:3:4]", "host range [1:2:3:4] in 'ex[1:2:3:4]' must be begin:end or begin:end:step"),
        ("ex[1:]", "host range [1:] in 'ex[1:]' must specify its end"),
        ("ex[1:3:x]", "host range [1:3:x] in 'ex[1:3:x]': the step must be a number"),
        ("ex[1:3:0]", "host range [1:3:0] in 'ex[1:3:0]': the step must be at least 1"),
        ("ex[01:100]", "host range [01:100] in 'ex[01:100]' must have begin and end of equal width"),
        ("ex[c:a]", "host range [c:a] in 'ex[c:a]' must have begin <= end"),
        ("ex[a:3]", "host range [a:3] in 'ex[a:3]': expected numbers or single letters"),
        ("ex[1:z]", "host range [1:z] in 'ex[1:z]': expected numbers or single letters"),
    ],
)
def test_bad_ranges_say_what_is_wrong(pattern, message):
    with pytest.raises(HostPatternError) as err:
        expand(pattern)
    assert str(err.value) == message
