"""Shifting DA and DT values by a whole number of days (Retain Longitudinal Temporal Information, modified dates).

Times (TM) are kept: a whole-day offset keeps every interval, and the time of day alone does not identify. A value
that cannot be parsed is emptied rather than passed through (fail closed).
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["DUMMY_VALUES", "shift_da", "shift_dt"]

#: valid dummy values (action D) of the date and time VRs; "00010101"-style dummies are invalid DA to dciodvfy
DUMMY_VALUES = {"DA": "19000101", "DT": "19000101000000", "TM": "000000"}

_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(.*)$")
# What may follow the date of a DT value: a time (HHMMSS.FFFFFF, less precise too) and a UTC offset.
_DT_TIME = re.compile(r"^(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?(?:[+\-]\d{4})?$")


def _shift_date(yyyymmdd: str, days: int) -> str:
    try:
        day = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return ""


def _shift_one_da(value: str, days: int) -> str:
    value = value.strip()
    if "-" in value:  # a date range (query-style values): shift both ends
        return "-".join(_shift_one_da(part, days) if part else "" for part in value.split("-"))
    if len(value) == 8 and value.isdigit():
        return _shift_date(value, days)
    if len(value) == 10 and value[4] == "." and value[7] == ".":  # ACR-NEMA "YYYY.MM.DD"
        return _shift_date(value.replace(".", ""), days)
    return ""


def shift_da(value: str, days: int) -> str:
    """Shift every date of a (possibly multi-valued) DA value; unparseable dates become empty."""
    return "\\".join(_shift_one_da(v, days) for v in value.split("\\"))


def _shift_one_dt(value: str, days: int) -> str:
    match = _DT.match(value.strip())
    if match is None:
        return ""
    year, month, day, rest = match.groups()
    if day is None:
        # Year or year-month precision: shift the middle of the period and keep the precision.
        shifted = _shift_date(f"{year}{month or '07'}{'15' if month else '01'}", days)
        return shifted[: 6 if month else 4]
    shifted = _shift_date(year + month + day, days)
    # anything else after the date is not a time: free text (a name, a number) that must not travel with it
    return shifted + (rest if _DT_TIME.match(rest) else "") if shifted else ""


def shift_dt(value: str, days: int) -> str:
    """Shift the date part of every value of a DT value, keeping time and UTC offset (and dropping anything else)."""
    return "\\".join(_shift_one_dt(v, days) for v in value.split("\\"))
