"""Sealed items: end-to-end encryption per recipient nation with the label bound to the data.

See ``docs/sealed-format.md``. Modules: :mod:`format` (wire constants, manifest readers),
:mod:`suites` (HPKE suites, hybrid signature), :mod:`keys` (party keys, trust roster),
:mod:`container` (seal / open / inspect / re-wrap).
"""
