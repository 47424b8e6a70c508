"""Planted rule-1 violation: reads the wall clock through datetime, aliased and from-imported."""

import datetime as dt
from datetime import datetime


def stamp() -> dt.datetime:
    return dt.datetime.now(tz=dt.timezone.utc)


def utc_stamp() -> datetime:
    return datetime.utcnow()


def today() -> dt.date:
    return dt.date.today()
