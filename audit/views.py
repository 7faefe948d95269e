"""The audit trail for city administrators (everything) and district handlers (their scope)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from audit import selectors
from audit.forms import AuditSearchForm
from schools.models import School
from schools.scoping import schools_fileable_by
from security.searches import search_from, search_redirect

PER_PAGE = 100
SEARCH_FIELDS = ("id_number", "username", "school", "action", "date_from", "date_to")


@login_required
@require_http_methods(["GET", "POST"])
def entries(request: HttpRequest) -> HttpResponse:
    if not selectors.can_read_audit(request.user):
        raise PermissionDenied
    if request.method == "POST":  # the search may carry an ID number: keep it out of the URL
        return search_redirect(request, page="audit", fields=SEARCH_FIELDS)
    search = search_from(request, page="audit")
    schools = (
        School.objects.all() if request.user.is_city_admin else schools_fileable_by(request.user)
    )
    form = AuditSearchForm(search.data, schools=schools)
    found = selectors.entries_visible_to(request.user)
    if form.is_bound and form.is_valid():
        found = selectors.entries_search(found, **form.cleaned_data)
    else:
        found = found.order_by("-at", "-pk")
    page = Paginator(found, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/entries.html",
        {"form": form, "page": page, "query": search.query, "expired": search.expired},
    )
