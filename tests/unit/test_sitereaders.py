"""Each AD site's reader chosen before reading, from the first host's list of servers (engine/sitereaders.py)."""

from __future__ import annotations

from exconf.remote import STATUS_ERROR, Answer, StepError, StepResult
from exconf.sitereaders import SITES_STEP, SITES_STEP_ID, choose_readers, site_name, site_of_host, sites_of


def listing(*servers: tuple[str, object]) -> Answer:
    objects = tuple({"Fqdn": fqdn, "Site": site} for fqdn, site in servers)
    return Answer(computer="EX01", edge=False, results={SITES_STEP_ID: StepResult(SITES_STEP_ID, "ok", objects)})


def test_the_list_is_every_server_with_its_fqdn_and_site_only():
    assert (SITES_STEP.cmdlet, SITES_STEP.params, SITES_STEP.select) == ("Get-ExchangeServer", {}, ("Fqdn", "Site"))


def test_servers_are_found_by_fqdn_or_short_name_whatever_the_case():
    sites = sites_of(listing(("EX01.contoso.lab", "contoso.lab/Configuration/Sites/Amsterdam"), ("ex02.contoso.lab", "Rotterdam"),
                             ("EDGE01.dmz.contoso.lab", None), ("", "Utrecht")))
    assert sites == {"ex01.contoso.lab": "Amsterdam", "ex01": "Amsterdam", "ex02.contoso.lab": "Rotterdam", "ex02": "Rotterdam"}
    assert site_of_host("Ex01.Contoso.Lab", sites) == "Amsterdam" and site_of_host("ex02", sites) == "Rotterdam"
    assert site_of_host("ex02.other.lab", sites) == "Rotterdam"  # the short name, when the FQDN is not the server's
    assert site_of_host("edge01.dmz.contoso.lab", sites) == "" and site_of_host("ex09", sites) == ""
    assert site_name("contoso.lab/Configuration/Sites/Eindhoven") == "Eindhoven" and site_name(None) == ""


def test_a_list_that_failed_or_was_not_asked_for_chooses_nobody():
    failed = Answer(computer="EX01", edge=False, results={SITES_STEP_ID: StepResult(SITES_STEP_ID, STATUS_ERROR, error=StepError("x", "y", "z", "w"))})
    assert sites_of(failed) == {} and sites_of(Answer(computer="EX01", edge=False, results={})) == {}
    assert choose_readers(["ex01", "ex02"], {}) == {}


def test_the_first_host_of_each_site_reads_it_and_a_covered_site_is_left_out():
    sites = {"ex01": "Amsterdam", "ex02": "Amsterdam", "ex03": "Rotterdam", "ex04": "Rotterdam", "ex05": "Utrecht"}
    assert choose_readers(["ex02", "ex01", "ex04", "ex03", "edge01", "ex05"], sites) == {"ex02": "Amsterdam", "ex04": "Rotterdam", "ex05": "Utrecht"}
    assert choose_readers(["ex02", "ex03", "ex05"], sites, covered=("AMSTERDAM", "utrecht")) == {"ex03": "Rotterdam"}
