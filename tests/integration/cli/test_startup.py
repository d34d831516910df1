"""Start-up refuses configurations that would silently give wrong answers."""

from typing import Any

import msgspec
import pytest

from app.factory import create_app
from app.lib.lifecycle import Lifecycle
from app.lib.settings import Settings
from embeddings.runtime import DimensionMismatchError
from tests.fakes import HashEncoder


async def test_a_model_dimension_other_than_the_databases_stops_start_up(settings: Settings) -> None:
    mismatched = Settings(**{**_fields(settings), "embedding_dimension": 8})
    lifecycle = Lifecycle()
    application = create_app(mismatched, encoder=HashEncoder(dimension=8), lifecycle=lifecycle)

    # Litestar runs the lifespan in a task group, so the error arrives wrapped in a group
    with pytest.RaisesGroup(pytest.RaisesExc(DimensionMismatchError, match="dimension 384"), flatten_subgroups=True):
        async with application.lifespan():
            pass  # never reached: the lifespan raises before serving

    assert lifecycle.phase != "serving"


def _fields(settings: Settings) -> dict[str, Any]:
    return msgspec.structs.asdict(settings)
