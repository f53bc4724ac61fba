"""The accuracy evaluation behind ``hashwall eval``.

``transforms`` and ``overlays`` (the seeded transform suite, reusable by tests), ``methods``
(the matching methods compared side by side, one small interface), ``runner`` (bank, check,
measure) and ``report`` (``results.json``, ``report.md`` and plots).
"""
