from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from security.forms import BoundedAdminAuthenticationForm, BoundedAuthenticationForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="enrollment:dashboard"), name="home"),
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

admin.site.login_form = BoundedAdminAuthenticationForm
admin.site.site_header = "大学生居民医保新生参保 · 管理后台"
admin.site.site_title = "新生参保管理"
