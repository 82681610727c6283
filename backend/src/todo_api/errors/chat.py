"""Failures of the chat endpoint: its conversations, its limits and the model behind it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from todo_api.errors.base import RETRY_AFTER_DOC, ApiError

CHAT_SETUP = (
    "Chat is not configured on this server: set CHAT_MODEL_URL (an OpenAI-compatible API, "
    "e.g. https://api.openai.com/v1 or a local Ollama at http://localhost:11434/v1), "
    "CHAT_MODEL and, when the API needs one, CHAT_MODEL_API_KEY"
)


class ConversationNotFoundError(ApiError, LookupError):
    """The conversation does not exist or is another user's (indistinguishable on purpose)."""

    status = 404

    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"Conversation {conversation_id} not found")


class ConversationBusyError(ApiError):
    """Another turn of the conversation ran for the whole wait: retry."""

    status = 409
    retry_after = 1
    summary = "another turn of this conversation is still running; retry"
    header_docs: ClassVar[Mapping[str, str]] = {"Retry-After": RETRY_AFTER_DOC}
    message = "Another message of this conversation is still being answered: retry shortly"


class ChatRateLimitError(ApiError):
    """The user started CHAT_TURNS_PER_MINUTE turns in the last minute."""

    status = 429
    retry_after = 60
    summary = "CHAT_TURNS_PER_MINUTE messages in the last minute"
    header_docs: ClassVar[Mapping[str, str]] = {"Retry-After": RETRY_AFTER_DOC}

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Too many chat messages (CHAT_TURNS_PER_MINUTE = {limit}): retry in a minute"
        )


class ModelFailedError(ApiError):
    """The model API answered with an error, or could not be reached."""

    status = 502
    summary = "the model API failed; the message is kept in the conversation"
    message = (
        "The chat model failed to answer; your message is kept in the conversation: "
        "send it again later"
    )


class ModelTimeoutError(ApiError):
    """The model (or the whole turn) did not finish within its deadline."""

    status = 504
    summary = "the model did not answer in time; the message is kept in the conversation"
    message = (
        "The chat model did not answer in time; your message is kept in the conversation: "
        "send it again later"
    )


class ChatNotConfiguredError(ApiError):
    """No model is configured (CHAT_MODEL_URL, CHAT_MODEL): the rest of the API works."""

    status = 503
    # Every 503 says when to come back; only an operator can change this, so not soon.
    retry_after = 3600
    summary = "chat is not configured on this server (CHAT_MODEL_URL, CHAT_MODEL)"
    header_docs: ClassVar[Mapping[str, str]] = {"Retry-After": RETRY_AFTER_DOC}
    message = CHAT_SETUP
