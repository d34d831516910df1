"""HTTP route of the notification delivery audit (reference ``Audit Write API``)."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED

from app.audit.notification_schemas import NotificationAudit, NotificationAuditAccepted, NotificationAuditResponse
from app.audit.notification_service import NotificationAuditService
from app.audit.writer import AuditWriter


def provide_notification_audit_service(audit_writer: NamedDependency[AuditWriter]) -> NotificationAuditService:
    return NotificationAuditService(audit_writer)


class NotificationAuditController(Controller):
    path = "/api/v1/audit/notifications"
    tags = ["Audit Write API"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {"service": Provide(provide_notification_audit_service, sync_to_thread=False)}  # noqa: RUF012

    @post(
        operation_id="createNotificationAudit",
        summary="Create notification audit record",
        description="201 when stored; 202 when the database failed and the record is safely queued.",
        status_code=HTTP_201_CREATED,
        responses={
            202: ResponseSpec(NotificationAuditAccepted, description="Database write failed, queued to the DLQ")
        },
    )
    async def create(
        self, data: JSONBody[NotificationAudit], service: NamedDependency[NotificationAuditService]
    ) -> Response[NotificationAuditResponse | NotificationAuditAccepted]:
        result = await service.record(data)
        status = HTTP_202_ACCEPTED if isinstance(result, NotificationAuditAccepted) else HTTP_201_CREATED
        return Response(result, status_code=status)
