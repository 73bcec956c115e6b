"""Field validation for the periodic-task models and the crontab's description in English."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError

from celeriac.beat.schedules import ParseException, crontab

__all__ = [
    "describe_crontab",
    "validate_crontab_field",
    "validate_json_list",
    "validate_json_object",
    "validate_timezone",
]

#: crontab field name -> (upper bound, lower bound) as celeriac's parser takes them
_BOUNDS = {
    "minute": (60, 0),
    "hour": (24, 0),
    "day_of_week": (7, 0),
    "day_of_month": (31, 1),
    "month_of_year": (12, 1),
}
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _crontab_field_validator(name: str) -> Callable[[str], None]:
    def validate(value: str) -> None:
        spec = {name: _normalize(value)}
        try:
            crontab(**spec)  # type: ignore[arg-type]
        except (ParseException, ValueError, TypeError) as exc:
            maximum, minimum = _BOUNDS[name]
            raise ValidationError(
                f"{value!r} is not a valid {name.replace('_', ' ')} "
                f"({minimum}-{maximum - 1}, '*', lists '1,2', ranges '1-5', steps '*/15'): {exc}",
                code="invalid_crontab",
            ) from exc

    validate.__name__ = f"validate_{name}"
    return validate


def _normalize(value: str) -> str:
    """django-celery-beat stores fields with spaces removed; '7' means Sunday there too."""
    return str(value).replace(" ", "") or "*"


validate_crontab_field = {name: _crontab_field_validator(name) for name in _BOUNDS}


def validate_minute(value: str) -> None:
    """A crontab minute field."""
    validate_crontab_field["minute"](value)


def validate_hour(value: str) -> None:
    """A crontab hour field."""
    validate_crontab_field["hour"](value)


def validate_day_of_week(value: str) -> None:
    """A crontab day-of-week field (0 or 7 is Sunday)."""
    validate_crontab_field["day_of_week"](value.replace("7", "0") if value.isdigit() else value)


def validate_day_of_month(value: str) -> None:
    """A crontab day-of-month field."""
    validate_crontab_field["day_of_month"](value)


def validate_month_of_year(value: str) -> None:
    """A crontab month field."""
    validate_crontab_field["month_of_year"](value)


def validate_timezone(value: object) -> None:
    """A zoneinfo key (``'Europe/Kyiv'``, ``'UTC'``)."""
    name = str(value)
    if name not in available_timezones() and name != "UTC":
        raise ValidationError(
            f"{name!r} is not a time zone name (e.g. 'Europe/Kyiv', 'UTC')", code="invalid_tz"
        )
    ZoneInfo(name)


def _load_json(value: str | None, what: str) -> object:
    try:
        return json.loads(value or "null")
    except ValueError as exc:
        raise ValidationError(f"{what} is not valid JSON: {exc}", code="invalid_json") from exc


def validate_json_list(value: str | None) -> None:
    """JSON text of a list (positional arguments)."""
    loaded = _load_json(value, "Positional arguments")
    if loaded is not None and not isinstance(loaded, list):
        raise ValidationError(
            'Positional arguments must be a JSON list, e.g. ["a", 1]', code="not_a_list"
        )


def validate_json_object(value: str | None) -> None:
    """JSON text of an object (keyword arguments, headers)."""
    loaded = _load_json(value, "The value")
    if loaded is not None and not isinstance(loaded, dict):
        raise ValidationError(
            'This must be a JSON object, e.g. {"key": "value"}', code="not_a_dict"
        )


# -- the description -------------------------------------------------------------------
def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted values as (first, last) runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _spans(values: Iterable[int], name: Callable[[int], str] = str, to: str = "-") -> str:
    parts = []
    for first, last in _runs(values):
        if first == last:
            parts.append(name(first))
        elif last == first + 1:
            parts.extend((name(first), name(last)))
        else:
            parts.append(f"{name(first)}{to}{name(last)}")
    return _join(parts)


def _step(values: frozenset[int], size: int, lowest: int = 0) -> int | None:
    """``k`` when ``values`` is exactly ``*/k`` (k > 1)."""
    ordered = sorted(values)
    if len(ordered) < 2 or ordered[0] != lowest:
        return None
    step = ordered[1] - ordered[0]
    return step if step > 1 and ordered == list(range(lowest, size, step)) else None


def _time_part(cron: crontab) -> str:
    minutes, hours = cron.minute, cron.hour
    every_hour = len(hours) == 24
    if len(minutes) == 60:
        return "every minute" if every_hour else f"every minute of hours {_spans(hours)}"
    step = _step(minutes, 60)
    if step is not None:
        text = f"every {step} minutes"
        return text if every_hour else f"{text} of hours {_spans(hours)}"
    if every_hour:
        plural = "s" if len(minutes) > 1 else ""
        return f"at minute{plural} {_spans(minutes)} of every hour"
    if len(minutes) * len(hours) <= 6:
        times = [f"{hour:02d}:{minute:02d}" for hour in sorted(hours) for minute in sorted(minutes)]
        return "at " + _join(times)
    return f"at minutes {_spans(minutes)} of hours {_spans(hours)}"


def _day_part(cron: crontab) -> str:
    parts = []
    if len(cron.day_of_month) < 31:
        parts.append(f"on day {_spans(cron.day_of_month)} of the month")
    if len(cron.day_of_week) < 7:
        parts.append("on " + _spans(cron.day_of_week, lambda d: _DAY_NAMES[d], " to "))
    if len(cron.month_of_year) < 12:
        parts.append("in " + _spans(cron.month_of_year, lambda m: _MONTH_NAMES[m - 1], " to "))
    return ", ".join(parts) if parts else "every day"


def describe_crontab(
    minute: str, hour: str, day_of_week: str, day_of_month: str, month_of_year: str, tz: str
) -> str:
    """``'At 18:00, every day (Europe/Kyiv)'``; the fields themselves when they do not parse."""
    fields = [_normalize(f) for f in (minute, hour, day_of_week, day_of_month, month_of_year)]
    try:
        cron = crontab(*fields)
    except (ParseException, ValueError, TypeError):
        return f"{' '.join(fields)} (invalid) ({tz})"
    text = f"{_time_part(cron)}, {_day_part(cron)}"
    return f"{text[0].upper()}{text[1:]} ({tz})"
