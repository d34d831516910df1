"""Capacity alerts: after each enqueue, how full the queue is, as gauges and a log line."""

from __future__ import annotations

import logging
from typing import Literal

from app.dlq.queue import Stream
from app.lib.metrics import DLQ_CAPACITY_RATIO, DLQ_CRITICAL, DLQ_DEPTH, DLQ_OVERFLOW_IMMINENT, DLQ_WARNING

logger = logging.getLogger(__name__)

Level = Literal["ok", "warning", "critical", "overflow_imminent"]
THRESHOLDS: tuple[tuple[float, Level], ...] = ((0.95, "overflow_imminent"), (0.90, "critical"), (0.80, "warning"))
LOG_LEVELS = {"warning": logging.WARNING, "critical": logging.ERROR, "overflow_imminent": logging.CRITICAL}


def capacity_level(depth: int, max_length: int) -> Level:
    ratio = depth / max_length
    return next((level for threshold, level in THRESHOLDS if ratio >= threshold), "ok")


def observe_depth(stream: Stream, depth: int, max_length: int) -> Level:
    """Set the stream's gauges; at 80% and above, also log at the level's severity."""
    ratio = depth / max_length
    level = capacity_level(depth, max_length)
    DLQ_DEPTH.labels(stream).set(depth)
    DLQ_CAPACITY_RATIO.labels(stream).set(ratio)
    DLQ_WARNING.labels(stream).set(ratio >= 0.80)
    DLQ_CRITICAL.labels(stream).set(ratio >= 0.90)
    DLQ_OVERFLOW_IMMINENT.labels(stream).set(ratio >= 0.95)
    if level != "ok":
        logger.log(
            LOG_LEVELS[level],
            "dead letter queue %s is %.0f%% full (%d of %d): %s",
            stream, ratio * 100, depth, max_length, level.replace("_", " "),
        )  # fmt: skip
    return level
