from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView

from config.views import favicon
from security.forms import BoundedAdminAuthenticationForm, BoundedAuthenticationForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="enrollment:dashboard"), name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=BoundedAuthenticationForm
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", include("security.urls")),
    path("enrollment/", include("enrollment.urls")),
    path("student/", include("confirmations.urls")),
    path("desk/", include("desk.urls")),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
]


def bench_trivial(request: HttpRequest) -> HttpResponse:
    """The benchmark's yardstick: what a request costs through the middleware and nothing else."""
    return HttpResponse("ok", content_type="text/plain")


if settings.BENCH_TRIVIAL_VIEW:  # bench/bench_student_flow.py sets it; never in production
    urlpatterns.append(path("bench/trivial/", bench_trivial))

admin.site.login_form = BoundedAdminAuthenticationForm
admin.site.site_header = "大学生居民医保新生参保 · 管理后台"
admin.site.site_title = "新生参保管理"
