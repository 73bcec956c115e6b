"""The shop's URLs: the admin, sign-up and activation, and the progress page."""

from django.contrib import admin
from django.urls import path
from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("signup/", views.signup, name="signup"),
    path("activate/<str:token>/", views.activate, name="activate"),
    path("report/", views.report, name="report"),
    path("report/<str:task_id>/progress/", views.progress, name="progress"),
]
