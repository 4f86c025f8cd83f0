"""Certamen adaptive-testing engine: pure numpy IRT math, estimators, selection and sessions.

The app-facing surface is ``Bank``, ``CATConfig``, ``AdaptiveSession`` and
``simulate``; the submodules hold the composable pieces.
"""

from .bank import Bank
from .config import CATConfig
from .session import AdaptiveSession, prepare
from .simulation import derive_sympson_hetter, simulate

__all__ = ["Bank", "CATConfig", "AdaptiveSession", "prepare", "simulate", "derive_sympson_hetter"]
