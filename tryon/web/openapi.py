"""The OpenAPI 3.1 description of /api/, served at /api/v1/openapi.json.

To describe a new route: add an entry to `_paths()` built with `_operation(...)`; reuse the
schemas of `_schemas()` or add one there. tests/test_openapi.py fails until every route of
the app under /api/ (and each of its methods) is described here.
"""
from flask import Blueprint, jsonify

from tryon import errors
from tryon.web.api import public_base_url

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

# What each refused-request status means on this API (the errorCode is in the body).
ERROR_DESCRIPTIONS = {
    400: "Bad request: a missing or invalid field, an image that cannot be used.",
    401: "Missing, invalid or revoked API key, or a disabled account.",
    402: "Insufficient credits.",
    403: "The job belongs to another account.",
    404: "No such job.",
    409: "The job is in the wrong state for this (JOB_FINISHED / JOB_NOT_FINISHED).",
    413: "The request body is larger than TRYON_MAX_UPLOAD_MB.",
    414: "The request line (method, path and query) is longer than 8190 bytes.",
    422: "The Idempotency-Key was used within 24 hours for a different request.",
    429: "Rate limit reached; see Retry-After.",
    431: "A request header is longer than 8190 bytes, or there are more than 100 headers.",
    500: "Unexpected server error.",
    507: "The uploaded images could not be stored; nothing was charged.",
}
# Refused before any route is chosen, so possible on every operation (gunicorn.conf.py's
# limits, answered by tryon/web/gunicorn_worker.py).
REFUSED_FOR_SIZE = (414, 431)


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document(public_base_url()))


def document(base_url):
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tryon API",
            "version": "1.0.0",
            "description": "Virtual try-on: submit a person and a garment photo, poll the job, "
                           "download the result. Human-readable documentation: /docs.",
        },
        "servers": [{"url": base_url}],
        "security": [{"bearerAuth": []}, {"apiKeyHeader": []}],
        "paths": _paths(),
        "webhooks": _webhooks(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "Authorization: Bearer ta_<32 hex characters>"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "parameters": {"jobId": {"name": "jobId", "in": "path", "required": True,
                                     "description": "The jobId returned by POST /api/v1/tryon.",
                                     "schema": {"type": "string", "format": "uuid"}}},
            "schemas": _schemas(),
        },
    }


def _paths():
    job_id = {"$ref": "#/components/parameters/jobId"}
    return {
        "/api/v1/tryon": {"post": _operation(
            "submitTryOn", "Submit a try-on job",
            {"202": _json("The job is queued; poll statusUrl.", "SubmitResponse",
                          headers={"Location": {"description": "Absolute status URL.",
                                                "schema": {"type": "string"}},
                                   "Idempotent-Replayed": {
                                       "description": "\"true\" when an earlier submit with "
                                                      "the same Idempotency-Key is answered.",
                                       "schema": {"type": "string", "enum": ["true"]}}})},
            errors=(400, 401, 402, 413, 422, 429, 500, 507),
            parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                         "description": "A retry with the same key within 24 hours returns "
                                        "the same job and is charged once.",
                         "schema": {"type": "string", "maxLength": 255}}],
            request_body={"required": True, "content": {"multipart/form-data": {
                "schema": {"$ref": "#/components/schemas/SubmitForm"}}}})},
        "/api/v1/tryon/status/{jobId}": {"get": _operation(
            "getTryOnStatus", "Status and result of a job",
            {"200": _json("The job's status document.", "JobStatus")},
            errors=(401, 403, 404, 429), parameters=[job_id])},
        "/api/v1/tryon/jobs": {"get": _operation(
            "listTryOnJobs", "The caller's jobs, newest first",
            {"200": _json("One page of jobs.", "JobList")},
            errors=(400, 401, 429), parameters=[
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 100,
                                 "default": 20}),
                _query("status", {"type": "string",
                                  "enum": ["processing", "completed", "failed"]}),
                _query("cursor", {"type": "string"}, "The nextCursor of the previous page; "
                                                     "absent or empty: the first page.")])},
        "/api/v1/tryon/{jobId}/cancel": {"post": _operation(
            "cancelTryOnJob", "Cancel a job that has not finished (it is refunded)",
            {"200": _json("The job, now failed with errorCode CANCELED.", "JobStatus")},
            errors=(401, 403, 404, 409, 429), parameters=[job_id])},
        "/api/v1/tryon/{jobId}": {"delete": _operation(
            "deleteTryOnJob", "Delete a finished job's images and record",
            {"204": {"description": "Deleted."}},
            errors=(401, 403, 404, 409, 429), parameters=[job_id])},
        "/api/v1/credits": {"get": _operation(
            "getCredits", "The caller's credit balance",
            {"200": _json("Balance and the cost of one job.", "Credits")},
            errors=(401, 429))},
        "/api/v1/openapi.json": {"get": _operation(
            "getOpenApi", "This OpenAPI document",
            {"200": {"description": "OpenAPI 3.1 document.",
                     "content": {"application/json": {"schema": {"type": "object"}}}}},
            errors=(), security=[])},
    }


def _webhooks():
    """What we POST to a job's webhook_url when it finishes (retried with back-off)."""
    def header(name, description):
        return {"name": name, "in": "header", "required": True, "description": description,
                "schema": {"type": "string"}}

    return {"jobFinished": {"post": {
        "operationId": "jobFinished",
        "summary": "A job submitted with webhook_url completed or failed",
        "description": "Retried with back-off (TRYON_WEBHOOK_RETRY_SECONDS) until the "
                       "receiver answers 2xx. Verify Tryon-Signature with the webhook secret "
                       "shown on the dashboard's API keys page.",
        "parameters": [
            header("Tryon-Signature", 't=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" '
                                      "with the webhook secret>"),
            header("Tryon-Event", "job.completed or job.failed"),
            header("Tryon-Delivery", "The delivery's id: the same on every retry of it."),
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "allOf": [{"$ref": "#/components/schemas/JobStatus"},
                      {"type": "object", "required": ["event"], "properties": {
                          "event": {"type": "string",
                                    "enum": ["job.completed", "job.failed"]}}}]}}}},
        "responses": {"2XX": {"description": "Received; not sent again."},
                      "default": {"description": "Not received; sent again later."}},
        "security": [],
    }}}


def _operation(operation_id, summary, responses, *, errors=(), parameters=(),
               request_body=None, security=None):
    operation = {"operationId": operation_id, "summary": summary,
                 "responses": {**responses, **_error_responses((*errors, *REFUSED_FOR_SIZE))}}
    if parameters:
        operation["parameters"] = list(parameters)
    if request_body is not None:
        operation["requestBody"] = request_body
    if security is not None:
        operation["security"] = security
    return operation


def _error_responses(statuses):
    return {str(status): _json(ERROR_DESCRIPTIONS[status], "Error") for status in statuses}


def _json(description, schema_name, headers=None):
    response = {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}
    if headers:
        response["headers"] = headers
    return response


def _query(name, schema, description=None):
    parameter = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


def _schemas():
    image_input = {"oneOf": [
        {"type": "string", "contentMediaType": "application/octet-stream",
         "description": "A JPEG, PNG or WebP file."},
        {"type": "string", "format": "uri",
         "description": "An http(s) URL of the image, downloaded by the job after the 202: an "
                        "image that cannot be downloaded or used fails the job with "
                        "INVALID_PERSON_IMAGE / INVALID_GARMENT_IMAGE."}]}
    timestamp = {"type": "string", "format": "date-time"}
    return {
        "SubmitForm": {
            "type": "object",
            "required": ["person_images", "garment_images"],
            "properties": {
                "person_images": {**image_input, "description": "One person photo."},
                "garment_images": {**image_input, "description": "One garment photo."},
                "category": {"type": "string", "enum": ["auto", "tops", "bottoms", "one-pieces"]},
                "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
                "fast_mode": {"type": "boolean"},
                "garment_description": {"type": "string", "maxLength": 1000},
                "webhook_url": {"type": "string", "format": "uri",
                                "description": "Where to POST the status document when the "
                                               "job finishes (see webhooks: jobFinished)."},
            },
        },
        "SubmitResponse": {
            "type": "object", "required": ["jobId", "statusUrl"],
            "properties": {"jobId": {"type": "string", "format": "uuid"},
                           "statusUrl": {"type": "string",
                                         "examples": ["/api/v1/tryon/status/<jobId>"]}},
        },
        "JobStatus": {
            "type": "object",
            "required": ["jobId", "status", "createdAt", "updatedAt"],
            "properties": {
                "jobId": {"type": "string", "format": "uuid"},
                "status": {"type": "string", "enum": ["processing", "completed", "failed"]},
                "message": {"type": "string",
                            "description": "Present while processing (queued, with its "
                                           "position, or generating), and when retention "
                                           "deleted the job's images."},
                "imageUrl": {"type": "string", "format": "uri",
                             "description": "Signed, time-limited result URL (completed)."},
                "resultImageUrl": {"type": "string", "format": "uri",
                                   "description": "The same URL as imageUrl."},
                "imageBase64": {"type": "string",
                                "description": "The result image (TRYON_RESULT_DELIVERY)."},
                "result": {"type": "object", "additionalProperties": True,
                           "description": "Stage and queue position, result metadata, or "
                                          "error details."},
                "error": {"type": "string", "description": "Present when failed."},
                "errorCode": {"type": "string", "enum": list(errors.JOB_ERROR_CODES)},
                "createdAt": timestamp,
                "updatedAt": timestamp,
            },
        },
        "JobList": {
            "type": "object", "required": ["jobs", "nextCursor"],
            "properties": {"jobs": {"type": "array",
                                    "items": {"$ref": "#/components/schemas/JobStatus"}},
                           "nextCursor": {"type": ["string", "null"]}},
        },
        "Credits": {
            "type": "object", "required": ["balance", "jobCost"],
            "properties": {"balance": {"type": "integer"}, "jobCost": {"type": "integer"}},
        },
        "Error": {
            "type": "object", "required": ["error", "errorCode"],
            "properties": {
                "error": {"type": "string"},
                "errorCode": {"type": "string",
                              "examples": sorted(set(errors.HTTP_ERROR_CODES.values()))},
            },
        },
    }
