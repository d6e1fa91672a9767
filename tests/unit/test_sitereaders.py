"""Each AD site's EdgeSync reader chosen before reading, where the inventory says the site (engine/sitereaders.py)."""

from __future__ import annotations

from exconf.sitereaders import SITE_VARIABLE, choose_readers, declared_site, misplaced


def test_the_first_host_of_each_declared_site_reads_it():
    hosts = [("ex02", {SITE_VARIABLE: "Amsterdam"}), ("ex01", {SITE_VARIABLE: "amsterdam"}), ("ex04", {SITE_VARIABLE: " Rotterdam "}),
             ("ex05", {}), ("edge01", {"exconf_role": "Edge"}), ("ex03", {SITE_VARIABLE: "Rotterdam"}), ("ex06", {SITE_VARIABLE: "Utrecht"})]
    assert choose_readers(hosts) == {"ex02": "Amsterdam", "ex04": "Rotterdam", "ex06": "Utrecht"}
    assert choose_readers([]) == {} and choose_readers([("ex05", {SITE_VARIABLE: ""})]) == {}


def test_only_a_text_is_a_site():
    assert declared_site({SITE_VARIABLE: 42}) == "" and declared_site({}) == "" and declared_site({SITE_VARIABLE: "Eindhoven"}) == "Eindhoven"


def test_a_host_in_another_site_than_declared_is_said():
    assert misplaced("ex01", "Amsterdam", "amsterdam") == "" and misplaced("ex01", "", "Rotterdam") == ""
    assert misplaced("ex01", "Amsterdam", "Rotterdam") == (
        "ex01: exconf_site says Amsterdam, but the server is in site Rotterdam; Amsterdam was read through another Mailbox server of it")
