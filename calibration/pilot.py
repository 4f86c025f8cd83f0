"""Provisional parameters for a bank that has no field data yet, from a simulated pilot.

The item writers' intended difficulty is the only information there is. A simulated pilot turns it
into parameters through the same calibration path real data will take: simulated examinees answer
random linear forms under an assumed model, and the responses are calibrated. The result is
honest about what it is -- provisional, to be replaced by a calibration of real responses.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calibration.data import ResponseData
from calibration.estimate import fit
from calibration.simulate import draw_scores

# Assumptions of the simulated pilot (stated, not measured): a typical discrimination for
# well-written scenario items, and the guessing floor of four options.
ASSUMED_DISCRIMINATION = 1.2
ASSUMED_GUESSING = 0.2
PILOT_PERSONS = 3000
PILOT_FORM_LENGTH = 60


def simulate_pilot(difficulties: Sequence[float], *, persons: int = PILOT_PERSONS,
                   form_length: int = PILOT_FORM_LENGTH, seed: int = 2026) -> ResponseData:
    b = np.asarray(difficulties, dtype=float)
    n_items = len(b)
    form_length = min(form_length, n_items)
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(persons)
    # Each simulated examinee answers a random form: a missing-completely-at-random design.
    forms = np.argsort(rng.random((persons, n_items)), axis=1)[:, :form_length]
    scores = draw_scores(theta[:, None], ASSUMED_DISCRIMINATION, b[forms], ASSUMED_GUESSING, rng=rng)
    person = np.repeat(np.arange(persons), form_length)
    return ResponseData.from_long(person, forms.ravel(), scores.ravel(), item_ids=list(range(n_items)))


def pilot_parameters(items) -> dict[str, tuple[float, float, float]]:
    """Simulated pilot (3,000 examinees, random 60-item forms, assumed a=1.2, c=0.2), 3PL MML: not field data.

    Returns (a, b, c) per item id; this is the loader's hook for items without parameters.
    """
    items = list(items)
    if not items:
        return {}
    responses = simulate_pilot([item.difficulty for item in items])
    result = fit(responses, model="3PL")
    return {item.external_id: (float(result.a[j]), float(result.b[j]), float(result.c[j]))
            for j, item in enumerate(items)}
