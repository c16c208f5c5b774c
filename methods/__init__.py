"""Noise-robust learning methods, one per module, registered by name.

Adding a method: write ``methods/my_method.py`` with a ``Method`` subclass decorated by
``@register_method("my_method")``, add its import below (the registry entry), and add ``my_method`` to the
``method`` enum of ``workflow/schemas/config.schema.yaml`` (a test checks the two agree).
"""

from methods import ce, coteaching, gce, gsdnet, jocor, rce, tloss
from methods.registry import available_methods, build_method, get_method, register_method

__all__ = [
    "available_methods",
    "build_method",
    "ce",
    "coteaching",
    "gce",
    "get_method",
    "gsdnet",
    "jocor",
    "rce",
    "register_method",
    "tloss",
]
