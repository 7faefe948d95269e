"""Searches whose terms may be personal (ID numbers, phones) travel by POST, never in a URL.

A list page posts its filter form here; the filter is kept in the session under a short random
token and the browser is sent to `?s=<token>` (so the address bar, access logs and the
Referer carry no ID number). Pagination, export and "confirm all matching" carry the token.
A token lives an hour and only in the session that made it. Filters that are not personal
(school, campus, status) still work as plain query parameters, so links between pages stay
simple; the personal ones are dropped from any query string.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponseRedirect, QueryDict

SESSION_KEY = "searches"
TOKEN_PARAMETER = "s"
TOKEN_SECONDS = 3600
KEPT_PER_SESSION = 20
PRIVATE_FIELDS = frozenset({"q", "id_number", "phone"})


@dataclass(frozen=True)
class Search:
    data: QueryDict | None  # bound form data, or None for an unfiltered page
    token: str
    expired: bool = False

    @property
    def query(self) -> str:
        """The query string that brings this search back (for page links and exports)."""
        if self.token:
            return urlencode({TOKEN_PARAMETER: self.token})
        if self.data is None:
            return ""
        return self.data.urlencode()


def search_redirect(
    request: HttpRequest, *, page: str, fields: Iterable[str]
) -> HttpResponseRedirect:
    """Keep the POSTed filter under a new token and send the browser to `?s=<token>`."""
    data = {field: request.POST.getlist(field) for field in fields if field in request.POST}
    token = secrets.token_urlsafe(9)
    now = time.time()
    kept = {
        key: value
        for key, value in request.session.get(SESSION_KEY, {}).items()
        if now - value["at"] < TOKEN_SECONDS
    }
    kept[token] = {"page": page, "data": data, "at": now}
    newest = sorted(kept.items(), key=lambda item: item[1]["at"])[-KEPT_PER_SESSION:]
    request.session[SESSION_KEY] = dict(newest)
    return HttpResponseRedirect(f"{request.path}?{urlencode({TOKEN_PARAMETER: token})}")


def search_from(request: HttpRequest, *, page: str) -> Search:
    """The filter a GET (or a POST to an action) asks for: a stored token or public parameters."""
    token = request.GET.get(TOKEN_PARAMETER, "")
    if token:
        stored = request.session.get(SESSION_KEY, {}).get(token)
        if stored is None or stored["page"] != page or time.time() - stored["at"] >= TOKEN_SECONDS:
            return Search(data=None, token="", expired=True)
        data = QueryDict(mutable=True)
        for field, values in stored["data"].items():
            data.setlist(field, values)
        return Search(data=data, token=token)
    public = request.GET.copy()
    for field in ("page", TOKEN_PARAMETER, *PRIVATE_FIELDS):
        public.pop(field, None)
    return Search(data=public if public else None, token="")
