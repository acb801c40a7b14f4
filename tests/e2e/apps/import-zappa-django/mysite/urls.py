from django.conf import settings
from django.http import JsonResponse
from django.urls import path


def hello(request, name):
    return JsonResponse({"hello": name, "site": settings.SITE_NAME, "method": request.method,
                         "q": request.GET.get("q")})


urlpatterns = [path("hello/<str:name>/", hello)]
