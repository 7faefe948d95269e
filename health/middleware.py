"""Answer /healthz and /readyz before any other middleware runs.

A load balancer probes by IP address (not in ALLOWED_HOSTS), over plain http inside the
network (no https redirect), without cookies or a session: none of that concerns health.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from health import views

ENDPOINTS = {"/healthz": views.healthz, "/readyz": views.readyz}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = ENDPOINTS.get(request.path_info)
        if endpoint is not None and request.method in ("GET", "HEAD"):
            return endpoint(request)
        return self.get_response(request)
