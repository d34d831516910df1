"""HTTP routes of the audit trail's integrity: hash chain verification (extension)."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.integrity_schemas import ChainVerification, VerifyChainRequest
from app.audit.repository import AuditRepository
from app.audit.verification import ChainVerifier
from app.audit.writer import AuditWriter


def provide_chain_verifier(
    db_session: NamedDependency[AsyncSession], audit_writer: NamedDependency[AuditWriter]
) -> ChainVerifier:
    return ChainVerifier(AuditRepository(db_session), audit_writer.chain.hasher)


class AuditIntegrityController(Controller):
    path = "/api/v1/audit"
    tags = ["Audit Integrity API"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {  # noqa: RUF012 - Litestar reads it as a class attribute
        "verifier": Provide(provide_chain_verifier, sync_to_thread=False),
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
