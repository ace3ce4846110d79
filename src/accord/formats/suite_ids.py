"""The names of the sealing suites, as agreement documents and sealed items spell them.

Only the identifiers: the suites themselves (HPKE parameters, ranks) are :mod:`accord.sealed.suites`,
which imports these. Kept here so that a format parser can check a ``min_suite`` without importing the
sealed format (no ``formats`` <-> ``sealed`` cycle).
"""

from __future__ import annotations

HYBRID = "hpke-mlkem1024p384-hkdfsha384-aes256gcm"
CLASSICAL = "hpke-p384-hkdfsha384-aes256gcm"
SUITE_IDS: tuple[str, ...] = (HYBRID, CLASSICAL)
