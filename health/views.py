"""Health endpoints for load balancers and monitors (routed by health.middleware)."""

from django.http import HttpRequest, JsonResponse

from health.readiness import readiness


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering; touches neither the database nor the broker."""
    return _no_store(JsonResponse({"status": "ok"}))


def readyz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachable, beat and every queue's worker alive, no queue late."""
    report = readiness()
    body = {"status": "ready" if report["ready"] else "not ready", "checks": report["checks"]}
    return _no_store(JsonResponse(body, status=200 if report["ready"] else 503))


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response
