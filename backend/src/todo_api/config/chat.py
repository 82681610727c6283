"""Settings of the chat endpoint (`chat/`): the model it talks to, and the bounds of a turn."""

from __future__ import annotations

from pydantic import Field, SecretStr

from todo_api.config.background import ReminderSettings


class ChatSettings(ReminderSettings):
    """Without `CHAT_MODEL_URL` and `CHAT_MODEL` the chat endpoint answers 503."""

    chat_model_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible Chat Completions API, e.g. "
        "https://api.openai.com/v1 or http://localhost:11434/v1 (Ollama).",
    )
    chat_model: str | None = Field(default=None, description="The model name, e.g. gpt-4o-mini.")
    chat_model_api_key: SecretStr | None = Field(
        default=None, description="Bearer key of the model API (a local server needs none)."
    )
    chat_model_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Deadline of one model call; then 504."
    )
    chat_turn_seconds: float = Field(
        default=120.0,
        gt=0,
        le=900,
        description="Deadline of a whole turn (every model and tool call); then 504.",
    )
    chat_max_message_chars: int = Field(
        default=4000,
        ge=1,
        le=4000,
        description="Longest user message, at most 4000 (the API's limit); longer: 422.",
    )
    chat_history_messages: int = Field(
        default=40, ge=1, le=1000, description="Stored messages a turn sends the model."
    )
    chat_max_tool_calls: int = Field(
        default=10, ge=1, le=100, description="Tool calls per turn; then the turn stops."
    )
    chat_turns_per_minute: int = Field(
        default=20, ge=1, le=10_000, description="Turns one user may start per minute; 429."
    )

    @property
    def chat_configured(self) -> bool:
        return bool(self.chat_model_url and self.chat_model)
