"""Exact radius search over 256-bit binary codes.

``base`` (the ``HashIndex`` protocol, ``Match``, ``DihedralMatch``), ``brute`` (the
brute-force oracle), ``mih`` (``MihIndex``, the fast exact index; numba) and ``live``
(``IndexHolder``, the serving process's index). Import from the submodules: importing this
package does not load numba.
"""
