"""girth as an independent check, and the girth backend wrapper.

girth 0.8 uses the same metric (logistic without 1.7, theta ~ N(0,1)) but its
own quadrature (Gauss-Legendre on [-4.5, 4.5]), a bounded discrimination search
and its own convergence rule, so agreement is expected to within a few
hundredths, far below the sampling error.
"""

from __future__ import annotations

import numpy as np
import pytest

import calibration as cal
from calibration.girth_backend import girth_available

pytestmark = pytest.mark.skipif(not girth_available(), reason="girth is not installed")


def test_2pl_native_agrees_with_girth():
    import girth
    rng = np.random.default_rng(201)
    tp = cal.random_item_parameters(15, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=3000, rng=rng)
    native = cal.fit(data, "2PL")
    raw = girth.twopl_mml(data.dense().astype(int).T)          # girth directly: items x persons
    np.testing.assert_allclose(native.a, raw["Discrimination"], atol=0.02)
    np.testing.assert_allclose(native.b, raw["Difficulty"], atol=0.03)
    # both far closer to each other than to the truth
    assert np.abs(native.a - raw["Discrimination"]).max() < 0.5 * np.abs(native.a - tp["a"]).max()


def test_graded_native_agrees_with_girth_backend():
    rng = np.random.default_rng(202)
    tp = cal.random_item_parameters(8, "GRM", n_categories=4, rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=3000, rng=rng)
    native = cal.fit(data, "GRM")
    wrapped = cal.fit(data, "GRM", backend="girth")
    assert wrapped.backend == "girth" and wrapped.iterations is None and wrapped.converged is None
    np.testing.assert_allclose(native.a, wrapped.a, atol=0.03)
    np.testing.assert_allclose(native.b, wrapped.b, atol=0.05)
    # the log-likelihood of girth's estimates, evaluated natively, is not higher than the native optimum
    assert wrapped.log_likelihood <= native.log_likelihood + 1e-6
    assert native.log_likelihood - wrapped.log_likelihood < 1.0
    assert np.all(np.isfinite(wrapped.se_a))
    assert wrapped.to_dict()["backend"] == "girth"


def test_girth_backend_with_missing_data_2pl():
    rng = np.random.default_rng(203)
    tp = cal.random_item_parameters(12, "2PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], n_persons=3000, missing=0.4, rng=rng)
    native = cal.fit(data, "2PL")
    wrapped = cal.fit(data, "2PL", backend="girth")
    np.testing.assert_allclose(native.a, wrapped.a, atol=0.05)
    np.testing.assert_allclose(native.b, wrapped.b, atol=0.05)


def test_girth_3pl_failure_becomes_backend_error():
    rng = np.random.default_rng(204)
    tp = cal.random_item_parameters(6, "3PL", rng=rng)
    data, _ = cal.simulate_responses(tp["a"], tp["b"], tp["c"], n_persons=500, rng=rng)
    with pytest.raises(cal.BackendError, match=r"girth\.threepl_mml failed") as info:
        cal.fit(data, "3PL", backend="girth")
    err = info.value
    assert err.__cause__ is None and err.__suppress_context__      # no girth traceback chained
    assert "Traceback" not in str(err)


def test_girth_backend_rejects_what_it_cannot_do():
    data = cal.ResponseData.from_dense([[1, 0], [0, 1], [1, 1], [0, 0]])
    with pytest.raises(cal.BackendError, match="fixed"):
        cal.fit(data, "2PL", backend="girth", fixed={"item1": {"a": 1.0, "b": 0.0}})
    with pytest.raises(cal.BackendError, match="priors"):
        cal.fit(data, "2PL", backend="girth", priors={"a": cal.LogNormal(0, 0.5)})
