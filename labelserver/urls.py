from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("annotations.urls")),
    path("api/", include("active_learning.urls")),
    path("", include("frontend.urls")),
]



def media(request: HttpRequest, path: str) -> HttpResponse:
    # Crop display PNGs are written once at ingest; serving one is a file read. Behind a reverse
    # proxy in production, let the proxy serve MEDIA_ROOT instead (SERVE_MEDIA=0).
    return serve(request, path, document_root=settings.MEDIA_ROOT)


if settings.SERVE_MEDIA:
    urlpatterns.append(re_path(r"^media/(?P<path>.*)$", media))
