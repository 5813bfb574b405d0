"""``python -m tests.reliability.poison_worker <celery worker arguments>``: the real Celery worker, except that a
job whose prompt carries POISON_MARK kills its pool process (SIGKILL) as soon as it starts: a poison job, as a
segfaulting codec or an out-of-memory model would make one. Everything else runs unchanged."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from celery.signals import worker_process_init

POISON_MARK = "crash-test-7f3a"


@worker_process_init.connect
def _poison(**_: Any) -> None:
    from remix import worker

    real_load_source = worker.load_source

    def load_source(job: Any) -> Any:
        if POISON_MARK in job.prompt:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_load_source(job)

    worker.load_source = load_source  # type: ignore[assignment]


if __name__ == "__main__":
    from celery.__main__ import main

    sys.argv[0] = "celery"
    main()
