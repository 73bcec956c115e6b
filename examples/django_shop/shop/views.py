"""Sign-up (the activation e-mail goes out from a task) and the report's progress page."""

from django import forms
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from celeriac.result import AsyncResult

from .models import Activation
from .tasks import build_report, send_activation_email


class SignupForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput)


def signup(request):
    """Create an inactive user; the activation e-mail is sent by a worker, after commit."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                form.cleaned_data["username"],
                form.cleaned_data["email"],
                form.cleaned_data["password"],
                is_active=False,
            )
            Activation.objects.create(user=user)
            base_url = request.build_absolute_uri("/").rstrip("/")
            transaction.on_commit(lambda: send_activation_email.delay(user.pk, base_url))
        return render(request, "shop/signup_done.html", {"email": user.email})
    return render(request, "shop/signup.html", {"form": form})


def activate(request, token):
    activation = get_object_or_404(Activation, token=token)
    activation.user.is_active = True
    activation.user.save(update_fields=["is_active"])
    return HttpResponse("Your account is active.")


def report(request):
    """Start the long report task and show its progress bar."""
    result = build_report.delay(int(request.GET.get("total", 30)))
    return render(request, "shop/report.html", {"task_id": result.id})


def progress(request, task_id):
    """The task's state and progress, for the page's script."""
    result = AsyncResult(task_id)
    info = result.info if isinstance(result.info, dict) else {}
    return JsonResponse(
        {
            "state": result.state,
            "current": info.get("current", 0),
            "total": info.get("total", 1),
        }
    )
