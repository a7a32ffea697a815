from django.urls import path

from . import views

app_name = "recordings"

urlpatterns = [
    path("start", views.recording_start, name="start"),
    path("panel", views.recordings_panel, name="panel"),
    path("<int:recording_id>/", views.recording_detail, name="detail"),
    path("<int:recording_id>/file", views.recording_file, name="file"),
    path("<int:recording_id>/stop", views.recording_stop, name="stop"),
    path("<int:recording_id>/delete", views.recording_delete, name="delete"),
]
