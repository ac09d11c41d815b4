"""Reports of messages by their receivers, and what staff do with them (the admin's queue)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import User
from chat.access import message_of_participant
from chat.models import Report
from chat.services import moderation
from chat.validation import ReportRequest
from core.errors import Forbidden


@dataclass(frozen=True)
class ReportResult:
    report: Report
    created: bool  # False for a repeat: the first report stands


def report_message(*, user: User, message_id: int, request: ReportRequest) -> ReportResult:
    """The receiver reports a message (an outsider's is a 404, one's own a 403); once per reporter."""
    message = message_of_participant(user, message_id)
    if message.sender_id == user.pk:
        raise Forbidden("You cannot report your own message.")
    existing = Report.objects.filter(message=message, reporter=user).first()
    if existing is not None:
        return ReportResult(existing, created=False)
    try:
        with transaction.atomic():
            report = Report.objects.create(
                message=message,
                reporter=user,
                sender_id=message.sender_id,
                content=message.content,
                reason=request.reason,
                note=request.note,
            )
    except IntegrityError:  # the same report raced in from another request
        return ReportResult(Report.objects.get(message=message, reporter=user), created=False)
    return ReportResult(report, created=True)


DISMISSED = "dismissed"
MESSAGE_DELETED = "message deleted"
SENDER_DEACTIVATED = "sender deactivated"


def _resolve(reports: list[Report], staff: User, status: str, resolution: str) -> int:
    now = timezone.now()
    return Report.objects.filter(pk__in=[r.pk for r in reports]).update(
        status=status, resolution=resolution, resolved_at=now, resolved_by=staff
    )


def dismiss(*, report_ids: Iterable[int], staff: User) -> int:
    """Close reports with nothing done."""
    with transaction.atomic():
        reports = list(Report.objects.filter(pk__in=list(report_ids)))
        return _resolve(reports, staff, Report.Status.DISMISSED, DISMISSED)


def delete_reported_messages(*, report_ids: Iterable[int], staff: User) -> int:
    """Soft-delete the reported messages through moderation (previews and message_deleted stay
    right) and close every report of them; returns how many messages were deleted."""
    with transaction.atomic():
        reports = list(Report.objects.filter(pk__in=list(report_ids)))
        message_ids = {r.message_id for r in reports if r.message_id is not None}
        deleted = moderation.moderate_messages(message_ids=message_ids, deleted=True)
        _resolve(
            list(Report.objects.filter(message_id__in=message_ids)), staff, Report.Status.ACTIONED, MESSAGE_DELETED
        )
    return deleted


def deactivate_reported_senders(*, report_ids: Iterable[int], staff: User) -> int:
    """Deactivate the senders of the reported messages through accounts (their tokens and sockets
    stop at once) and close the reports; returns how many users were deactivated."""
    with transaction.atomic():
        reports = list(Report.objects.filter(pk__in=list(report_ids)))
        sender_ids = {r.sender_id for r in reports if r.sender_id is not None}
        senders = list(User.objects.filter(pk__in=sender_ids, is_active=True))
        for sender in senders:
            accounts.deactivate(user=sender)
        _resolve(reports, staff, Report.Status.ACTIONED, SENDER_DEACTIVATED)
    return len(senders)
