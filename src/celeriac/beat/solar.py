"""Solar schedules: fire at sunrise, sunset, dawn or dusk at a place (needs ephem)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from celeriac.beat.schedules import BaseSchedule, ScheduleApp
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["SolarEventNeverHappens", "solar"]


class SolarEventNeverHappens(ValueError):
    """The solar event does not happen on that day or in the searched period (polar day/night)."""


class solar(BaseSchedule):
    """Fires at a solar event at a place (needs ``pip install 'celeriac[solar]'``: ephem).

    Events, horizons and centre/limb choices are Celery's, so times agree with Celery.
    """

    _horizons = {
        "dawn_astronomical": "-18",
        "dawn_nautical": "-12",
        "dawn_civil": "-6",
        "sunrise": "-0:34",
        "solar_noon": "0",
        "sunset": "-0:34",
        "dusk_civil": "-6",
        "dusk_nautical": "-12",
        "dusk_astronomical": "-18",
    }
    _methods = {
        "dawn_astronomical": "next_rising",
        "dawn_nautical": "next_rising",
        "dawn_civil": "next_rising",
        "sunrise": "next_rising",
        "solar_noon": "next_transit",
        "sunset": "next_setting",
        "dusk_civil": "next_setting",
        "dusk_nautical": "next_setting",
        "dusk_astronomical": "next_setting",
    }
    _use_center = {
        "dawn_astronomical": True,
        "dawn_nautical": True,
        "dawn_civil": True,
        "sunrise": False,
        "solar_noon": False,
        "sunset": False,
        "dusk_civil": True,
        "dusk_nautical": True,
        "dusk_astronomical": True,
    }
    _all_events = frozenset(_horizons)
    #: Days searched ahead for an event that does not happen every day (polar night/day).
    max_search_days = 366

    def __init__(
        self,
        event: str,
        lat: float,
        lon: float,
        nowfun: Callable[[], datetime] | None = None,
        app: ScheduleApp | None = None,
    ) -> None:
        try:
            import ephem
        except ImportError as exc:
            raise ImproperlyConfigured(
                "solar schedules need the ephem library: pip install 'celeriac[solar]'"
            ) from exc
        if event not in self._all_events:
            raise ValueError(
                f'Argument event "{event}" is invalid, must be one of '
                f"{', '.join(sorted(self._all_events))}."
            )
        if not -90 <= lat <= 90:
            raise ValueError(f"Argument latitude {lat} is invalid, must be between -90 and 90.")
        if not -180 <= lon <= 180:
            raise ValueError(f"Argument longitude {lon} is invalid, must be between -180 and 180.")
        self._ephem = ephem
        self.event, self.lat, self.lon = event, lat, lon
        self.method = self._methods[event]
        self.use_center = self._use_center[event]
        super().__init__(nowfun, app)

    def _observer(self) -> Any:
        observer = self._ephem.Observer()
        observer.lat = str(self.lat)
        observer.lon = str(self.lon)
        observer.elev = 0
        observer.pressure = 0
        observer.horizon = self._horizons[self.event]
        return observer

    def _next(self, observer: Any, start: Any) -> Any:
        kwargs = {"use_center": True} if self.use_center else {}
        return getattr(observer, self.method)(self._ephem.Sun(), start=start, **kwargs)

    def next_run_after(self, last_run_at: datetime) -> datetime:
        """The first occurrence after ``last_run_at``, skipping days it does not happen.

        Raises:
            SolarEventNeverHappens: not within :attr:`max_search_days` days.
        """
        ephem = self._ephem
        start_dt = self.maybe_make_aware(last_run_at).astimezone(UTC).replace(tzinfo=None)
        observer = self._observer()
        start = ephem.Date(start_dt)
        for _ in range(self.max_search_days):
            try:
                found = self._next(observer, start)
            except ephem.CircumpolarError:
                start = observer.next_antitransit(ephem.Sun(), start=start)
                continue
            return _from_ephem(found)
        raise SolarEventNeverHappens(
            f"{self.event} does not happen at latitude {self.lat}, longitude {self.lon} "
            f"within {self.max_search_days} days after {last_run_at.isoformat()}"
        )

    def event_on(self, day: date) -> datetime:
        """The event's time (aware UTC) on a UTC calendar day.

        Raises:
            SolarEventNeverHappens: the event does not happen that day (polar day or night).
        """
        ephem = self._ephem
        observer = self._observer()
        midnight = datetime.combine(day, time())
        try:
            found = _from_ephem(self._next(observer, ephem.Date(midnight)))
        except ephem.CircumpolarError:
            found = None
        if found is None or found.date() != day:
            raise SolarEventNeverHappens(
                f"{self.event} does not happen on {day.isoformat()} (UTC) at latitude "
                f"{self.lat}, longitude {self.lon}: the sun stays above or below the "
                f"event's horizon ({self._horizons[self.event]} degrees) all day"
            )
        return found

    def __repr__(self) -> str:
        return f"<solar: {self.event} at latitude {self.lat}, longitude: {self.lon}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, solar):
            return (self.event, self.lat, self.lon) == (other.event, other.lat, other.lon)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.event, self.lat, self.lon))

    def __reduce__(self) -> tuple[object, ...]:
        return self.__class__, (self.event, self.lat, self.lon)


def _from_ephem(value: Any) -> datetime:
    return value.datetime().replace(tzinfo=UTC)  # type: ignore[no-any-return]
