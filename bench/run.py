"""All benchmarks, one summary: ``make bench`` (``make bench BENCH_QUICK=1`` for a quick run).

    .venv/bin/python bench/run.py [--quick] [--only gpu,worker,web] [--out VAR_DIR/bench]

Sections, each in a process of its own (the worker section sets Django up on a throwaway database, the web
section drives servers of its own, the GPU section owns the device), one after another so they do not compete:

- ``gpu``: ``bench/gpu.py --out OUT/gpu.json`` (edit throughput of the real architectures; null without CUDA);
- ``worker``: ``bench.worker.run`` (per-stage cost of a job on the tiny model at 512×512, outside the model);
- ``web``: ``bench.web.run`` (requests/s of one web process and latencies of four endpoints).

Writes ``OUT/summary.json`` with exactly these keys, plus ``machine`` (what it ran on) — each section's full
detail stays in its own file next to it (gpu.json, worker.json, web.json):

    gpu:    null, or {device, instruct_pix2pix_512: [...], flux_kontext: [...]}
    worker: {overhead_ms_p50, stages_ms_p50: {stage: ms}}
    web:    {feed|post_detail|comments|remix_create: {rps_per_process, p50_ms, p95_ms}}

and prints one table. A section that fails is null in the summary, with a note, and the exit status is 1.
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("gpu", "worker", "web")
WEB_ENDPOINTS = ("feed", "post_detail", "comments", "remix_create")
WEB_KEYS = ("rps_per_process", "p50_ms", "p95_ms")
GPU_KEYS = ("device", "instruct_pix2pix_512", "flux_kontext")


class SectionFailed(Exception):
    pass


def _child(module: str, out: Path, *, quick: bool) -> dict[str, Any]:
    """Run ``bench.<module>.run(out, quick=quick)`` in a child process and return its dict."""
    result_file = out / f".{module}-result.json"
    result_file.unlink(missing_ok=True)
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        f"from bench.{module} import run; "
        "result = run(Path(sys.argv[2]), quick=sys.argv[3] == '1'); "
        "Path(sys.argv[4]).write_text(json.dumps(result))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(out), "1" if quick else "0", str(result_file)], cwd=ROOT
    )
    if done.returncode != 0 or not result_file.is_file():
        raise SectionFailed(f"bench.{module}.run exited with status {done.returncode}")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result_file.unlink()
    return dict(result)


def run_gpu(out: Path, *, quick: bool) -> tuple[dict[str, Any] | None, str | None]:
    script = ROOT / "bench" / "gpu.py"
    if not script.is_file():
        return None, "bench/gpu.py is missing"
    target = out / "gpu.json"
    target.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(target), *(["--quick"] if quick else [])], cwd=ROOT
    )
    if done.returncode != 0:
        raise SectionFailed(f"bench/gpu.py exited with status {done.returncode}")
    if not target.is_file():
        return None, f"bench/gpu.py wrote no {target.name}"
    section = json.loads(target.read_text(encoding="utf-8")).get("gpu")
    if section is None:
        return None, "no CUDA device"
    note = "smoke run: tiny configs, not a measurement" if section.get("smoke") else None
    return {key: section.get(key) for key in GPU_KEYS}, note


def run_worker(out: Path, *, quick: bool) -> dict[str, Any]:
    result = _child("worker", out, quick=quick)
    return {"overhead_ms_p50": result["overhead_ms_p50"], "stages_ms_p50": result["stages_ms_p50"]}


def run_web(out: Path, *, quick: bool) -> dict[str, Any]:
    if not (ROOT / "bench" / "web.py").is_file():
        raise SectionFailed("bench/web.py is missing")
    result = _child("web", out, quick=quick)
    return {name: {key: result[name][key] for key in WEB_KEYS} for name in WEB_ENDPOINTS}


def machine() -> dict[str, Any]:
    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {
        "cpu_count": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "torch": installed("torch"),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def table(summary: dict[str, Any], notes: dict[str, str], seconds: dict[str, float]) -> str:
    lines = [f"{'section':8} {'what':34} {'value':>32}", "-" * 76]

    def add(section: str, what: str, value: str) -> None:
        lines.append(f"{section:8} {what:34} {value:>32}")

    gpu = summary.get("gpu")
    if gpu is None:
        add("gpu", "-", f"null ({notes.get('gpu', 'not run')})")
    else:
        add("gpu", "device", str(gpu["device"])[:32])
        for label, key in (("ip2p 512", "instruct_pix2pix_512"), ("flux kontext", "flux_kontext")):
            for item in gpu.get(key) or []:
                where = f"{label} {item.get('resolution', '')} {item['variant']} b{item['batch']}"
                fraction = item.get("fraction_of_limit")
                share = "" if fraction is None else f", {fraction * 100:.1f}% of limit"
                add("gpu", where[:34], f"{item['latency_s']:.3f} s, {item['images_per_s']:.2f} img/s{share}")
        if "gpu" in notes:
            add("gpu", "note", notes["gpu"][:32])
    worker = summary.get("worker")
    if worker is None:
        add("worker", "-", f"null ({notes.get('worker', 'not run')})")
    else:
        for stage, ms in worker["stages_ms_p50"].items():
            add("worker", f"{stage} p50", f"{ms:.2f} ms")
        add("worker", "overhead p50 (wall-model-wait)", f"{worker['overhead_ms_p50']:.2f} ms (target <= 50)")
    web = summary.get("web")
    if web is None:
        add("web", "-", f"null ({notes.get('web', 'not run')})")
    else:
        for name, row in web.items():
            add(
                "web",
                name,
                f"{row['rps_per_process']:.1f} req/s, p50 {row['p50_ms']:.1f}, p95 {row['p95_ms']:.1f} ms",
            )
    lines.append("-" * 76)
    ran = ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items())
    info = summary["machine"]
    lines.append(f"{info['cpu_count']} CPUs, load {info['load_average']} at start; took {ran}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="each section's quick mode")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections (default: all)")
    default_out = Path(os.environ.get("VAR_DIR") or ROOT / "var") / "bench"
    parser.add_argument("--out", type=Path, default=default_out, help="where summary.json and details go")
    args = parser.parse_args()
    only = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    summary: dict[str, Any] = {"gpu": None, "worker": None, "web": None, "machine": machine()}
    notes: dict[str, str] = {}
    seconds: dict[str, float] = {}
    failed = False
    for name in SECTIONS:
        if name not in only:
            notes[name] = "not run (--only)"
            continue
        print(f"== bench: {name}", flush=True)
        started = time.monotonic()
        try:
            if name == "gpu":
                summary["gpu"], note = run_gpu(out, quick=args.quick)
                if note:
                    notes["gpu"] = note
            elif name == "worker":
                summary["worker"] = run_worker(out, quick=args.quick)
            else:
                summary["web"] = run_web(out, quick=args.quick)
        except (SectionFailed, KeyError, ValueError, OSError) as exc:
            failed = True
            notes[name] = f"failed: {exc}"
            print(f"bench {name} failed: {exc}", file=sys.stderr)
        seconds[name] = time.monotonic() - started

    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print()
    print(table(summary, notes, seconds))
    print(f"wrote {out / 'summary.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
