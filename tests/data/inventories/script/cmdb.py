#!/usr/bin/env python3
"""A dynamic inventory script as a CMDB export would be: --list with _meta, --host answers {}."""
import json
import sys

INVENTORY = {
    "mailbox": {"hosts": ["ex01.contoso.com", "ex02.contoso.com"], "vars": {"ansible_user": "CONTOSO\\svc-exconf"}},
    "edge": {"hosts": ["edge01.dmz.contoso.com"], "vars": {"ansible_port": 5986}},
    "amsterdam": {"children": ["mailbox"], "vars": {"site": "AMS"}},
    "_meta": {"hostvars": {"ex01.contoso.com": {"ansible_host": "192.0.2.11", "rack": "{{ site }}-R1"}, "edge01.dmz.contoso.com": {"ansible_host": "198.51.100.10"}}},
}

if len(sys.argv) > 1 and sys.argv[1] == "--list":
    print(json.dumps(INVENTORY))
else:
    print("{}")
