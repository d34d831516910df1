"""HTTP routes of the audit trail's integrity (extensions): hash chain verification, legal holds."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.integrity_schemas import (
    ChainVerification,
    LegalHold,
    LegalHoldRelease,
    LegalHoldReleased,
    LegalHoldRequest,
    LegalHolds,
    VerifyChainRequest,
)
from app.audit.legal_hold import LegalHoldService
from app.audit.repository import AuditRepository
from app.audit.verification import ChainVerifier
from app.audit.writer import AuditWriter
from app.lib.request_context import principal_of


def provide_chain_verifier(
    db_session: NamedDependency[AsyncSession], audit_writer: NamedDependency[AuditWriter]
) -> ChainVerifier:
    return ChainVerifier(AuditRepository(db_session), audit_writer.chain.hasher)


def provide_legal_holds(
    db_session: NamedDependency[AsyncSession], audit_writer: NamedDependency[AuditWriter]
) -> LegalHoldService:
    return LegalHoldService(db_session, audit_writer.chain, audit_writer.partitions)


class AuditIntegrityController(Controller):
    path = "/api/v1/audit"
    tags = ["Audit Integrity API"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {  # noqa: RUF012 - Litestar reads it as a class attribute
        "verifier": Provide(provide_chain_verifier, sync_to_thread=False),
        "legal_holds": Provide(provide_legal_holds, sync_to_thread=False),
    }

    @post(
        "/verify-chain",
        operation_id="verifyAuditChain",
        summary="Verify the hash chain of a correlation",
        description="200 whether or not the chain is intact; `is_valid` and `tampered_events` say which.",
        status_code=HTTP_200_OK,
    )
    async def verify_chain(
        self, data: JSONBody[VerifyChainRequest], verifier: NamedDependency[ChainVerifier]
    ) -> ChainVerification:
        return await verifier.verify(data.correlation_id)

    @post(
        "/legal-hold",
        operation_id="placeLegalHold",
        summary="Place a legal hold on a correlation's audit events",
        description="While held, no event of the correlation can be deleted, by the service or anyone else.",
        status_code=HTTP_200_OK,
    )
    async def place_hold(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LegalHoldRequest],
        legal_holds: NamedDependency[LegalHoldService],
    ) -> LegalHold:
        return await legal_holds.place(data.correlation_id, data.reason, principal_of(request.scope))

    @get("/legal-hold", operation_id="listLegalHolds", summary="List the active legal holds")
    async def list_holds(self, legal_holds: NamedDependency[LegalHoldService]) -> LegalHolds:
        return await legal_holds.active()

    @delete(
        "/legal-hold/{correlation_id:str}",
        operation_id="releaseLegalHold",
        summary="Release a correlation's legal hold",
        description='The release reason is required, in the body (`{"reason"}`) or the `reason` query parameter.',
        status_code=HTTP_200_OK,
    )
    async def release_hold(
        self,
        request: Request[Any, Any, Any],
        correlation_id: FromPath[str],
        legal_holds: NamedDependency[LegalHoldService],
        data: JSONBody[LegalHoldRelease | None] = None,
        reason: Annotated[str | None, QueryParameter(max_length=2000)] = None,
    ) -> LegalHoldReleased:
        given = reason if reason is not None else (data.reason if data is not None else None)
        return await legal_holds.release(correlation_id, given, principal_of(request.scope))
