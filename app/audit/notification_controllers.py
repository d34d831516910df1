"""HTTP route of the notification delivery audit (reference ``Audit Write API``)."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.notifications import (
    NotificationAudit,
    NotificationAuditRepository,
    NotificationAuditResponse,
    NotificationAuditService,
)


def provide_notification_audit_service(db_session: NamedDependency[AsyncSession]) -> NotificationAuditService:
    return NotificationAuditService(NotificationAuditRepository(db_session))


class NotificationAuditController(Controller):
    path = "/api/v1/audit/notifications"
    tags = ["Audit Write API"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {"service": Provide(provide_notification_audit_service, sync_to_thread=False)}  # noqa: RUF012

    @post(
        operation_id="createNotificationAudit",
        summary="Create notification audit record",
        status_code=HTTP_201_CREATED,
    )
    async def create(
        self, data: JSONBody[NotificationAudit], service: NamedDependency[NotificationAuditService]
    ) -> NotificationAuditResponse:
        return await service.record(data)
