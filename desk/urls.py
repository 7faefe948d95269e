from django.urls import path

from desk import views

app_name = "desk"

urlpatterns = [
    path("", views.desk, name="desk"),
    path("numbers.json", views.desk_numbers, name="numbers"),
    path("activation/", views.activation, name="activation"),
    path("activation/export.xlsx", views.activation_export, name="activation_export"),
    path("batch/", views.batch_confirm, name="batch_confirm"),
    path("batch/upload/", views.batch_upload, name="batch_upload"),
    path("batch/upload/<uuid:upload_id>/", views.id_list_detail, name="id_list_detail"),
    path("batch/template.xlsx", views.batch_template, name="batch_template"),
    path("batch/<uuid:batch_id>/", views.batch_detail, name="batch_detail"),
    path("applications/<int:application_id>/retry/", views.retry, name="retry"),
    path("reminders/", views.remind, name="remind"),
    path("reminders/preview/", views.remind_preview, name="remind_preview"),
    path("reconciliation.xlsx", views.reconciliation_export, name="reconciliation"),
    path("query/", views.query, name="query"),
]
