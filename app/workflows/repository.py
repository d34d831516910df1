"""SQL of the workflow catalog. Holds queries only: no rules, no commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    cast,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.types import UserDefinedType

from app.lib.database import driver_connection
from search.sql import LABEL_SEARCH, SEMANTIC_SEARCH, PositionalStatement

metadata = MetaData()


class VectorLiteral(UserDefinedType[str]):
    """A pgvector value bound as its text form (``[0.1,0.2,...]``) and cast in SQL."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "vector"

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(bindvalue, self)


# Mirrors migrations/versions/0001 (the migration is the source of truth for DDL).
workflows = Table(
    "workflows",
    metadata,
    Column("workflow_id", postgresql.UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid()),
    Column("workflow_name", String(255), nullable=False),
    Column("version", String(50), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("owner", String(255)),
    Column("maintainer", String(255)),
    Column("content", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("parameters", JSONB),
    Column("execution_engine", String(255), nullable=False),
    Column("container_image", Text),
    Column("container_digest", Text),
    Column("labels", JSONB, nullable=False),
    Column("label_tokens", ARRAY(Text), nullable=False),
    Column("search_tokens", ARRAY(Text), nullable=False),
    Column("custom_labels", JSONB, nullable=False),
    Column("detected_labels", JSONB, nullable=False),
    Column("status", String(20), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),
    Column("disabled_by", String(255)),
    Column("disabled_reason", Text),
    Column("is_latest_version", Boolean, nullable=False),
    Column("previous_version", String(50)),
    Column("deprecation_notice", Text),
    Column("version_notes", Text),
    Column("change_summary", Text),
    Column("approved_by", String(255)),
    Column("approved_at", DateTime(timezone=True)),
    Column("expected_success_rate", Float),
    Column("expected_duration_seconds", Integer),
    Column("actual_success_rate", Float),
    Column("total_executions", Integer, nullable=False),
    Column("successful_executions", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("created_by", String(255)),
    Column("updated_by", String(255)),
    Column("embedding", VectorLiteral()),
    Column("embedding_model", Text),
    Column("embedding_text_hash", String(64)),
    Column("text_hash", String(64)),
    Column("embedded_at", DateTime(timezone=True)),
)
# Every column but the vector itself: reads never ship 384 floats per row.
ROW_COLUMNS = [column for column in workflows.c if column.name != "embedding"]

Row = dict[str, Any]
# Every catalog timestamp comes from the database's clock, never the app's.
DATABASE_NOW = func.clock_timestamp()


def _plain(row: Mapping[Any, Any]) -> Row:
    # Column names arrive as sqlalchemy's str subclass, which msgspec will not take as a key.
    return {str(key): value for key, value in row.items()}


class WorkflowRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_name(self, workflow_name: str) -> None:
        """Serialise version changes of one workflow name until the transaction ends."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": workflow_name}
        )

    async def insert(self, values: Mapping[str, Any]) -> Row:
        result = await self.session.execute(insert(workflows).values(**values).returning(*ROW_COLUMNS))
        return _plain(result.mappings().one())

    async def get(self, workflow_id: UUID) -> Row | None:
        result = await self.session.execute(select(*ROW_COLUMNS).where(workflows.c.workflow_id == workflow_id))
        row = result.mappings().one_or_none()
        return None if row is None else _plain(row)

    async def get_version(self, workflow_name: str, version: str) -> Row | None:
        result = await self.session.execute(
            select(*ROW_COLUMNS).where(workflows.c.workflow_name == workflow_name, workflows.c.version == version)
        )
        row = result.mappings().one_or_none()
        return None if row is None else _plain(row)

    async def get_latest(self, workflow_name: str) -> Row | None:
        result = await self.session.execute(
            select(*ROW_COLUMNS).where(workflows.c.workflow_name == workflow_name, workflows.c.is_latest_version)
        )
        row = result.mappings().one_or_none()
        return None if row is None else _plain(row)

    async def update(self, workflow_id: UUID, values: Mapping[str, Any]) -> Row | None:
        result = await self.session.execute(
            update(workflows)
            .where(workflows.c.workflow_id == workflow_id)
            .values(**values, updated_at=DATABASE_NOW)
            .returning(*ROW_COLUMNS)
        )
        row = result.mappings().one_or_none()
        return None if row is None else _plain(row)

    async def page(
        self,
        *,
        status: str | None,
        workflow_name: str | None,
        token_filters: Sequence[Sequence[str]],
        limit: int,
        offset: int,
    ) -> tuple[list[Row], int]:
        """A page in ``created_at DESC, workflow_id ASC`` order, and the filtered total."""
        conditions = [workflows.c.label_tokens.overlap(list(tokens)) for tokens in token_filters]
        if status is not None:
            conditions.append(workflows.c.status == status)
        if workflow_name is not None:
            conditions.append(workflows.c.workflow_name == workflow_name)
        total = await self.session.scalar(select(func.count()).select_from(workflows).where(*conditions))
        result = await self.session.execute(
            select(*ROW_COLUMNS)
            .where(*conditions)
            .order_by(workflows.c.created_at.desc(), workflows.c.workflow_id.asc())
            .limit(limit)
            .offset(offset)
        )
        return [_plain(row) for row in result.mappings()], int(total or 0)

    async def versions(self, workflow_name: str) -> list[Row]:
        result = await self.session.execute(
            select(*ROW_COLUMNS)
            .where(workflows.c.workflow_name == workflow_name)
            .order_by(workflows.c.created_at.desc(), workflows.c.workflow_id.asc())
        )
        return [_plain(row) for row in result.mappings()]

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(workflows)) or 0)


class SearchRepository:
    """The search statements, each sent as it is to asyncpg on a pooled connection, outside any
    transaction: a search is one statement, consistent on its own; without BEGIN and COMMIT it
    costs no extra round trips, and without the SQL layer no compile or result wrapping (together
    most of a label search's own time; ``benchmarks/README.md``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def search(self, parameters: Mapping[str, Any]) -> list[Row]:
        return await self._fetch(LABEL_SEARCH, parameters)

    async def search_semantic(self, parameters: Mapping[str, Any]) -> list[Row]:
        """Ranked rows; the first row always exists and carries ``skipped_without_embedding``
        (its ``workflow_id`` is None when nothing matched)."""
        return await self._fetch(SEMANTIC_SEARCH, parameters)

    async def _fetch(self, statement: PositionalStatement, parameters: Mapping[str, Any]) -> list[Row]:
        async with driver_connection(self.engine) as connection:
            records = await connection.fetch(statement.sql, *statement.arguments(parameters))
        return [dict(record) for record in records]
