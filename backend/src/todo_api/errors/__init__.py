"""The error catalogue: every failure a caller is told about, declared once.

Each class says all a transport needs: the HTTP `status`, the `detail` (a sentence to show a
person, and the text an MCP tool error gives the model), the headers (`Retry-After`,
`WWW-Authenticate`, `ETag`) and, for a 422, the field errors. REST renders any of them as a
problem document through one handler (`api/problems.py`), the MCP tools turn the same object
into a tool error (`mcp_server/server.py`), and each operation's OpenAPI error responses are
generated from the classes it can raise (`api/problems.py` `responses_for`: status, `summary`,
`header_docs`). Driver errors become `DatabaseUnavailableError` or `ConflictError` in `database/`,
so neither transport imports SQLAlchemy.

The catalogue is this package: `base` (what every failure declares), `caller` (400-429),
`chat` (the chat endpoint's, 404-504) and `unavailable` (503); import the names from
`todo_api.errors`. It imports nothing of the app but its validation helpers
(`validation_errors.py`): every layer may raise what it declares.
"""

from todo_api.errors.base import (
    BUSY,
    DATABASE_TIMEOUT,
    DATABASE_UNAVAILABLE,
    KEYS_UNAVAILABLE,
    RETRY_AFTER_DOC,
    RETRY_AFTER_SECONDS,
    ApiError,
    report,
)
from todo_api.errors.caller import (
    CHALLENGE_DOC,
    CONFLICTS,
    BodyTimeoutError,
    BodyTooLargeError,
    ConflictError,
    ExpiredSyncCursorError,
    ForbiddenUserError,
    IdempotencyKeyBusyError,
    IdempotencyKeyReusedError,
    InvalidCursorError,
    InvalidInputError,
    InvalidJsonError,
    InvalidSyncCursorError,
    InvalidTicketError,
    KeyQuotaError,
    RecurrenceNeverRecursError,
    ReplayedTaskDeletedError,
    StreamLimitError,
    TaskChangedError,
    TaskNotFoundError,
    TaskQuotaError,
    TokenRejectedError,
    UnknownTimeZoneError,
    UnsupportedMediaTypeError,
    bearer_challenge,
)
from todo_api.errors.chat import (
    ChatNotConfiguredError,
    ChatRateLimitError,
    ConversationBusyError,
    ConversationNotFoundError,
    ModelFailedError,
    ModelTimeoutError,
)
from todo_api.errors.unavailable import (
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    KeySetUnavailableError,
    ServerBusyError,
)

__all__ = [
    "BUSY",
    "CHALLENGE_DOC",
    "CONFLICTS",
    "DATABASE_TIMEOUT",
    "DATABASE_UNAVAILABLE",
    "KEYS_UNAVAILABLE",
    "RETRY_AFTER_DOC",
    "RETRY_AFTER_SECONDS",
    "ApiError",
    "BodyTimeoutError",
    "BodyTooLargeError",
    "ChatNotConfiguredError",
    "ChatRateLimitError",
    "ConflictError",
    "ConversationBusyError",
    "ConversationNotFoundError",
    "DatabaseTimeoutError",
    "DatabaseUnavailableError",
    "ExpiredSyncCursorError",
    "ForbiddenUserError",
    "IdempotencyKeyBusyError",
    "IdempotencyKeyReusedError",
    "InvalidCursorError",
    "InvalidInputError",
    "InvalidJsonError",
    "InvalidSyncCursorError",
    "InvalidTicketError",
    "KeyQuotaError",
    "KeySetUnavailableError",
    "ModelFailedError",
    "ModelTimeoutError",
    "RecurrenceNeverRecursError",
    "ReplayedTaskDeletedError",
    "ServerBusyError",
    "StreamLimitError",
    "TaskChangedError",
    "TaskNotFoundError",
    "TaskQuotaError",
    "TokenRejectedError",
    "UnknownTimeZoneError",
    "UnsupportedMediaTypeError",
    "bearer_challenge",
    "report",
]
