"""Entries written on Django's signals: logins, admin edits and designation changes."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from audit.services import Action, audit_record
from schools.models import FilerDesignation

_ADMIN_FLAGS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender, request, user, **kwargs) -> None:
    audit_record(action=Action.LOGIN, request=request, actor=user)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(action=Action.LOGOUT, request=request, actor=user)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # The typed user name is kept (masked: people type ID numbers into it); never the password.
    audit_record(
        action=Action.LOGIN_FAILED,
        request=request,
        actor_label=str(credentials.get("username", ""))[:150],
    )


@receiver(user_locked_out, dispatch_uid="audit_locked_out")
def _locked_out(sender, request, username, ip_address, **kwargs) -> None:
    audit_record(action=Action.LOCKED_OUT, request=request, actor_label=str(username or ""))


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_log")
def _admin_change(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    kind = instance.content_type
    audit_record(
        action=Action.ADMIN_CHANGE,
        actor=instance.user,
        target=f"{kind.app_label}.{kind.model}:{instance.object_id}" if kind else "",
        detail={
            "flag": _ADMIN_FLAGS.get(instance.action_flag, str(instance.action_flag)),
            "object": str(instance.object_repr),
            # str(): django-import-export's messages are lazy translations (not JSON).
            "message": str(instance.get_change_message()),
        },
    )


@receiver(post_save, sender=FilerDesignation, dispatch_uid="audit_designation_add")
def _designation_added(sender, instance: FilerDesignation, created: bool, **kwargs) -> None:
    if created:
        audit_record(
            action=Action.DESIGNATION_ADD,
            campus=instance.campus,
            target=f"user:{instance.user_id}",
            detail={"user": instance.user.get_username(), "campus": instance.campus.code},
        )


@receiver(post_delete, sender=FilerDesignation, dispatch_uid="audit_designation_remove")
def _designation_removed(sender, instance: FilerDesignation, **kwargs) -> None:
    audit_record(
        action=Action.DESIGNATION_REMOVE,
        campus=instance.campus,
        target=f"user:{instance.user_id}",
        detail={"user": instance.user.get_username(), "campus": instance.campus.code},
    )
