"""All the ways a header value is shown on screen: date, time, name and age formats of scanners and viewers."""

from __future__ import annotations

import re
from datetime import date

from .header_values import HeaderValue

__all__ = ["render"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH_NAMES = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)


def _render_date(value: str) -> list[str]:
    digits = re.sub(r"\D", "", value)[:8]
    try:
        d = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return [value]
    y4, y2 = f"{d.year:04d}", f"{d.year % 100:02d}"
    mm, dd, m, dy = f"{d.month:02d}", f"{d.day:02d}", str(d.month), str(d.day)
    mon, month = _MONTHS[d.month - 1], _MONTH_NAMES[d.month - 1]
    out = [digits, f"{y4}-{mm}-{dd}", f"{y4}/{mm}/{dd}", f"{y4}.{mm}.{dd}"]
    for sep in "/-.":
        for year in (y4, y2):
            out += [f"{mm}{sep}{dd}{sep}{year}", f"{m}{sep}{dy}{sep}{year}"]  # US order
            out += [f"{dd}{sep}{mm}{sep}{year}", f"{dy}{sep}{m}{sep}{year}"]  # day first
    for year in (y4, y2):
        out += [f"{dd}-{mon}-{year}", f"{dy}-{mon}-{year}", f"{dd} {mon} {year}", f"{dd}{mon}{year}"]
        out += [f"{mon} {dd} {year}", f"{mon} {dy} {year}", f"{mon} {dy}, {year}", f"{mon}-{dd}-{year}"]
    out += [f"{month} {dy}, {y4}", f"{dy} {month} {y4}", f"{dd}/{mon}/{y4}", f"{mon}/{dd}/{y4}"]
    # without the year (a birthday, the day of a visit: PHI all the same), or with it cut off by the frame's edge;
    # padded only, as "1.17" or "MI 1.1" would be measurements
    return [*out, f"{dd}/{mm}", f"{mm}/{dd}"]


def _render_time(value: str) -> list[str]:
    digits = re.sub(r"\D", "", value.split(".")[0])
    if len(digits) < 4:
        return []
    hh, mi, ss = int(digits[:2]), digits[2:4], digits[4:6]
    h12, ampm = (hh % 12 or 12), ("AM" if hh < 12 else "PM")
    out = [f"{hh:02d}:{mi}", f"{hh}:{mi}", f"{h12}:{mi} {ampm}", f"{h12:02d}:{mi} {ampm}", f"{hh:02d}{mi}"]
    if ss:
        out += [f"{hh:02d}:{mi}:{ss}", f"{hh}:{mi}:{ss}", f"{h12}:{mi}:{ss} {ampm}", f"{h12:02d}:{mi}:{ss} {ampm}"]
        out += [f"{hh:02d}{mi}{ss}", f"{hh:02d}.{mi}.{ss}"]
    return out


def _render_name(value: str) -> list[str]:
    groups = value.split("=")[0].split("^")
    family, given, middle = [*groups, "", "", ""][:3]
    parts = [p.strip() for p in groups if p.strip()]
    out = [value.replace("^", " ").strip(), " ".join(parts)]
    if family and given:
        out += [f"{family}^{given}", f"{family}, {given}", f"{family},{given}", f"{given} {family}"]
        out += [f"{given[0]} {family}", f"{given[0]}. {family}", f"{family} {given[0]}", f"{family}, {given[0]}."]
        if middle:
            out += [f"{given} {middle} {family}", f"{family}, {given} {middle}", f"{given} {middle[0]} {family}"]
    return out + parts


def _render_age(value: str) -> list[str]:
    match = re.fullmatch(r"0*(\d+)\s*([DWMY])", value.strip().upper())
    if not match:
        return [value]
    n, unit = match.groups()
    words = {"Y": ("Y", "YO", "YR", "YRS", "YEARS"), "M": ("M", "MO", "MOS", "MONTHS"), "W": ("W", "WK", "WKS")}
    units = words.get(unit, ("D", "DAYS"))
    return [value.strip()] + [f"{n}{u}" for u in units] + [f"{n} {u}" for u in units]


def render(hv: HeaderValue) -> list[str]:
    """The on-screen renderings of a header value, the raw value first, without duplicates.

    Args:
        hv: the header value.

    Returns:
        the strings a scanner or viewer may have burned in for this value (PHI).
    """
    if hv.kind == "date":
        out = _render_date(hv.value)
    elif hv.kind == "time":
        out = _render_time(hv.value)
    elif hv.kind == "datetime":
        out = _render_date(hv.value[:8]) + _render_time(hv.value[8:])
    elif hv.kind == "name":
        out = _render_name(hv.value)
    elif hv.kind == "age":
        out = _render_age(hv.value)
    else:
        out = [hv.value]
    return list(dict.fromkeys(s for s in out if s.strip()))
