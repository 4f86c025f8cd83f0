"""JSON nested past the parser's recursion limit is a bad request (400) on every route, never a
server error: each POST/PUT/PATCH route of the app is sent one, as a learner and as an admin."""
from __future__ import annotations

import re

from learners import sign_in

DEEP = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_json_is_a_bad_request_everywhere(app, client, role_token):
    admin = {"Authorization": f"Bearer {role_token('admin')}"}
    learner = sign_in(client, "nested@example.com")
    routes = sorted({re.sub(r"<[^>]+>", "X", rule.rule) for rule in app.url_map.iter_rules()
                     if {"POST", "PUT", "PATCH"} & set(rule.methods or ())})
    assert len(routes) > 10
    parsed_somewhere = False
    for path in routes:
        for headers in (admin, learner):
            r = client.post(path, data=DEEP, content_type="application/json", headers=headers)
            assert r.status_code < 500, (path, r.status_code)
            parsed_somewhere |= r.status_code == 400
    assert parsed_somewhere
