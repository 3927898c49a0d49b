"""Error codes of the public API and the exceptions that carry them.

Two families:
- ApiError: a request is refused (4xx/5xx); tryon/web/errors.py renders it as
  {"error": ..., "errorCode": ...} for everything under /api/.
- JobFailure: a job ends in status "failed"; its code is one of the documented errorCodes.
"""


# errorCodes a failed job can carry (documented in the public API docs and the README).
INVALID_PERSON_IMAGE = "INVALID_PERSON_IMAGE"
INVALID_GARMENT_IMAGE = "INVALID_GARMENT_IMAGE"
VALIDATION_FAILED = "VALIDATION_FAILED"
GENERATION_FAILED = "GENERATION_FAILED"
STORAGE_FAILED = "STORAGE_FAILED"
R2_FETCH_FAILED = "R2_FETCH_FAILED"
RESULT_UNAVAILABLE = "RESULT_UNAVAILABLE"
QUEUE_INVALID_INPUT_DATA = "QUEUE_INVALID_INPUT_DATA"
CONSUMER_CONFIG_ERROR = "CONSUMER_CONFIG_ERROR"
INVALID_SERVICE_PROVIDER = "INVALID_SERVICE_PROVIDER"
QUEUE_PROCESSING_FAILED = "QUEUE_PROCESSING_FAILED"
SERVICE_SPECIFIC_ERROR = "SERVICE_SPECIFIC_ERROR"
INTERNAL_ERROR = "INTERNAL_ERROR"
# Ours, beyond the hosted service's list: the owner canceled the job (it is refunded).
CANCELED = "CANCELED"

JOB_ERROR_CODES = (
    INVALID_PERSON_IMAGE, INVALID_GARMENT_IMAGE, VALIDATION_FAILED, GENERATION_FAILED,
    STORAGE_FAILED, R2_FETCH_FAILED, RESULT_UNAVAILABLE, QUEUE_INVALID_INPUT_DATA,
    CONSUMER_CONFIG_ERROR, INVALID_SERVICE_PROVIDER, QUEUE_PROCESSING_FAILED,
    SERVICE_SPECIFIC_ERROR, INTERNAL_ERROR, CANCELED,
)

# errorCodes of refused requests (HTTP errors under /api/).
HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDITS",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    422: "UNPROCESSABLE",
    429: "RATE_LIMITED",
    431: "HEADERS_TOO_LARGE",
    500: INTERNAL_ERROR,
    507: STORAGE_FAILED,
}


class ApiError(Exception):
    """A refused API request: HTTP status, human message and errorCode."""

    def __init__(self, status, message, error_code=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code or HTTP_ERROR_CODES.get(status, "ERROR")
        self.headers = headers or {}


class JobFailure(Exception):
    """Ends a job as failed with a documented errorCode.

    `step` names where it failed (e.g. "load_inputs", "generate", "store_result");
    `details` carries provider-specific information (its own error name and message).
    """

    def __init__(self, error_code, message, step=None, details=None):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.step = step
        self.details = details or {}
