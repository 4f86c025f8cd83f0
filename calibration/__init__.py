"""Item calibration for Certamen: marginal maximum likelihood IRT and its diagnostics.

Public API (logistic metric, no 1.7 constant, theta ~ N(0, 1)):

* data: :class:`ResponseData` (``from_dense``, ``from_long``), :func:`read_responses`
* estimation: :func:`fit`, :class:`Calibrator`, :class:`CalibrationResult`
  (models 1PL, Rasch, 2PL, 3PL, GRM; backends "native" and "girth")
* priors: :class:`Normal`, :class:`LogNormal`, :class:`Beta`
* item fit: :func:`s_x2`; DIF: :func:`mantel_haenszel`
* linking: :func:`stocking_lord`, :func:`mean_sigma`, :func:`apply_linking`,
  fixed-parameter calibration via ``fit(..., fixed=...)``; drift: :func:`parameter_drift`
* errors: :class:`CalibrationInputError` (a ValueError), :class:`BackendError`

The package is independent of the database and of the web/CLI layers: a DB
loader hands over a long (person, item, score) table via ``ResponseData.from_long``.
"""

from .data import ResponseData, read_responses
from .dif import DIFResult, mantel_haenszel, mh_statistics
from .errors import BackendError, CalibrationInputError, CalibrationWarning
from .estimate import Calibrator, fit
from .fit_stats import ItemFitResult, lord_wingersky, s_x2
from .linking import (
                      DriftReport,
                      LinkingConstants,
                      apply_linking,
                      mean_sigma,
                      parameter_drift,
                      stocking_lord,
                      transform_parameters,
)
from .models import Beta, LogNormal, Normal
from .problem import default_priors
from .result import CalibrationIssue, CalibrationResult
from .simulate import random_item_parameters, simulate_responses

__all__ = [
    "ResponseData", "read_responses",
    "fit", "Calibrator", "CalibrationResult", "CalibrationIssue", "default_priors",
    "Normal", "LogNormal", "Beta",
    "s_x2", "ItemFitResult", "lord_wingersky",
    "mantel_haenszel", "mh_statistics", "DIFResult",
    "stocking_lord", "mean_sigma", "apply_linking", "transform_parameters", "LinkingConstants",
    "parameter_drift", "DriftReport",
    "CalibrationInputError", "BackendError", "CalibrationWarning",
    "simulate_responses", "random_item_parameters",
]
