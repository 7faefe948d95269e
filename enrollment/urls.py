from django.urls import path

from enrollment import views

app_name = "enrollment"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("template.xlsx", views.template_download, name="template"),
    path("uploads/new/", views.upload_new, name="upload_new"),
    path("uploads/<uuid:upload_id>/", views.upload_detail, name="upload_detail"),
    path("uploads/<uuid:upload_id>/status/", views.upload_status, name="upload_status"),
    path("uploads/<uuid:upload_id>/errors.xlsx", views.upload_error_workbook, name="upload_errors"),
    path("uploads/<uuid:upload_id>/commit/", views.upload_commit, name="upload_commit"),
    path("records/", views.record_list, name="record_list"),
    path("records/new/", views.record_create, name="record_create"),
    path("records/<int:pk>/edit/", views.record_edit, name="record_edit"),
    path("records/delete/", views.record_delete, name="record_delete"),
]
