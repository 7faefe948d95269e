"""Who may file for which campus: the five rules of 指定人员确认规则 (domain.md §2).

Every view, the CLI and the admin ask this module (`campuses_fileable_by` to upload, add and
delete; `campuses_visible_to` to see, export, query, edit and confirm); nothing re-derives
access inline.

1. the filers a school designated for a campus file for it;
2. a branch campus with no filer of its own uses the main campus's filers;
3. handlers of the district where the main campus lies are backups for its branch campuses;
4. handlers of a campus's own district are backups for that campus;
5. an active school with no designated filer at all: the handlers of its district (where its
   main campus lies) are its designated filers, for every campus.

A deregistered or merged school takes no new uploads, so nobody files for it (rule 5 says so
explicitly; rules 1–4 follow the same reason). But the students it already filed exist: they
stay visible to the city administrator and to its districts' handlers (rules 3 and 4), who may
still confirm them and correct their records (domain.md §2, corrected 2026-11-28). City
administrators may file for every campus of an active school and see every campus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet

from schools.models import MAIN_CAMPUS_SEQUENCE, Campus, FilerDesignation, School, User


class FilingBasis(models.TextChoices):
    """Why a user may file for a campus; the order is the order of precedence."""

    CITY_ADMIN = "city_admin", "市医保中心"
    DESIGNATED = "rule_1", "本校区指定人员"
    MAIN_CAMPUS_FILER = "rule_2", "总校指定人员（分校未指定）"
    DISTRICT_AS_FILER = "rule_5", "区经办人员（院校未指定人员，作为指定人员）"
    MAIN_DISTRICT_BACKUP = "rule_3", "总校所在区经办人员（分校备选）"
    DISTRICT_BACKUP = "rule_4", "校区所在区经办人员（备选）"


def _is_branch() -> Q:
    return ~Q(code__endswith=MAIN_CAMPUS_SEQUENCE)


def _schools_based_in(district_id: int) -> QuerySet:
    return Campus.objects.filter(code__endswith=MAIN_CAMPUS_SEQUENCE, district=district_id).values(
        "school"
    )


def _rule_1(user: User) -> Q:
    return Q(designations__user=user)


def _rule_2(user: User) -> Q:
    main_campus_schools = Campus.objects.filter(
        code__endswith=MAIN_CAMPUS_SEQUENCE, designations__user=user
    ).values("school")
    has_own_filer = FilerDesignation.objects.filter(campus=OuterRef("pk"))
    return Q(_is_branch(), ~Exists(has_own_filer), school__in=main_campus_schools)


def _rule_3(user: User) -> Q:
    return Q(_is_branch(), school__in=_schools_based_in(user.district_id))


def _rule_4(user: User) -> Q:
    return Q(district=user.district_id)


def _rule_5(user: User) -> Q:
    school_has_filer = FilerDesignation.objects.filter(campus__school=OuterRef("school"))
    return Q(~Exists(school_has_filer), school__in=_schools_based_in(user.district_id))


@dataclass(frozen=True)
class Rule:
    basis: FilingBasis
    applies: Callable[[User], Q]
    # Whether the rule still holds once the school is deregistered or merged: then only its
    # districts' handlers keep seeing (and confirming) the students it filed.
    outlives_the_school: bool = False


_FILER_RULES: list[Rule] = [
    Rule(FilingBasis.DESIGNATED, _rule_1),
    Rule(FilingBasis.MAIN_CAMPUS_FILER, _rule_2),
]
_HANDLER_RULES: list[Rule] = [
    Rule(FilingBasis.DISTRICT_AS_FILER, _rule_5),  # "凡院校未注销、合并": active schools only
    Rule(FilingBasis.MAIN_DISTRICT_BACKUP, _rule_3, outlives_the_school=True),
    Rule(FilingBasis.DISTRICT_BACKUP, _rule_4, outlives_the_school=True),
]


def _rules_for(user: User) -> list[Rule]:
    return _FILER_RULES + (_HANDLER_RULES if user.is_district_handler else [])


def _active_school() -> Q:
    return Q(school__status=School.Status.ACTIVE)


def _campuses_where(user: User, *, inactive_schools: bool) -> QuerySet[Campus]:
    """Campuses of active schools by any rule; with `inactive_schools`, also the campuses of
    deregistered or merged schools by the rules that outlive a school."""
    if not user.is_authenticated or not user.is_active:
        return Campus.objects.none()
    if user.is_city_admin:
        every = (
            Campus.objects.all() if inactive_schools else Campus.objects.filter(_active_school())
        )
        return every.select_related("school", "district")
    allowed = Q(pk__in=[])
    for rule in _rules_for(user):
        if inactive_schools and rule.outlives_the_school:
            allowed |= rule.applies(user)
        else:
            allowed |= Q(_active_school(), rule.applies(user))
    # Filtering by a subquery keeps the result free of join duplicates and composable.
    ids = Campus.objects.filter(allowed).values("pk")
    return Campus.objects.filter(pk__in=ids).select_related("school", "district")


def campuses_fileable_by(user: User) -> QuerySet[Campus]:
    """The campuses `user` may upload rosters for, and add or delete records of."""
    return _campuses_where(user, inactive_schools=False)


def campuses_visible_to(user: User) -> QuerySet[Campus]:
    """The campuses whose filed students `user` may see (lists, query, exports), correct and
    confirm: the fileable ones, and a deregistered or merged school's for its districts."""
    return _campuses_where(user, inactive_schools=True)


def filing_basis(user: User, campus: Campus) -> FilingBasis | None:
    """The first rule by which `user` files for `campus`, or None when none applies."""
    if not campuses_fileable_by(user).filter(pk=campus.pk).exists():
        return None
    if user.is_city_admin:
        return FilingBasis.CITY_ADMIN
    for rule in _rules_for(user):
        if Campus.objects.filter(rule.applies(user), pk=campus.pk).exists():
            return rule.basis
    return None  # unreachable: fileable implies one rule applies


def schools_fileable_by(user: User) -> QuerySet[School]:
    """Schools with at least one campus the user may file for (the upload page's choices)."""
    return School.objects.filter(campuses__in=campuses_fileable_by(user)).distinct()


def schools_visible_to(user: User) -> QuerySet[School]:
    """Schools with at least one campus whose students the user may see (list filters)."""
    return School.objects.filter(campuses__in=campuses_visible_to(user)).distinct()


def can_file_for(user: User, campus: Campus) -> bool:
    return campuses_fileable_by(user).filter(pk=campus.pk).exists()
