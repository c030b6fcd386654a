from django.contrib.auth import views as auth_views
from django.urls import path

from bench.peers.django import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("settings", views.settings_tab, name="settings"),
]
