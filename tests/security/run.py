"""``make security``: the attack probes of the outside penetration test against the served stack (nginx in front of
gunicorn, real processes), one line each with its figures (also ``$VAR_DIR/security/results.json``).

Runs ``pytest tests/security/test_served_stack.py`` (each test asserts what its attack must show and records a
line) on the embedded default, or on PostgreSQL + Redis when DATABASE_URL and friends say so. Exits with pytest's
status. Extra arguments go to pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var").resolve()
    state = var_dir / "security"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    results = state / "results.jsonl"
    env = {**os.environ, "SECURITY_RESULTS": str(results), "VAR_DIR": str(state / "var")}
    started = time.monotonic()
    status = subprocess.call(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/security/test_served_stack.py", *argv],
        cwd=ROOT,
        env=env,
    )
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()] if results.exists() else []
    (state / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n== security: one line per attack (served stack: nginx in front of gunicorn)")
    for row in rows:
        print(f"{row['promise']:<28} {row['line']}")
    print(f"(took {time.monotonic() - started:.0f} s; pytest exit {status}; {state / 'results.json'})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
