"""The rules language: a year's rules file, validated on load, and what its values mean.

Takes: a rules file (YAML; the bundled ones are in ``templates/rules``). Gives:
:mod:`.ruleset` (``load_rules`` → ``Rules``: items, indicators, sub-rules, settings, the
fingerprint; ``check_rules`` → warnings; ``RulesError`` naming every mistake),
:mod:`.kinds` (the registry of sub-rule kinds, each a pydantic model with one vectorised
``evaluate``), :mod:`.values` (indicator value types: parsing what towns type, formatting
it back).

A new sub-rule kind is a class in :mod:`.kinds` registered under its name; nothing else
in the package changes. Must not import: anything of qz_excel but :mod:`qz_excel.common`.
"""
