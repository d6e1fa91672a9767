"""Each needed AD site's EdgeSync reader chosen before reading, by the site the inventory says or by a guess
(engine/sitereaders.py)."""

from __future__ import annotations

from exconf.desired import UNKNOWN
from exconf.model import Desired, DesiredValue
from exconf.modules.edge_subscription import KIND, EdgeSubscriptionKind, SubSpec
from exconf.sitereaders import GUESS, SITE_VARIABLE, choose_readers, declared_site, misplaced

HOSTS = [("ex02", {SITE_VARIABLE: "Amsterdam"}), ("ex01", {SITE_VARIABLE: "amsterdam"}), ("ex04", {SITE_VARIABLE: " Rotterdam "}),
         ("ex05", {}), ("ex07", {"exconf_role": "Mailbox"}), ("ex03", {SITE_VARIABLE: "Rotterdam"}), ("ex06", {SITE_VARIABLE: "Utrecht"})]


def test_the_first_host_of_each_needed_site_reads_it_and_no_other_site_is_read():
    assert choose_readers(HOSTS, frozenset({"amsterdam", "rotterdam"})) == {"ex02": "Amsterdam", "ex04": "Rotterdam"}
    assert choose_readers(HOSTS, frozenset({"utrecht"})) == {"ex06": "Utrecht"}


def test_a_needed_site_nobody_says_they_are_in_gets_a_guess_per_site_from_the_hosts_that_say_no_site():
    assert choose_readers(HOSTS, frozenset({"amsterdam", "eindhoven"})) == {"ex02": "Amsterdam", "ex05": GUESS}
    assert choose_readers(HOSTS, frozenset({"eindhoven", "delft", "breda"})) == {"ex05": GUESS, "ex07": GUESS}  # only two say none
    assert choose_readers([("ex01", {SITE_VARIABLE: "Amsterdam"})], frozenset({"rotterdam"})) == {}  # nobody to guess with
    three = [("ex11", {}), ("ex12", {}), ("ex13", {})]
    assert choose_readers(three, frozenset({"delft", "breda"})) == {"ex11": GUESS, "ex12": GUESS}  # one a site, no more


def test_needing_no_site_in_particular_one_host_that_says_no_site_reads_one():
    assert choose_readers(HOSTS, frozenset()) == {"ex05": GUESS}
    assert choose_readers([], frozenset()) == {} and choose_readers([("ex05", {SITE_VARIABLE: ""})], frozenset()) == {"ex05": GUESS}


def test_only_a_text_is_a_site():
    assert declared_site({SITE_VARIABLE: 42}) == "" and declared_site({}) == "" and declared_site({SITE_VARIABLE: "Eindhoven"}) == "Eindhoven"


def test_a_host_in_another_site_than_declared_is_said():
    assert misplaced("ex01", "Amsterdam", "amsterdam", chosen=True) == "" and misplaced("ex01", "", "Rotterdam", chosen=True) == ""
    assert misplaced("ex01", "Amsterdam", "Rotterdam", chosen=True) == (
        "ex01: exconf_site says Amsterdam, but the server is in site Rotterdam; Amsterdam was read through another Mailbox server of it")
    assert misplaced("ex01", "Amsterdam", "Rotterdam", chosen=False) == "ex01: exconf_site says Amsterdam, but the server is in site Rotterdam"
    assert misplaced("ex01", "Amsterdam", "", chosen=False) == "ex01: exconf_site says Amsterdam, but the server is in site (none)"


def test_only_edges_declared_subscribed_need_their_site_read():
    def declared(site: str, present: bool) -> Desired:
        return Desired(KIND, "", (DesiredValue("subscription", SubSpec(site=site, present=present, internet=None, inbound=None), UNKNOWN),), UNKNOWN)

    kind = EdgeSubscriptionKind()
    assert kind.needed_sites((declared("Amsterdam", True), declared("ROTTERDAM", True))) == {"amsterdam", "rotterdam"}
    assert kind.needed_sites((declared("Utrecht", False), declared("", False))) == frozenset()  # absent: any site's records do
