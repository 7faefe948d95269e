"""The student pages mounted elsewhere: page_url must not keep the addresses of another URLconf."""

from django.urls import include, path

urlpatterns = [path("elsewhere/", include("confirmations.urls"))]
