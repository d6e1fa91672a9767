"""Scheduled drift detection (``exconf drift``): the plan's findings as a report people and machines read.

Drift is a rendering of findings, never code in kinds: ``report.state_of`` maps every finding
status to in sync, drift or error, so a kind that adds findings (an unhealthy Edge subscription,
an expiring certificate) shows up in every output with no change here. ``command.py`` runs it;
``history.py`` remembers since when and until when; ``audit.py`` says who made the change.
"""
