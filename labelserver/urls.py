from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# The API docs page's exceptions to the Content-Security-Policy (see the route below).
SWAGGER_CSP = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"]})

# No route serves MEDIA_ROOT: stored files are answered by views that check who may read them
# (a crop's display PNG and an original image: annotations; weights: active_learning), which
# send them through labelserver.files.
# GET /healthz (database, broker, storage) has no route: labelserver.health.HealthCheckMiddleware
# answers it before the host check and the HTTPS redirect, for probes that know neither.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # swagger-ui from our static files (drf-spectacular-sidecar); the split view serves its start-up
    # script from ?script rather than inline, so the page keeps to a script-src 'self' policy.
    # Its template keeps a small <style> block and swagger-ui's CSS draws icons from data: URLs:
    # allowed on this page only (docs/security.md); scripts stay 'self'.
    path("api/docs/", SWAGGER_CSP(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("api/", include("annotations.urls")),
    path("api/", include("active_learning.urls")),
    path("", include("frontend.urls")),
]

# JSON under /api/ for the errors Django answers before (or instead of) a view: labelserver/error_pages.py.
handler400 = "labelserver.error_pages.bad_request"
handler403 = "labelserver.error_pages.permission_denied"
handler404 = "labelserver.error_pages.page_not_found"
handler500 = "labelserver.error_pages.server_error"
