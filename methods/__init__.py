"""Noise-robust learning methods, one per module, registered by name.

Adding a method: write ``methods/my_method.py`` with a ``Method`` subclass decorated by
``@register_method("my_method")`` and add its import below (the registry entry). The config check knows it from
the registry, and ``tests/test_method_contract.py`` tests it with every other registered method.
"""

from methods import adele, cdr, ce, coteaching, gce, gsdnet, idmps, jocor, msa, rce, rmd, spguide, tloss
from methods.registry import available_methods, build_method, get_method, register_method

__all__ = [
    "adele",
    "available_methods",
    "build_method",
    "cdr",
    "ce",
    "coteaching",
    "gce",
    "get_method",
    "gsdnet",
    "idmps",
    "jocor",
    "msa",
    "rce",
    "register_method",
    "rmd",
    "spguide",
    "tloss",
]
