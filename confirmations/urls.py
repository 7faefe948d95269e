from django.urls import path

from confirmations import views

app_name = "student"

urlpatterns = [
    path("", views.home, name="home"),
    path("identify/", views.identify, name="identify"),
    path("verify/", views.verify, name="verify"),
    path("verify/resend/", views.resend, name="resend"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("start/", views.start, name="start"),
    path("school/", views.choose_school, name="school"),
    path("record/", views.check_record, name="record"),
    path("pledge/", views.pledge, name="pledge"),
    path("benefits/", views.benefits, name="benefits"),
    path("benefits/estimate/", views.estimate, name="estimate"),
    path("benefits/questions/", views.questions, name="questions"),
    path("applications/", views.applications, name="applications"),
    path("applications/<str:approval_number>/submitted/", views.submitted, name="submitted"),
    path("applications/<str:approval_number>/", views.result, name="result"),
    path("applications/<str:approval_number>/pledge/", views.signed_pledge, name="signed_pledge"),
    path(
        "applications/<str:approval_number>/signature.png",
        views.signature_image,
        name="signature",
    ),
]
