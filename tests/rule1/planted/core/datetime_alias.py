"""Planted rule-1 violation: reads the wall clock through aliases of datetime's classes."""

import datetime
from datetime import date as day

D = datetime.datetime


def stamp() -> datetime.datetime:
    return D.now()


def today() -> datetime.date:
    clock: type[datetime.date] = day
    return clock.today()


def utc(moment: type[datetime.datetime] = D) -> datetime.datetime:
    return moment.utcnow()
