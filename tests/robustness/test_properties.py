"""Property tests: the engine on random banks and response patterns, the importers on hostile input.

Engine: a session rebuilt from ``to_state()`` continues exactly as the original would; every estimator
gives a finite θ inside its bounds and a finite positive SE for any pattern; probabilities stay in [c, d].
Importers: arbitrary or mutated input ends in a result or in the documented errors (ContentError,
QTIError, both ValueError subclasses), never in anything else.
"""
from __future__ import annotations

import io
import json
import math
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from engine import AdaptiveTest, Bank, CATConfig, irt
from engine.estimators import ESTIMATORS, ResponsePattern, estimate
from item_bank import interchange, qti
from item_bank.content import CONTENT_DIR, ContentError, load_areas, read_bank
from item_bank.qti import QTIError

FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DOCUMENTED = (ContentError, QTIError)


# ---------------------------------------------------------------- engine: strategies


@st.composite
def banks(draw, min_items=3, max_items=40, graded=True):
    n = draw(st.integers(min_items, max_items))
    unit = st.floats(0.0, 1.0)
    a = [0.3 + 2.2 * draw(unit) for _ in range(n)]
    b = [-3.0 + 6.0 * draw(unit) for _ in range(n)]
    c = [0.3 * draw(unit) for _ in range(n)]
    d = [0.85 + 0.15 * draw(unit) for _ in range(n)]
    area = [draw(st.integers(0, 2)) for _ in range(n)]
    thresholds = None
    if graded and draw(st.booleans()):
        thresholds = np.full((n, 3), np.nan)
        for i in range(n):
            if draw(st.integers(0, 4)) == 0:
                k = draw(st.integers(1, 3))
                steps = [0.2 + 1.5 * draw(unit) for _ in range(k)]
                thresholds[i, :k] = -2.5 + np.cumsum(steps)  # strictly increasing
    return Bank(a, b, c, d, area=area, thresholds=thresholds)


@st.composite
def configs(draw, bank: Bank):
    n = bank.n_items
    max_length = draw(st.integers(1, min(n, 15)))
    min_length = draw(st.integers(0, max_length))
    classification = draw(st.sampled_from(["none", "ci", "sprt"]))
    cut = draw(st.floats(-2, 2)) if classification != "none" or draw(st.booleans()) else None
    exposure = draw(st.sampled_from(["none", "randomesque", "sympson_hetter"]))
    blueprint = {}
    if draw(st.booleans()):
        for code in np.unique(bank.area).tolist():
            available = int((bank.area == code).sum())
            low = draw(st.integers(0, min(1, available)))
            blueprint[int(code)] = (low, draw(st.integers(max(low, 1), max_length + 1)))
        assume(sum(low for low, _ in blueprint.values()) <= max_length)
    enemies = []
    if n >= 4 and draw(st.booleans()):
        first = draw(st.integers(0, n - 1))
        second = draw(st.integers(0, n - 1))
        if first != second:
            enemies = [[first, second]]
    return CATConfig(
        estimator=draw(st.sampled_from(sorted(ESTIMATORS))),
        selector=draw(st.sampled_from(["max_info", "kl"])),
        exposure=exposure,
        randomesque_k=draw(st.integers(1, 5)),
        sympson_hetter_k=[draw(st.floats(0.2, 1.0)) for _ in range(n)] if exposure == "sympson_hetter" else None,
        se_target=draw(st.none() | st.floats(0.2, 0.6)),
        min_length=min_length,
        max_length=max_length,
        cut_score=cut,
        classification=classification,
        blueprint=blueprint,
        enemies=enemies,
        quadrature_points=draw(st.sampled_from([21, 41, 61])),
    )


def drive(session: AdaptiveTest, bank: Bank, data, steps: int | None = None) -> None:
    """Answer `steps` items (or to the end) with scores hypothesis draws."""
    taken = 0
    while steps is None or taken < steps:
        item = session.next_item()
        if item is None:
            return
        session.record(item, data.draw(st.integers(0, int(bank.max_score[item])), label=f"score {taken}"))
        taken += 1


def same(x: float, y: float) -> bool:
    return x == y or (math.isnan(x) and math.isnan(y))


# ---------------------------------------------------------------- engine: properties


@FAST
@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")  # NaN-padded thresholds
@given(data=st.data())
def test_replay_from_state_continues_exactly_like_the_original(data):
    bank = data.draw(banks(), label="bank")
    config = data.draw(configs(bank), label="config")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    original = AdaptiveTest(bank, config, seed=seed)
    drive(original, bank, data, steps=data.draw(st.integers(0, config.max_length), label="answered"))
    original.next_item()  # the pending item is part of the state

    state = json.loads(json.dumps(original.to_state()))  # what storage would hold
    replayed = AdaptiveTest.from_state(bank, config, state)
    assert replayed.next_item() == original.next_item()
    assert replayed.administered == original.administered and replayed.responses == original.responses
    assert same(replayed.theta, original.theta) and same(replayed.se, original.se)
    assert (replayed.finished, replayed.stop_reason) == (original.finished, original.stop_reason)

    # From here on both see the same answers and must make the same choices to the end.
    while (item := original.next_item()) is not None:
        assert replayed.next_item() == item
        score = data.draw(st.integers(0, int(bank.max_score[item])), label="later score")
        original.record(item, score)
        replayed.record(item, score)
    assert replayed.next_item() is None
    assert replayed.administered == original.administered
    assert (replayed.decision, replayed.stop_reason) == (original.decision, original.stop_reason)
    assert same(replayed.theta, original.theta)


@FAST
@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")
@given(data=st.data())
def test_session_respects_its_rules_for_any_answers(data):
    bank = data.draw(banks(), label="bank")
    config = data.draw(configs(bank), label="config")
    session = AdaptiveTest(bank, config, seed=data.draw(st.integers(0, 2**31 - 1)))
    drive(session, bank, data)
    items = session.administered
    assert session.finished and session.stop_reason
    assert len(items) == len(set(items)), "an item was given twice"
    assert len(items) <= config.max_length
    if session.stop_reason != "bank_exhausted":
        assert len(items) >= config.min_length
    for group in config.enemies:
        assert len(set(group) & set(items)) <= 1, "enemy items shared a test"
    for code, (_, high) in config.blueprint.items():
        assert sum(int(bank.area[i]) == code for i in items) <= high
    assert math.isfinite(session.theta) and config.theta_min <= session.theta <= config.theta_max
    assert math.isfinite(session.se) and session.se >= 0
    if config.cut_score is not None:
        assert session.decision in ("pass", "fail")


@st.composite
def patterns(draw):
    n = draw(st.integers(0, 30))
    unit = st.floats(0.0, 1.0)
    scores = [draw(st.integers(0, 1)) for _ in range(n)]
    a = [draw(st.floats(0.05, 6.0)) for _ in range(n)]
    b = [draw(st.floats(-8.0, 8.0)) for _ in range(n)]
    c = [0.45 * draw(unit) for _ in range(n)]
    d = [max(ci + 0.05, 0.55 + 0.45 * draw(unit)) for ci in c]
    return ResponsePattern.dichotomous(scores, a, b, c, [min(x, 1.0) for x in d])


@settings(max_examples=150, deadline=None, database=None)
@given(pattern=patterns(), name=st.sampled_from(sorted(ESTIMATORS)),
       bounds=st.tuples(st.floats(-6, -1), st.floats(1, 6)), prior_sd=st.floats(0.3, 3.0))
def test_every_estimator_is_finite_and_bounded_for_any_pattern(pattern, name, bounds, prior_sd):
    theta, se = estimate(name, pattern, prior_mean=0.0, prior_sd=prior_sd, n_points=41, bounds=bounds)
    assert math.isfinite(theta) and bounds[0] <= theta <= bounds[1], theta
    assert math.isfinite(se) and se > 0, se


@settings(max_examples=100, deadline=None, database=None)
@given(n=st.integers(1, 20), data=st.data(), name=st.sampled_from(sorted(ESTIMATORS)))
def test_every_estimator_is_finite_and_bounded_for_graded_patterns(n, data, name):
    steps = np.array(data.draw(st.lists(st.lists(st.floats(0.05, 3), min_size=3, max_size=3), min_size=n, max_size=n)))
    thresholds = -4 + np.cumsum(steps, axis=1)
    a = data.draw(st.lists(st.floats(0.2, 4.0), min_size=n, max_size=n))
    scores = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    theta, se = estimate(name, ResponsePattern.graded(scores, a, thresholds))
    assert math.isfinite(theta) and -4 <= theta <= 4
    assert math.isfinite(se) and se > 0


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None, database=None)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # a * (theta - b) for |theta| ~ 1e308
@given(theta=finite, a=st.floats(0.01, 10), b=st.floats(-10, 10), c=st.floats(0, 0.49), span=st.floats(0.01, 1))
def test_probabilities_stay_between_the_asymptotes(theta, a, b, c, span):
    d = min(1.0, c + span)
    p = float(irt.logistic_prob(theta, a, b, c, d))
    assert c <= p <= d
    log_p, log_q = irt.logistic_log_prob(theta, a, b, c, d)
    # log P and log Q are <= 0 up to rounding (logaddexp of log c and log(d - c) can land one ulp above 0).
    assert log_p <= 1e-12 and log_q <= 1e-12 and not math.isnan(log_p) and not math.isnan(log_q)
    info = float(irt.logistic_information(theta, a, b, c, d))
    assert math.isfinite(info) and info >= 0


@settings(max_examples=200, deadline=None, database=None)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@given(theta=finite, a=st.floats(0.01, 10),
       thresholds=st.lists(st.floats(-6, 6), min_size=1, max_size=4).map(sorted))
def test_graded_category_probabilities_are_a_distribution(theta, a, thresholds):
    probs = irt.graded_category_probs(np.array(theta), np.array([a]), np.array([thresholds]))[0]
    assert np.all(probs >= 0) and np.all(probs <= 1)
    assert abs(probs.sum() - 1.0) < 1e-9


# ---------------------------------------------------------------- importers: inputs


@pytest.fixture(scope="module")
def areas():
    return load_areas()


@pytest.fixture(scope="module")
def real_items():
    return [i for i in read_bank().items if i.area in ("privacy", "ip")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, real_items):
    """Real files in every import format, to be mutated."""
    out = tmp_path_factory.mktemp("corpus")
    json_path = out / "items.json"
    interchange.export_bank(real_items, "json", json_path)
    zip_buffer = io.BytesIO()
    qti.write_package(real_items[:6], zip_buffer)
    return {
        ".yaml": (CONTENT_DIR / "items" / "privacy.yaml").read_bytes(),
        ".json": json_path.read_bytes(),
        ".xml": qti.item_to_qti(real_items[0]).encode(),
        ".zip": zip_buffer.getvalue(),
    }


YAML_TOKENS = [b"- ", b": ", b"\n", b"  ", b"&a ", b"*a", b"!!python/object:os.system ", b"{", b"[", b"'", b'"',
               b"<<: *a\n", b"? ", b"|\n", b"%YAML 1.1\n", b"---\n", b"\t", b"\x00", b"\xff", b"~", b".nan", b"1e999"]
XML_TOKENS = [b"<", b">", b"</qti-simple-choice>", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>",
              b"&e;", b"&amp;", b"<![CDATA[", b"]]>", b'identifier="', b"\x00", b"\xff\xfe", b'"', b"<?xml ",
              b"<qti-choice-interaction>", b"xmlns=\"x\"", b"max-choices=\"2\""]
JSON_TOKENS = [b"{", b"}", b"[", b"]", b'"', b",", b":", b"null", b"1e999", b"-0", b"\\u0000", b"\\ud800", b"true",
               b'"key": "E"', b'"options": []', b'"difficulty": NaN']


@st.composite
def mutated(draw, original: bytes, tokens: list[bytes]):
    """A real file with a few edits: cut, duplicate, overwrite or insert a token."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            data.extend(draw(st.sampled_from(tokens)))
            continue
        at = draw(st.integers(0, len(data) - 1))
        size = draw(st.integers(1, 64))
        action = draw(st.sampled_from(["cut", "duplicate", "token", "byte", "truncate"]))
        if action == "cut":
            del data[at:at + size]
        elif action == "duplicate":
            data[at:at] = data[at:at + size]
        elif action == "token":
            data[at:at] = draw(st.sampled_from(tokens))
        elif action == "byte":
            data[at] = draw(st.integers(0, 255))
        else:
            del data[at:]
    return bytes(data)


def import_file(tmp: Path, suffix: str, data: bytes, areas) -> None:
    path = tmp / f"input{suffix}"
    path.write_bytes(data)
    try:
        interchange.import_items(path, areas=areas)
    except DOCUMENTED:
        pass


# ---------------------------------------------------------------- importers: properties


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".xml", ".zip"])
@FAST
@given(data=st.binary(max_size=2000) | st.text(max_size=1000).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_import_of_arbitrary_bytes_raises_only_documented_errors(tmp_path, areas, suffix, data):
    import_file(tmp_path, suffix, data, areas)


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".xml", ".zip"])
@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_import_of_mutated_real_files_raises_only_documented_errors(tmp_path, areas, corpus, suffix, data):
    tokens = {".yaml": YAML_TOKENS, ".json": JSON_TOKENS, ".xml": XML_TOKENS, ".zip": XML_TOKENS}[suffix]
    import_file(tmp_path, suffix, data.draw(mutated(corpus[suffix], tokens)), areas)


@FAST
@given(data=st.data())
def test_import_of_packages_with_mutated_entries_raises_only_documented_errors(tmp_path, areas, corpus, data):
    """The zip stays valid; the manifest or an item inside it is damaged."""
    with zipfile.ZipFile(io.BytesIO(corpus[".zip"])) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    victim = data.draw(st.sampled_from(sorted(entries)))
    entries[victim] = data.draw(mutated(entries[victim], XML_TOKENS))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    import_file(tmp_path, ".zip", buffer.getvalue(), areas)


@FAST
@given(xml=st.text(max_size=1500) | st.binary(max_size=1500),
       area=st.none() | st.sampled_from(["privacy", "nowhere", ""]),
       difficulty=st.none() | st.floats(allow_nan=True, allow_infinity=True))
def test_qti_to_item_raises_only_qti_errors(xml, area, difficulty):
    try:
        qti.qti_to_item(xml, area=area, difficulty=difficulty)
    except QTIError:
        pass


@FAST
@given(data=st.data())
def test_qti_to_item_on_mutated_real_items(corpus, data):
    try:
        item = qti.qti_to_item(data.draw(mutated(corpus[".xml"], XML_TOKENS)), area="privacy", difficulty=0.0)
    except QTIError:
        return
    assert item.external_id and len(item.options) >= 2 and 0 <= item.key_index < len(item.options)


@pytest.mark.parametrize("where", ["item", "package"])
def test_unknown_xml_encoding_is_a_qti_error(corpus, where):
    xml = corpus[".xml"].replace(b'encoding="UTF-8"', b'encoding="TF-8"', 1)
    assert xml != corpus[".xml"]
    with pytest.raises(QTIError):
        if where == "item":
            qti.qti_to_item(xml, area="privacy", difficulty=0.0)
        else:
            with zipfile.ZipFile(io.BytesIO(corpus[".zip"])) as zf:
                entries = {info.filename: zf.read(info) for info in zf.infolist()}
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                for name, content in entries.items():
                    zf.writestr(name, content.replace(b'encoding="UTF-8"', b'encoding="TF-8"', 1))
            qti.read_package(io.BytesIO(buffer.getvalue()), area="privacy", difficulty=0.0)


# ---------------------------------------------------------------- the bank's own YAML sources


@pytest.fixture(scope="module")
def small_content(tmp_path_factory):
    """A copy of the content folder with two areas' items (no enemies outside them), so each load is quick."""
    root = tmp_path_factory.mktemp("content") / "content"
    shutil.copytree(CONTENT_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (root / "items").glob("*.yaml"):
        if path.stem not in ("privacy", "security"):
            path.unlink()
    read_bank(root)  # the unmutated copy loads
    return root


CONTENT_FILES = ["areas.yaml", "items/privacy.yaml", "exams/social-media-frontline.yaml"]


@pytest.mark.parametrize("text", ["- privacy\n", "true\n", "areas: 3\n", "areas:\n", "areas:\n  - null\n",
                                  "areas:\n  - {slug: [privacy], code: PRI, title: Privacy}\n"])
def test_malformed_areas_file_is_a_content_error(small_content, text):
    path = small_content / "areas.yaml"
    original = path.read_bytes()
    try:
        path.write_text(text)
        with pytest.raises(ContentError):
            read_bank(small_content)
    finally:
        path.write_bytes(original)


@pytest.mark.parametrize("name", CONTENT_FILES)
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_loading_mutated_bank_sources_raises_only_content_errors(small_content, name, data):
    path = small_content / name
    original = path.read_bytes()
    try:
        path.write_bytes(data.draw(mutated(original, YAML_TOKENS)))
        try:
            read_bank(small_content)
        except ContentError:
            pass
    finally:
        path.write_bytes(original)


# ---------------------------------------------------------------- well-formed documents with a wrong node

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


@st.composite
def with_a_wrong_node(draw, document):
    """The document with one node (possibly the root) replaced by an arbitrary JSON-like value."""
    import copy

    doc = copy.deepcopy(document)
    paths = list(_paths(doc))
    # Prefer the top of the tree (where the schema lives) as often as the many leaves of the items.
    path = draw(st.sampled_from([p for p in paths if len(p) <= 3]) | st.sampled_from(paths))
    value = draw(json_values)
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


def _yaml_text(value) -> bytes:
    import yaml

    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False).encode()


@pytest.mark.parametrize("name", [
    *CONTENT_FILES,
])
@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate],  # no shrinking: the areas.yaml case is a known failure
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bank_sources_with_a_wrong_node_raise_only_content_errors(small_content, name, data):
    import yaml

    path = small_content / name
    original = path.read_bytes()
    document = yaml.safe_load(original)
    try:
        path.write_bytes(_yaml_text(data.draw(with_a_wrong_node(document))))
        try:
            read_bank(small_content)
        except ContentError:
            pass
    finally:
        path.write_bytes(original)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@settings(max_examples=50, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_imports_with_a_wrong_node_raise_only_documented_errors(tmp_path, areas, corpus, suffix, data):
    import yaml

    if suffix == ".json":
        document = json.loads(corpus[".json"])
        text = json.dumps(data.draw(with_a_wrong_node(document)), allow_nan=True).encode()
    else:
        text = _yaml_text(data.draw(with_a_wrong_node(yaml.safe_load(corpus[".yaml"]))))
    import_file(tmp_path, suffix, text, areas)
