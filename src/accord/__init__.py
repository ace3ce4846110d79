"""Accord: release classified military information only as the agreements in force allow.

The layout keeps the audiences apart:

- ``accord.core``    pure model and decision engine (no I/O, time is an argument);
- ``accord.formats`` parsers and serialisers at the edge (agreement YAML, STANAG 4774 XML, JSON);
- ``accord.cli``     the command line.
"""

__version__ = "0.1.0"
