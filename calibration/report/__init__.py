"""Psychometric review report for a calibration run (pure functions, no I/O, no database).

Layout: ``model`` (the dataclasses), ``analysis`` (``build_report``), ``secondary`` (fit, drift,
DIF, exposure), ``flags``, ``figures`` (matplotlib PNGs), ``tables`` (rows and sentences shared
by the two presentations), ``html`` (Jinja template ``templates/report.html``, autoescaped),
``pdf`` (reportlab).

``build_report(result, responses, ...)`` turns a :class:`CalibrationResult` (plus, when
available, the response data, the currently published parameters, live exposure rates
and a DIF grouping) into a :class:`Report`: a summary, one row per item with its
parameters, standard errors, S-X2 fit and flags with reasons, the drift / DIF /
exposure tables and PNG figures (item characteristic curves, item and test
information). ``render_html(report)`` and ``render_pdf(report)`` present it.

Flags (codes in ``Flag.code``; thresholds in :class:`ReviewThresholds`):

=====================  ===================================================================
``low_discrimination``   a < ``a_min`` (0.3)
``high_discrimination``  a > ``a_max`` (3.5)
``extreme_difficulty``   \\|b\\| > ``b_abs_max`` (3.5), any GRM threshold
``high_guessing``        c > ``c_max`` (0.4), 3PL only
``imprecise_difficulty`` SE(b) > ``se_b_max`` (0.5), largest GRM threshold SE
``misfit``               S-X2 p < ``fit_alpha`` (0.01)
``few_responses``        fewer than ``min_responses`` responses (free items only)
``dif``                  Mantel-Haenszel ETS category in ``dif_categories`` (C)
``drift``                linked a or b moved more than ``drift_z`` (3) standard errors
``overexposed``          live exposure rate > ``exposure_max`` (0.3)
``not_converged``        the item's estimates were still moving when EM stopped (all free
                         items when the run did not converge and no item was singled out)
``mstep_failed``, ``no_variation``, ``empty_category``, ``extreme_estimate``
                         item-level warnings of the calibration itself
=====================  ===================================================================

Analyses that cannot run are *skipped with a stated reason* (``Analysis.status ==
"skipped"``, ``Analysis.reason``) instead of failing: S-X2 needs complete response
vectors (sparse adaptive data: pass ``fit_items=`` a block administered together),
Mantel-Haenszel needs dichotomous items and both groups, drift needs at least two
items in common with ``published``.

DIF grouping (``groups=``), a mapping with

* ``"reference"``, ``"focal"``: the two group labels (required);
* the labels, either ``"labels"``: {person id: label} or ``"person_ids"`` + ``"group"``:
  two parallel lists, or ``"group"`` alone: one label per person in ``responses``
  order; person ids are compared as strings, persons without a label are ignored;
* ``"matching"`` (optional): ``"total"`` (total score, complete cases only),
  ``"ability"`` (EAP ability binned into ``"n_strata"`` quantile strata, default 10;
  works for sparse data) or ``"auto"`` (default: total score when at least 90% of the
  persons answered every item, otherwise ability);
* ``"name"`` (optional): what the grouping is, e.g. ``"language"``, shown in the report.

HTML: the output contains no ``style`` attributes or ``<style>`` elements (the app's
CSP is ``style-src 'self'``); figures are ``data:image/png`` URIs. Class names to style:
``calib-report`` (root), ``calib-meta``, ``calib-section`` (+ ``calib-summary``,
``calib-flagged``, ``calib-figures``, ``calib-items``, ``calib-fit``, ``calib-drift``,
``calib-dif``, ``calib-exposure``), ``calib-table``, ``num`` (numeric cells),
``is-flagged`` (rows), ``calib-flag`` and ``calib-flag-<code>`` (flag badges),
``calib-reason``, ``calib-skipped``, ``calib-note``, ``calib-ok``, ``calib-warnings``, ``calib-notes``,
``calib-analyses`` with ``calib-analysis-done`` / ``-skipped`` / ``-not-requested`` items,
``calib-summary-table``, ``calib-fixed``, ``calib-figure`` (+ ``calib-figure-<key>``).
"""

from .analysis import build_report
from .figures import item_information
from .html import render_html
from .model import FLAG_LABELS, Analysis, Flag, ItemRow, Report, ReviewThresholds
from .pdf import render_pdf

__all__ = ["build_report", "render_html", "render_pdf", "Report", "ItemRow", "Flag", "Analysis",
           "ReviewThresholds", "item_information", "FLAG_LABELS"]
