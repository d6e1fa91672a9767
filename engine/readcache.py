"""One command's facts, read once: steps that run the same cmdlet with the same parameters are sent once.

Kinds read what they need independently (the certificate kind reads the
receive connectors for their FQDN and TlsCertificateName; the receive
connector kind reads them for their settings). Within one round trip, a
cmdlet with the same parameters is sent once, with the union of what each
asked to select, and every step that asked for it gets that result
(pyinfra's facts, keyed by command and arguments). Reading has no side
effect, so sharing an answer changes nothing but the cost.
"""

from __future__ import annotations

import json
from dataclasses import replace

from exconf.remote import Answer, Step


def _key(step: Step) -> str:
    params = {k: v.to_json() if hasattr(v, "to_json") else v for k, v in step.params.items()}
    return json.dumps([step.cmdlet.lower(), params, step.skip_on_edge, step.always_run, step.output_file], sort_keys=True, default=repr)


READ_VERBS = ("get-", "test-", "search-")  # cmdlets that change nothing: only these are shared


def shared(steps: list[Step]) -> tuple[list[Step], dict[str, str]]:
    """The steps to send (each read cmdlet-and-parameters once, selecting what all its askers select; all
    properties when one asks for all), and for every step id the id of the step sent in its place."""
    first: dict[str, int] = {}
    out: list[Step] = []
    alias: dict[str, str] = {}
    for step in steps:
        key = _key(step)
        if not step.cmdlet.lower().startswith(READ_VERBS):
            out.append(step)
            alias[step.id] = step.id
            continue
        if key not in first:
            first[key] = len(out)
            out.append(step)
            alias[step.id] = step.id
            continue
        sent = out[first[key]]
        select = () if not sent.select or not step.select else tuple(dict.fromkeys((*sent.select, *step.select)))
        out[first[key]] = replace(sent, select=select)
        alias[step.id] = sent.id
    return out, alias


def answer_for(answer: Answer, alias: dict[str, str]) -> Answer:
    """The answer as the original steps expect it: every step id, the shared ones pointing at one result."""
    if all(k == v for k, v in alias.items()):
        return answer
    results = dict(answer.results)
    for wanted, sent in alias.items():
        if wanted != sent and sent in answer.results:
            results[wanted] = replace(answer.results[sent], id=wanted)
    return replace(answer, results=results)
