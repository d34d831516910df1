"""``python -m benchmarks.run [--quick]``: every figure, then summary.json, a table and plots.

Each figure module has ``figures(quick, scratch) -> list[Figure]``. A module that is missing
or fails is recorded in ``summary.json`` with its error and the run goes on with the others.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.common import Figure

RESULTS = Path(__file__).resolve().parent / "results"
MODULES = (
    "benchmarks.search_bench",
    "benchmarks.ingest_bench",
    "benchmarks.encoding_bench",
    "benchmarks.workers_bench",
)


def machine() -> dict[str, Any]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "postgresql": _postgres_version(),
        "platform": platform.platform(),
    }


def _postgres_version() -> str:
    try:
        from pgserver._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

        return subprocess.run(
            [str(POSTGRES_BIN_PATH / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (ImportError, OSError, subprocess.CalledProcessError) as error:
        return f"unknown ({error})"


def run_module(name: str, quick: bool, scratch: Path) -> tuple[list[Figure], dict[str, Any]]:
    started = time.perf_counter()
    print(f"== {name}", flush=True)
    try:
        module = importlib.import_module(name)
        figures: list[Figure] = module.figures(quick, scratch / name.rsplit(".", 1)[-1])
    except Exception as error:  # noqa: BLE001 - one failing module must not lose the others' figures
        traceback.print_exc()
        seconds = time.perf_counter() - started
        return [], {"module": name, "ok": False, "error": f"{type(error).__name__}: {error}", "seconds": seconds}
    return figures, {"module": name, "ok": True, "figures": len(figures), "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--quick", action="store_true", help="small catalogs and short rounds (the CI smoke run)")
    parser.add_argument("--only", action="append", help="run only these modules (e.g. benchmarks.search_bench)")
    args = parser.parse_args(argv)
    # Only a full run of every module replaces the committed results; the rest go beside them.
    out = RESULTS / "partial" if args.quick or args.only else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    scratch = RESULTS / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)  # every run starts from fresh databases
    scratch.mkdir(parents=True)
    started_at = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    modules: list[dict[str, Any]] = []
    for name in args.only or MODULES:
        figures, outcome = run_module(name, args.quick, scratch)
        rows += [figure.as_json() for figure in figures]
        modules.append(outcome)
    summary: dict[str, Any] = {
        "date": started_at.isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "seconds": (datetime.now(UTC) - started_at).total_seconds(),
        "machine": machine(),
        "modules": modules,
        "figures": rows,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "table.md").write_text(
        f"Measured {summary['date']} ({summary['mode']} run) on {summary['machine']['cpu_model']}, "
        f"{summary['machine']['cores']} cores.\n\n{report.markdown_table(rows)}"
    )
    try:
        written = report.plots(rows, out)
    except ImportError as error:
        written = []
        print(f"no plots: {error} (install the bench extra)", file=sys.stderr)
    print(report.text_table(rows))
    print(f"\nwrote {out / 'summary.json'}, {out / 'table.md'} and {len(written)} plots")
    shutil.rmtree(scratch, ignore_errors=True)
    failed = [m["module"] for m in modules if m["ok"] is False]
    if failed:
        print(f"failed modules: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
