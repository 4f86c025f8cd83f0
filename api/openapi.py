"""The OpenAPI 3.1 description of the JSON API, served at /api/v1/openapi.json."""
from __future__ import annotations

from flask import Blueprint, jsonify

from item_bank.accounts import EMAIL_PATTERN

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "Malformed request"),
    "404": _json(_ref("Error"), "No such session or exam"),
    "409": _json(_ref("Error"), "Conflicts with the session's state"),
    "415": _json(_ref("Error"), "Not JSON"),
    "422": _json(_ref("Error"), "Invalid value"),
}
NO_NUL = "^[^\\u0000]*$"  # text the databases can store
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"  # storable, and more than white space
SESSION_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
BEARER = [{"bearer": []}]
LEARNER = [{"learner": []}]
LEARNER_ERRORS = {**ERRORS, "401": _json(_ref("Error"), "Not signed in (no or expired learner token)")}
TOO_MANY = {"429": _json(_ref("Error"), "Rate limit reached; see the Retry-After header")}
SIGNED_IN = _json({"type": "object", "required": ["learner_id", "token", "expires_at"], "properties": {
    "learner_id": {"type": "integer"}, "token": {"type": "string"}, "expires_at": {"type": "string"}}},
    "Signed in: send the token as 'Authorization: Bearer <token>'")
REGISTERED = _json({"type": "object", "required": ["status", "message", "signin_url"], "properties": {
    "status": {"const": "received"}, "message": {"type": "string"}, "signin_url": {"type": "string"}}},
    "Received. The same answer whether or not the address already had an account; sign in next")

SPEC = {
    "openapi": "3.1.0",
    "info": {
        "title": "Certamen API",
        "version": "1.0.0",
        "description": "Adaptive compliance exams. A learner registers or signs in for a learner token; "
                       "a sitting answers only to its own learner. Psychometrics, HR and admin routes need a "
                       "bearer token with a role.",
    },
    "paths": {
        "/api/v1/exams": {"get": {"summary": "List active exams", "operationId": "listExams",
                                  "responses": {"200": _json({"type": "object", "properties": {
                                      "exams": {"type": "array", "items": _ref("Exam")}}}, "Exams")}}},
        "/api/v1/learners": {"post": {
            "summary": "Create a learner account (argon2-hashed password); then sign in for a token",
            "description": "Does not say whether the address already had an account: the answer is the same "
                           "(and that account is left untouched). The password must not be a common one "
                           "nor made of the learner's name or e-mail address (422 says why).",
            "operationId": "register",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Registration")}}},
            "responses": {"202": REGISTERED, **ERRORS, **TOO_MANY},
        }},
        "/api/v1/signin": {"post": {
            "summary": "Sign in with e-mail and password", "operationId": "signIn",
            "description": "Repeated failures from one address for one account make it wait, longer each "
                           "time (429 with Retry-After); other addresses are not affected.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SignIn")}}},
            "responses": {"200": SIGNED_IN, **ERRORS, "401": _json(_ref("Error"), "Not recognised"), **TOO_MANY},
        }},
        "/api/v1/signout": {"post": {
            "summary": "End this learner token", "operationId": "signOut", "security": LEARNER,
            "responses": {"204": {"description": "Signed out"}, **LEARNER_ERRORS},
        }},
        "/api/v1/me": {"get": {
            "summary": "The signed-in learner", "operationId": "me", "security": LEARNER,
            "responses": {"200": _json({"type": "object"}, "The learner"), **LEARNER_ERRORS},
        }},
        "/api/v1/sessions": {"post": {
            "summary": "Start the exam, or resume the sitting in progress (one at a time per learner)",
            "operationId": "startSession", "security": LEARNER,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("StartRequest")}}},
            "responses": {"201": _json(_ref("Session"), "The sitting and its first item"), **LEARNER_ERRORS},
        }},
        "/api/v1/sessions/{session_id}": {"get": {
            "summary": "Resume: the sitting's state and the item currently presented", "operationId": "getSession",
            "parameters": [SESSION_ID], "security": LEARNER,
            "responses": {"200": _json(_ref("Session"), "The sitting"), **LEARNER_ERRORS},
        }},
        "/api/v1/sessions/{session_id}/answers": {"post": {
            "summary": "Answer the item currently presented (idempotent per seq)", "operationId": "answer",
            "parameters": [SESSION_ID], "security": LEARNER,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Answer")}}},
            "responses": {"201": _json(_ref("Session"), "Recorded; the next item or the end"),
                          "200": _json(_ref("Session"), "Already recorded (a repeat of the same answer)"),
                          **LEARNER_ERRORS, **TOO_MANY},
        }},
        "/api/v1/sessions/{session_id}/result": {"get": {
            "summary": "Pass/fail and per-area feedback of a finished sitting", "operationId": "result",
            "parameters": [SESSION_ID], "security": LEARNER,
            "responses": {"200": _json(_ref("Result"), "The result"), **LEARNER_ERRORS},
        }},
        "/api/v1/psychometrics/parameter-sets": {"get": {
            "summary": "Parameter versions of the bank", "operationId": "parameterSets", "security": BEARER,
            "responses": {"200": {"description": "Parameter sets"}, "401": _json(_ref("Error"), "No token"),
                          "403": _json(_ref("Error"), "Wrong role")},
        }},
        "/api/v1/admin/audit/verify": {"get": {
            "summary": "Check the hash chain of the audit trail", "operationId": "auditVerify", "security": BEARER,
            "responses": {"200": {"description": "Intact"}, "409": {"description": "Tampered"},
                          "401": _json(_ref("Error"), "No token"), "403": _json(_ref("Error"), "Wrong role")},
        }},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A staff role token"},
                            "learner": {"type": "http", "scheme": "bearer",
                                        "description": "A learner token from /api/v1/signin (the JSON API takes "
                                                       "no cookie)"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Exam": {"type": "object", "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                                      "description": {"type": "string"}, "kind": {"type": "string"},
                                                      "version": {"type": "integer"}}},
            "Registration": {"type": "object", "required": ["name", "email", "password"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK},
                "email": {"type": "string", "maxLength": 320, "pattern": EMAIL_PATTERN},
                "password": {"type": "string", "minLength": 10, "maxLength": 1024, "pattern": NO_NUL},
                "organisation": {"type": "string", "maxLength": 200, "pattern": NO_NUL,
                                 "description": "Where the learner says they work, kept on their profile; it enrols "
                                                "them nowhere (only an organisation's enrolment or invitation does)"}}},
            "SignIn": {"type": "object", "required": ["email", "password"], "properties": {
                "email": {"type": "string", "maxLength": 320, "pattern": NO_NUL},
                "password": {"type": "string", "maxLength": 1024, "pattern": NO_NUL}}},
            "StartRequest": {"type": "object", "required": ["exam_id"], "properties": {
                "exam_id": {"type": "string", "pattern": NO_NUL}}},
            "Item": {"type": "object", "description": "What the learner sees; never keys or parameters",
                     "properties": {"seq": {"type": "integer"}, "item_id": {"type": "string"},
                                    "scenario": {"type": "string"}, "question": {"type": "string"},
                                    "options": {"type": "array", "items": {"type": "object", "properties": {
                                        "index": {"type": "integer"}, "text": {"type": "string"}}}}}},
            "Session": {"type": "object", "properties": {
                "session_id": {"type": "string"}, "exam_id": {"type": "string"},
                "state": {"type": "string", "enum": ["in_progress", "completed", "abandoned"]},
                "answered": {"type": "integer"}, "item": {"oneOf": [_ref("Item"), {"type": "null"}]},
                "duplicate": {"type": "boolean"}, "result_url": {"type": "string"},
                "deadline": {"type": ["string", "null"], "description": "When the time limit ends the sitting"},
                "seconds_left": {"type": ["integer", "null"]}}},
            "Answer": {"type": "object", "required": ["seq", "item_id", "choice"], "properties": {
                "seq": {"type": "integer"}, "item_id": {"type": "string", "minLength": 1, "pattern": NO_NUL},
                "choice": {"type": "integer", "description": "The chosen option's `index` as this sitting shows "
                                                             "it (options are shuffled per sitting)"}}},
            "Result": {"type": "object", "properties": {
                "session_id": {"type": "string"}, "exam_id": {"type": "string"}, "exam_title": {"type": "string"},
                "decision": {"type": "string", "enum": ["pass", "fail"]}, "passed": {"type": "boolean"},
                "items_answered": {"type": "integer"}, "finished_at": {"type": ["string", "null"]},
                "timed_out": {"type": "boolean"},
                "areas": {"type": "array", "items": {"type": "object", "properties": {
                    "area": {"type": "string"}, "items": {"type": "integer"},
                    "meets_standard": {"type": "boolean"}}}}}},
        },
    },
}


@bp.get("/api/v1/openapi.json")
def openapi():
    return jsonify(SPEC)
