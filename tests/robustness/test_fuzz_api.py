"""Fuzzing the JSON API: schemathesis against /api/v1/openapi.json, plus hand-made bad input.

Every bad request must end in a 4xx with a JSON `error` and change nothing in the database. The tests
run the app with PROPAGATE_EXCEPTIONS off, so an unhandled exception shows up as the 500 a real client
would get (not as an exception in the test).
"""
from __future__ import annotations

import io
import json
import shutil
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from learners import GENEROUS_RATE_LIMITS, PASSWORD, learner_headers, sign_in
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import func, select

from storage.db import Base, transaction

EXAM = "social-media-frontline"



# ---------------------------------------------------------------- helpers


def row_counts(app) -> dict[str, int]:
    """Rows in every table: a bad request must leave all of them as they were."""
    import storage  # noqa: F401  (registers every table)

    with transaction(app.extensions["db_factory"]) as db:
        return {t.name: db.execute(select(func.count()).select_from(t)).scalar() for t in Base.metadata.sorted_tables}


def assert_json_4xx(response, *statuses: int, what: str = "") -> dict:
    text = response.get_data(as_text=True)[:300]
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {text}"
    if statuses:
        assert response.status_code in statuses, f"{what}: {response.status_code} {text}"
    assert response.mimetype == "application/json", f"{what}: {response.mimetype} {text}"
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], f"{what}: {body}"
    return body


@pytest.fixture
def client(app):
    """As in production: an unhandled error is a 500 response, not an exception in the test."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    test_client = app.test_client()
    sign_in(test_client, "fuzzer@example.com", name="Fuzz")  # the sitting routes answer only to a learner
    return test_client


def start(client, email="fuzz@example.com") -> dict:
    sign_in(client, email, name="Fuzz")
    r = client.post("/api/v1/sessions", json={"exam_id": EXAM})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# ---------------------------------------------------------------- schemathesis


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fuzz_app(request, tmp_path_factory):
    """One app per backend for the whole module (hypothesis runs many examples against it)."""
    from api import create_app

    tmp = tmp_path_factory.mktemp("fuzz")
    drop = None
    if request.param == "sqlite":
        path = tmp / "certamen.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = "fuzz_" + uuid.uuid4().hex[:12]
        url = server.create_database(name, template=request.getfixturevalue("postgres_template"))

        def drop():
            server.drop_database(name)

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "fuzz-secret", "CERTAMEN_KEY_DIR": str(tmp / "keys"),
                      **GENEROUS_RATE_LIMITS})
    yield app
    app.extensions["db_engine"].dispose()
    if drop:
        drop()


@pytest.fixture(scope="module")
def admin_token(fuzz_app) -> str:
    from api.auth import create_token

    with transaction(fuzz_app.extensions["db_factory"]) as db:
        return create_token(db, "admin", "fuzz")


@pytest.fixture(scope="module")
def live_learner(fuzz_app) -> dict:
    return learner_headers(fuzz_app.test_client(), "live@example.com", name="Fuzz")


@pytest.fixture(scope="module")
def live_session(fuzz_app, live_learner) -> str:
    """A sitting in progress, so the answer route is fuzzed past its session lookup too."""
    r = fuzz_app.test_client().post("/api/v1/sessions", json={"exam_id": EXAM}, headers=live_learner)
    assert r.status_code == 201
    return r.get_json()["session_id"]


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def _operations():
    from api.openapi import SPEC

    params = []
    for path, methods in SPEC["paths"].items():
        for method, spec in methods.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and not (spec.get("parameters") or spec.get("requestBody")):
                    continue  # nothing to make invalid
                params.append(pytest.param(method.upper(), path, mode,
                                           id=f"{method.upper()} {path} {mode.value}"))
    return params


def _fuzz(operation, mode, **call_kwargs):
    @settings(max_examples=30, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.call_and_validate(**call_kwargs)

    check()


# schemathesis' own pytest loader (`schemathesis.pytest.from_fixture`) reads a private pytest attribute
# that pytest 9 no longer has, so each operation's strategy is driven by hypothesis here.
@pytest.mark.parametrize("method, path, mode", _operations())
def test_openapi_operation_never_fails_and_conforms(api_schema, fuzz_app, admin_token, method, path, mode):
    """All of schemathesis' checks: no 5xx, documented status codes and content types, responses matching
    their schemas, schema-invalid requests refused and schema-valid ones accepted."""
    operation = api_schema[path][method]
    security = operation.definition.raw.get("security") or [{}]
    headers = None
    if "bearer" in security[0]:
        headers = {"Authorization": f"Bearer {admin_token}"}
    elif "learner" in security[0]:  # a fresh learner per operation: fuzzing /signout ends its token
        headers = learner_headers(fuzz_app.test_client(), f"fuzz-{uuid.uuid4().hex[:10]}@example.com")
    extra = {}
    if path == "/api/v1/learners":
        # A schema-valid password may still be common or made of the generated name or address
        # (item_bank.passwords): a documented 422 that no JSON Schema can state.
        extra["excluded_checks"] = [positive_data_acceptance]
    _fuzz(operation, mode, headers=headers, **extra)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_openapi_answers_on_a_live_session(api_schema, fuzz_app, live_learner, live_session, mode):
    """Generated answers to a real sitting: never a 5xx, always a documented, conforming response."""
    before = fuzz_app.test_client().get(f"/api/v1/sessions/{live_session}", headers=live_learner).get_json()
    operation = api_schema["/api/v1/sessions/{session_id}/answers"]["POST"]

    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.path_parameters = {"session_id": live_session}
        # A valid body with the wrong item is a 409 or a 422 here: acceptance of valid data is the other test's.
        case.call_and_validate(excluded_checks=[positive_data_acceptance], headers=live_learner)

    check()
    after = fuzz_app.test_client().get(f"/api/v1/sessions/{live_session}", headers=live_learner).get_json()
    before.pop("seconds_left"), after.pop("seconds_left")  # the clock runs on
    assert after == before, "a generated answer changed the sitting"


# ---------------------------------------------------------------- oversized, truncated, wrong type of body


POST_ROUTES = [
    "/api/v1/sessions",
    "/api/v1/sessions/{sid}/answers",
    "/api/v1/admin/policy-changes",
    "/api/v1/admin/certificates/nope/suspend",
]


def _routes(client, role_token):
    sid = start(client)["session_id"]
    admin = {"Authorization": f"Bearer {role_token('admin')}"}
    return [(route.format(sid=sid), admin if "/admin/" in route else {}) for route in POST_ROUTES]


def test_oversized_json_is_refused_with_413(client, app, role_token):
    routes = _routes(client, role_token)
    before = row_counts(app)
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"name": "x" * (limit + 10), "email": "big@example.com", "exam_id": EXAM, "seq": 1,
                       "item_id": "DEF-001", "choice": 0, "reason": "r"})
    for url, headers in routes:
        r = client.post(url, data=body, content_type="application/json", headers=headers)
        assert_json_4xx(r, 413, what=url)
        assert str(limit) in r.get_json()["error"]
    # Without a Content-Length (a chunked upload) the body is still cut off at the limit.
    url, headers = routes[0]
    r = client.post(url, input_stream=io.BytesIO(body.encode()), content_type="application/json",
                    headers={**headers, "Transfer-Encoding": "chunked"})
    assert_json_4xx(r, 413, 400, what="chunked")
    assert row_counts(app) == before


@pytest.mark.parametrize("text", ['{"name": "Ada", "email": "a@b.c", "exam_id": "social', '{', '{"seq": 1,',
                                  '', 'null', '"just a string"', '[1, 2]', '12', 'true', '{"a": NaN',
                                  '{"seq": 1}}', '{"seq": 1} trailing', '{"name": "\\ud800'])
def test_truncated_or_non_object_json_is_400(client, app, role_token, text):
    routes = _routes(client, role_token)
    before = row_counts(app)
    for url, headers in routes:
        r = client.post(url, data=text.encode(), content_type="application/json", headers=headers)
        assert_json_4xx(r, 400, what=url)
    assert row_counts(app) == before


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=xyz", "application/xml",
                                          "application/jsonx", "text/json"])
def test_wrong_content_type_is_415(client, app, role_token, content_type):
    routes = _routes(client, role_token)
    before = row_counts(app)
    payload = json.dumps({"name": "Ada", "email": "ct@example.com", "exam_id": EXAM, "seq": 1, "item_id": "X",
                          "choice": 0, "reason": "r"})
    for url, headers in routes:
        r = client.post(url, data=payload, content_type=content_type, headers=headers)
        assert_json_4xx(r, 415, what=url)
    assert row_counts(app) == before


def test_json_in_another_encoding_or_binary_garbage(client, app, role_token):
    routes = _routes(client, role_token)
    before = row_counts(app)
    bodies = [
        ('{"name": "Ad\xe9", "email": "latin@example.com", "exam_id": "social-media-frontline"}'.encode("latin-1"),
         "application/json; charset=latin-1"),
        (bytes(range(256)) * 4, "application/json"),
        (b"\xff\xfe\x00\x00", "application/json"),
    ]
    for url, headers in routes:
        for data, ctype in bodies:
            r = client.post(url, data=data, content_type=ctype, headers=headers)
            assert_json_4xx(r, what=f"{url} {data[:10]!r}")
    assert row_counts(app) == before


# ---------------------------------------------------------------- wrong types for every field

WRONG = [None, 0, -1, 1.5, 2**70, True, False, [], ["x"], {}, {"$ne": 1}, "", " ", "x" * 5000]


def _label(value) -> str:
    return f"{type(value).__name__}:{repr(value)[:16]}"


@pytest.mark.parametrize("field", ["name", "email", "password", "organisation"])
def test_registration_with_a_wrong_type_or_no_value_in_any_field(client, app, field):
    before = row_counts(app)
    good = {"name": "Ada", "email": "types@example.com", "password": PASSWORD, "organisation": "Acme"}
    wrong = [v for v in WRONG if not isinstance(v, str) and not (field == "organisation" and v is None)]
    if field != "organisation":
        wrong += ["", " ", "x" * 5000]  # required text: empty, blank and over-long are refused too
    for value in wrong:
        assert_json_4xx(client.post("/api/v1/learners", json={**good, field: value}), what=f"{field}={_label(value)}")
    if field != "organisation":
        assert_json_4xx(client.post("/api/v1/learners", json={k: v for k, v in good.items() if k != field}),
                        what=f"no {field}")
    assert row_counts(app) == before


def test_start_with_a_wrong_type_or_no_exam_id(client, app):
    before = row_counts(app)
    for value in [v for v in WRONG if v != "x" * 5000] + ["no-such-exam", "x" * 5000]:
        assert_json_4xx(client.post("/api/v1/sessions", json={"exam_id": value}), what=f"exam_id={_label(value)}")
    assert_json_4xx(client.post("/api/v1/sessions", json={}), what="no exam_id")
    assert row_counts(app) == before


@pytest.mark.parametrize("field", ["seq", "item_id", "choice"])
def test_answer_with_a_wrong_type_or_value_in_any_field(client, app, field):
    view = start(client)
    item = view["item"]
    good = {"seq": item["seq"], "item_id": item["item_id"], "choice": 1}
    url = f"/api/v1/sessions/{view['session_id']}/answers"
    before = row_counts(app)
    wrong = {
        "seq": [None, 0, -1, 2, 1.0, 1.5, 2**70, True, [], [1], {}, "1", ""],
        "item_id": [None, 0, 1.5, True, [], [item["item_id"]], {}, "", " ", item["item_id"].lower(), "x" * 5000],
        "choice": [None, -1, 4, 1.0, 1.5, 2**70, -(2**70), True, False, [], [1], {}, "1", ""],
    }[field]
    for value in wrong:
        assert_json_4xx(client.post(url, json={**good, field: value}), 409, 422, what=f"{field}={_label(value)}")
    assert_json_4xx(client.post(url, json={k: v for k, v in good.items() if k != field}), 422, what=f"no {field}")
    assert row_counts(app) == before
    assert client.get(f"/api/v1/sessions/{view['session_id']}").get_json()["item"] == item


@pytest.fixture
def admin(role_token) -> dict:
    return {"Authorization": f"Bearer {role_token('admin')}"}


def _policy(client, headers, **fields):
    body = {"exam_id": EXAM, "min_exam_version": 2, "deadline": "2031-01-01", "reason": "new policy", **fields}
    return client.post("/api/v1/admin/policy-changes", json=body, headers=headers)


@pytest.mark.parametrize("field, values", [
    ("exam_id", [None, 0, [], {}, "", "no-such-exam", "x" * 5000]),
    ("min_exam_version", [None, [], ["x"], {}, "", "two", "1e3"]),
    ("deadline", [None, 0, 1.5, True, [], {}, "", "tomorrow", "2031-13-01", "2031-01-01T25:00"]),
])
def test_policy_change_refuses_missing_or_malformed_fields(client, app, admin, field, values):
    before = row_counts(app)
    for value in values:
        assert_json_4xx(_policy(client, admin, **{field: value}), 400, 404, what=f"{field}={_label(value)}")
    assert row_counts(app) == before


@pytest.mark.parametrize("field, value", [
    *[("min_exam_version", v) for v in (1.5, True, "2")],
    ("reason", ["x"]), ("reason", {}), ("reason", 7), ("reason", True),
])
def test_policy_change_refuses_coercible_wrong_types(client, app, admin, field, value):
    before = row_counts(app)
    assert_json_4xx(_policy(client, admin, **{field: value}), what=f"{field}={_label(value)}")
    assert row_counts(app) == before


@pytest.mark.parametrize("value", [2**31, 2**63, -(2**63) - 1, 2**70])
def test_versions_out_of_the_column_range_are_4xx(client, app, admin, value):
    before = row_counts(app)
    assert_json_4xx(_policy(client, admin, min_exam_version=value), what=f"min_exam_version={value}")
    assert row_counts(app) == before


def test_parameter_set_ids_out_of_the_column_range_are_404(client, role_token):
    headers = {"Authorization": f"Bearer {role_token('psychometrician')}"}
    assert_json_4xx(client.get(f"/api/v1/psychometrics/parameter-sets/{2**70}/items", headers=headers), 404)


def test_certificate_action_refuses_bad_reasons_and_unknown_ids(client, app, role_token):
    headers = {"Authorization": f"Bearer {role_token('admin')}"}
    before = row_counts(app)
    for value in [None, 0, 1.5, True, [], ["x"], {}]:
        r = client.post("/api/v1/admin/certificates/nope/suspend", json={"reason": value}, headers=headers)
        assert_json_4xx(r, 400, what=f"reason={_label(value)}")
    for cert_id, action in (("nope", "suspend"), ("nope", "explode"), ("y" * 3000, "revoke"), ("nope", "x" * 3000)):
        r = client.post(f"/api/v1/admin/certificates/{cert_id}/{action}", json={"reason": "r"}, headers=headers)
        assert_json_4xx(r, 404, 422, what=f"{cert_id[:10]}/{action[:10]}")
    assert row_counts(app) == before


# ---------------------------------------------------------------- unicode, NUL bytes, long ids


def _register_raw(client, **fields):
    """Send JSON text as written (json.dumps escapes unpaired surrogates as \\udXXX, as a client would)."""
    body = {"name": "Ada", "email": "odd@example.com", "password": PASSWORD, "organisation": "Acme", **fields}
    return client.post("/api/v1/learners", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("value", ["Zoë Ñandú 日本語", "\U0001F600" * 50, "\u202eevil", "Ada\r\nX-Injected: 1",
                                   "O'Brien; DROP TABLE candidates;--", "<script>alert(1)</script>"])
@pytest.mark.parametrize("field", ["name", "organisation"])
def test_unusual_but_valid_text_is_kept_as_sent(client, app, field, value):
    from storage import Candidate

    r = _register_raw(client, **{field: value})
    assert r.status_code == 202, r.get_json()
    with transaction(app.extensions["db_factory"]) as db:
        stored = db.execute(select(Candidate).where(Candidate.email == "odd@example.com")).scalar_one()
        assert getattr(stored, field) == value.strip()


@pytest.mark.parametrize("field", ["name", "email", "password", "organisation"])
def test_unpaired_surrogates_in_text_fields_are_4xx(client, app, field):
    """A JSON escape like "\\ud800" decodes to text no database driver can encode."""
    before = row_counts(app)
    for value in ("\ud800", "A\udfffda"):
        r = _register_raw(client, **{field: value if field != "email" else value + "@example.com"})
        assert_json_4xx(r, 400, 422, what=f"{field}={value!r}")
    assert row_counts(app) == before


@pytest.mark.parametrize("field", ["name", "email", "password", "organisation", "policy reason"])
def test_nul_bytes_in_text_are_4xx_and_store_nothing(client, app, admin, field):
    """SQLite would store a NUL, PostgreSQL refuses it: both must answer 4xx and store nothing."""
    before = row_counts(app)
    for value in ("A\x00da", "\x00"):
        if field == "policy reason":
            r = _policy(client, admin, reason=value)
        else:
            r = _register_raw(client, **{field: value if field != "email" else value + "@example.com"})
        assert_json_4xx(r, 400, 404, 422, what=f"{field}={value!r}")
    assert row_counts(app) == before


@pytest.mark.parametrize("length", [65, 1000, 20_000])
def test_very_long_session_ids_are_404(client, app, length):
    before = row_counts(app)
    sid = "A" * length
    assert_json_4xx(client.get(f"/api/v1/sessions/{sid}"), 404)
    assert_json_4xx(client.get(f"/api/v1/sessions/{sid}/result"), 404)
    assert_json_4xx(client.post(f"/api/v1/sessions/{sid}/answers", json={"seq": 1, "item_id": "X", "choice": 0}), 404)
    assert row_counts(app) == before


def _odd_session_id_is_404(client, app, sid):
    before = row_counts(app)
    assert_json_4xx(client.get(f"/api/v1/sessions/{sid}"), 404, what=f"GET {sid}")
    assert_json_4xx(client.get(f"/api/v1/sessions/{sid}/result"), 404, what=f"GET {sid}/result")
    r = client.post(f"/api/v1/sessions/{sid}/answers", json={"seq": 1, "item_id": "X", "choice": 0})
    assert_json_4xx(r, 404, what=f"POST {sid}/answers")
    assert row_counts(app) == before


@pytest.mark.parametrize("sid", ["%FF%FE", "%ED%A0%80", "..%2F..%2Fetc", "'%20OR%201=1--", "%E2%80%AE", "a" * 64,
                                 "%F0%9F%98%80" * 16, "%20", "a%0Ab"])
def test_odd_session_ids_are_404(client, app, sid):
    _odd_session_id_is_404(client, app, sid)


@pytest.mark.parametrize("sid", ["%00", "abc%00def"])
def test_nul_in_ids_in_urls_is_404(client, app, admin, sid):
    _odd_session_id_is_404(client, app, sid)
    r = client.post(f"/api/v1/admin/certificates/{sid}/suspend", json={"reason": "r"}, headers=admin)
    assert_json_4xx(r, 404, what=f"certificate {sid}")
