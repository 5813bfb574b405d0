"""Django admin for moderators, one module per desk.

- ``jobs``: remix jobs (status, timings, parameters, errors), creators' consent and its ledger;
- ``rules``: the prompt moderation rule sets;
- ``review``: the review queues (held remixes, uploads hidden pending review);
- ``reports``: reports of remixes and takedowns;
- ``audit``: the append-only audit log, filterable and exportable as CSV.
"""

from . import audit, jobs, reports, review, rules

__all__ = ["audit", "jobs", "reports", "review", "rules"]
