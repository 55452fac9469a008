"""Time zones as the kinds name them (a shift's or a meeting's ``zone``): one shape rule
for an IANA name, and one lookup of a name in this machine's time zone database.

- :func:`zone_name_problem`, a field's ``check``: the shape of an IANA name
  (``America/El_Salvador``, ``America/Argentina/Buenos_Aires``, ``Etc/GMT+6``, ``UTC``):
  ASCII letters, digits, ``_``, ``-`` and ``+``, a letter first, at most three parts
  separated by ``/`` (the deepest IANA names have three), each at most 31 characters.
  Checked when a value is written and when it is read, so every node reads the same
  items whatever its database holds.
- :func:`unknown_zone`, a field's ``written`` rule: the name is a zone of this
  machine's database. Asked only when a member writes it, never when reading or
  merging (a newer database elsewhere may know a zone this one does not).
- :func:`zone_of`: the zone itself, or None. Names that a database holds but that are
  not zones of the world are never zones here: ``localtime`` and ``posixrules`` (this
  machine's own setting, another on every machine) and the copies of the database
  under ``posix/`` and ``right/`` (the latter counts leap seconds).
"""

from __future__ import annotations

import re
import zoneinfo

_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]{0,30}(/[A-Za-z0-9_+\-]{1,30}){0,2}")
#: names a zone database holds that are not zones of the world
_NOT_ZONES = frozenset({"localtime", "posixrules"})
_NOT_ZONE_FOLDERS = ("posix/", "right/")


def zone_name_problem(text: str) -> str | None:
    """What is wrong with the shape of a zone's name, or None (read and written)."""
    if _ZONE.fullmatch(text) is None:
        return f"must be a time zone name like America/El_Salvador, not {text[:40]!r}"
    return None


def zone_of(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone of this name in this machine's time zone database, or None: a name of
    another shape, one of a database's names that are not zones, or one it lacks."""
    if _ZONE.fullmatch(name) is None or name in _NOT_ZONES or name.startswith(_NOT_ZONE_FOLDERS):
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def unknown_zone(text: str) -> str | None:
    """When written: what is wrong when the name is not a zone this machine knows."""
    if zone_of(text) is None:
        return (
            f"{text[:40]!r} is not a time zone this machine knows: give an IANA name like "
            "America/El_Salvador or Africa/Johannesburg"
        )
    return None
