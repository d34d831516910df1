"""`make soak`: the Locust profile at a fixed rate for a long time, watching the service's memory.

It starts its own service like `make load` (``benchmarks/load_run.py``: migrate, seed --demo,
serve, on a fresh embedded PostgreSQL in a temporary directory), runs the three user classes of
locustfile.py in this process with paced think times (``constant_throughput`` at each class's
``paced_tasks_per_second``, so the request rate stays fixed whatever the latency), and records
per minute: requests, error rate, p50/p99 latency, and the service process's resident memory
(VmRSS of /proc/PID/status, also sampled every 10 s for the plot).

    .venv/bin/python -m benchmarks.soak --seconds 600 [--users 12]

Writes benchmarks/results/soak.json and benchmarks/results/soak.png (matplotlib: the ``bench``
extra, which `make soak` installs). Exits non-zero if any request failed or the service died.
"""

from __future__ import annotations

# Locust monkey-patches the standard library with gevent when imported; it must come before
# anything imports ssl or sockets.
import locust

# isort: split
import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
from locust import constant_throughput
from locust.env import Environment
from locust.log import setup_logging
from locust.stats import print_error_report, print_percentile_stats, print_stats

import locustfile
from benchmarks.load_run import REPO, LoadService, ended_early, keep_artifacts, started_service

RESULTS = REPO / "benchmarks" / "results"
INTERVAL_SECONDS = 60.0
RSS_SAMPLE_SECONDS = 10.0
USER_CLASSES = (locustfile.AgentUser, locustfile.AuditWriter, locustfile.CatalogAdmin)
MIB = 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    """Locust's cumulative totals at one moment; two of them make one interval."""

    at: float
    requests: int
    failures: int
    response_times: dict[int, int]  # Locust's histogram: rounded milliseconds -> count

    @classmethod
    def of(cls, environment: Environment) -> Snapshot:
        total = environment.stats.total
        return cls(time.monotonic(), total.num_requests, total.num_failures, dict(total.response_times))


def percentile(histogram: Mapping[int, int], fraction: float) -> float | None:
    """The ``fraction`` percentile of a Locust response-time histogram (None when empty)."""
    count = sum(histogram.values())
    if count == 0:
        return None
    rank = fraction * count
    seen = 0
    for milliseconds in sorted(histogram):
        seen += histogram[milliseconds]
        if seen >= rank:
            return float(milliseconds)
    return float(max(histogram))


def interval_record(index: int, started: float, before: Snapshot, after: Snapshot, rss_bytes: int) -> dict[str, Any]:
    """One minute of the soak: what happened between two snapshots, and the RSS at its end."""
    # Histogram of this interval only: the cumulative one minus the one at the interval's start.
    histogram = {
        ms: count - before.response_times.get(ms, 0)
        for ms, count in after.response_times.items()
        if count > before.response_times.get(ms, 0)
    }
    requests = after.requests - before.requests
    failures = after.failures - before.failures
    seconds = after.at - before.at
    return {
        "minute": index + 1,
        "end_seconds": round(after.at - started, 1),
        "seconds": round(seconds, 1),
        "requests": requests,
        "failures": failures,
        "requests_per_second": round(requests / seconds, 2) if seconds > 0 else None,
        "error_rate": round(failures / requests, 6) if requests else 0.0,
        "p50_ms": percentile(histogram, 0.50),
        "p99_ms": percentile(histogram, 0.99),
        "rss_mib": round(rss_bytes / MIB, 1),
    }


def pace() -> None:
    """Fix each class's task rate, and so the request rate, whatever the latency."""
    for user_class in USER_CLASSES:
        user_class.wait_time = constant_throughput(user_class.paced_tasks_per_second)


def target_tasks_per_second(users_by_class: Mapping[str, int]) -> float:
    return sum(c.paced_tasks_per_second * users_by_class.get(c.__name__, 0) for c in USER_CLASSES)


def request_totals(environment: Environment) -> list[dict[str, Any]]:
    return [
        {
            "name": entry.name,
            "method": entry.method,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "max_ms": entry.max_response_time,
        }
        for entry in sorted(environment.stats.entries.values(), key=lambda e: (e.name, e.method))
    ]


def soak(service: LoadService, seconds: float, users: int) -> dict[str, Any]:
    environment = Environment(user_classes=list(USER_CLASSES), host=service.base_url, stop_timeout=15)
    runner = environment.create_local_runner()
    baseline_rss = service.rss_bytes()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    runner.start(users, spawn_rate=max(1.0, users / 5))
    before = Snapshot.of(environment)
    intervals: list[dict[str, Any]] = []
    rss_samples: list[tuple[float, float]] = [(0.0, round(baseline_rss / MIB, 1))]
    end = started + seconds
    boundary = started + INTERVAL_SECONDS
    died = False
    while (now := time.monotonic()) < end - 0.05:
        gevent.sleep(
            max(0.0, min(RSS_SAMPLE_SECONDS - (now - started) % RSS_SAMPLE_SECONDS, boundary - now, end - now))
        )
        if service.process.poll() is not None:
            died = True
            break
        now = time.monotonic()
        rss = service.rss_bytes()
        rss_samples.append((round(now - started, 1), round(rss / MIB, 1)))
        if now >= boundary - 0.05 or now >= end - 0.05:
            after = Snapshot.of(environment)
            intervals.append(interval_record(len(intervals), started, before, after, rss))
            print(json.dumps(intervals[-1]), flush=True)
            before, boundary = after, boundary + INTERVAL_SECONDS
    users_by_class = dict(runner.user_classes_count)
    runner.quit()  # lets users finish the task in flight (stop_timeout); their requests count in the totals
    runner.greenlet.join(timeout=30)

    total = environment.stats.total
    print_stats(environment.stats, current=False)
    print_percentile_stats(environment.stats)
    print_error_report(environment.stats)
    rss_values = [record["rss_mib"] for record in intervals]
    return {
        "started_at": started_at,
        "seconds": round(time.monotonic() - started, 1),
        "planned_seconds": seconds,
        "users": users,
        "users_by_class": users_by_class,
        "paced_tasks_per_second": {c.__name__: c.paced_tasks_per_second for c in USER_CLASSES},
        "target_tasks_per_second": round(target_tasks_per_second(users_by_class), 2),
        "host": service.base_url,
        "service_pid": service.pid,
        "service_died": died,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "locust": locust.__version__},
        "baseline_rss_mib": round(baseline_rss / MIB, 1),
        "rss_growth_mib": round(rss_values[-1] - rss_values[0], 1) if rss_values else None,
        "totals": {
            "requests": total.num_requests,
            "failures": total.num_failures,
            "error_rate": round(total.fail_ratio, 6),
            "p50_ms": total.get_response_time_percentile(0.5),
            "p99_ms": total.get_response_time_percentile(0.99),
        },
        "per_minute": intervals,
        "rss_samples": [{"seconds": t, "rss_mib": mib} for t, mib in rss_samples],
        "requests": request_totals(environment),
        "errors": [
            {"name": error.name, "method": error.method, "error": str(error.error), "occurrences": error.occurrences}
            for error in environment.stats.errors.values()
        ],
    }


def plot(record: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - optional: the bench extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    # A minute's counts and percentiles belong to the whole interval: drawn at its middle.
    middles = [(m["end_seconds"] - m["seconds"] / 2) / 60 for m in record["per_minute"]]
    widths = [0.8 * m["seconds"] / 60 for m in record["per_minute"]]
    ends = [m["end_seconds"] / 60 for m in record["per_minute"]]
    figure, (rate_axis, latency_axis, rss_axis) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    figure.suptitle(
        f"workflow-search soak: {record['seconds'] / 60:.1f} min, {record['users']} users, "
        f"{record['totals']['requests']} requests, {record['totals']['failures']} failed"
    )
    rate_axis.bar(middles, [m["requests"] for m in record["per_minute"]], width=widths, color="tab:blue")
    rate_axis.set_ylabel("requests per minute")
    error_axis = rate_axis.twinx()
    error_axis.plot(middles, [100 * m["error_rate"] for m in record["per_minute"]], "o-", color="tab:red")
    error_axis.set_ylabel("error rate (%)", color="tab:red")
    error_axis.set_ylim(bottom=0, top=max(1.0, *(100 * m["error_rate"] for m in record["per_minute"])) * 1.2)

    latency_axis.plot(middles, [m["p99_ms"] for m in record["per_minute"]], "o-", label="p99")
    latency_axis.plot(middles, [m["p50_ms"] for m in record["per_minute"]], "s--", label="p50")
    latency_axis.set_ylabel("latency (ms)")
    latency_axis.set_ylim(bottom=0)
    latency_axis.legend(loc="upper left")

    samples = record["rss_samples"]
    rss_axis.plot([s["seconds"] / 60 for s in samples], [s["rss_mib"] for s in samples], "-", label="every 10 s")
    rss_axis.plot(ends, [m["rss_mib"] for m in record["per_minute"]], "o", label="end of minute")
    rss_axis.axhline(record["baseline_rss_mib"], linestyle=":", color="grey", label="before load")
    rss_axis.set_ylabel("service RSS (MiB)")
    rss_axis.set_xlabel("minutes under load")
    rss_axis.set_xlim(left=0)
    rss_axis.legend(loc="lower right")
    for axis in (rate_axis, latency_axis, rss_axis):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")))
    parser.add_argument("--users", type=int, default=int(os.environ.get("SOAK_USERS", "12")))
    parser.add_argument("--port", type=int, default=None, help="the service's port (default: a free one)")
    parser.add_argument("--output", type=Path, default=RESULTS / "soak.json", help="the PNG goes beside it")
    options = parser.parse_args(argv)

    # Through gevent's hub: a plain handler would raise inside the hub, which reports it as a crash.
    gevent.signal_handler(signal.SIGTERM, gevent.kill, gevent.getcurrent(), KeyboardInterrupt)
    setup_logging("INFO")  # type: ignore[no-untyped-call]  # locust leaves it unannotated; its summary tables are log lines
    pace()
    work = Path(tempfile.mkdtemp(prefix="workflow-search-soak-"))
    try:
        with started_service(work / "service.log", port=options.port) as service:
            print(f"soak: service (pid {service.pid}) ready at {service.base_url}; {options.seconds:.0f} s", flush=True)
            record = soak(service, options.seconds, options.users)
    except (RuntimeError, KeyboardInterrupt) as error:
        return ended_early("soak", error)
    finally:
        print(f"soak: service log in {keep_artifacts(work, 'soak').relative_to(REPO)}/")

    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(record, indent=2) + "\n")
    picture = options.output.with_suffix(".png")
    try:
        plot(record, picture)
    except ImportError:
        print("soak: matplotlib is missing (pip install -e '.[bench]'); no plot", file=sys.stderr)
        picture = None
    totals = record["totals"]
    print(
        f"\nsoak: {totals['requests']} requests, {totals['failures']} failed, p99 {totals['p99_ms']} ms; "
        f"RSS {record['baseline_rss_mib']} MiB before load, growth {record['rss_growth_mib']} MiB "
        f"from the first to the last minute; {options.output.relative_to(REPO)}"
        + (f", {picture.relative_to(REPO)}" if picture else "")
    )
    if record["service_died"] or totals["failures"] or totals["requests"] == 0:
        print("soak: FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
