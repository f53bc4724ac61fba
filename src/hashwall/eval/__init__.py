"""The accuracy evaluation behind ``hashwall eval`` (see ``docs/accuracy.md``).

``transforms`` and ``overlays`` (the seeded transform suite, reusable by tests), ``methods``
(the matching methods compared side by side, one small interface), ``runner`` (bank, check,
measure), ``report`` (``results.json``, ``details.json``, ``report.md`` and plots) and
``sameperson`` (the set of different photos of the same people, rebuilt from a public clone).
"""
