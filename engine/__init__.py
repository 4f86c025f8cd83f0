"""Certamen adaptive-testing engine: pure numpy IRT math, estimators, selection and adaptive tests.

The app-facing surface is ``Bank``, ``CATConfig``, ``AdaptiveTest`` and
``simulate``; the submodules hold the composable pieces.
"""

from .adaptive import AdaptiveTest, prepare
from .bank import Bank
from .config import CATConfig
from .simulation import derive_sympson_hetter, simulate

__all__ = ["Bank", "CATConfig", "AdaptiveTest", "prepare", "simulate", "derive_sympson_hetter"]
