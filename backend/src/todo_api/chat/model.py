"""The model client: the Agents SDK's Chat Completions model (chat/completions.py) on an
`AsyncOpenAI` client at CHAT_MODEL_URL, with a deadline per call and no retries (a retry would
double the wait the user sees; the client may retry the turn itself, with the same
Idempotency-Key).

The SDK's tracing is turned off here, process-wide: its default exporter would send every
turn to the OpenAI platform, whatever CHAT_MODEL_URL says.
"""

from __future__ import annotations

from agents import (
    Agent,
    ModelSettings,
    set_trace_processors,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

from todo_api.chat.client import ModelClient
from todo_api.chat.completions import ChatModel
from todo_api.chat.tools import ChatCall, ChatTools
from todo_api.config import Settings

set_tracing_disabled(True)
set_trace_processors([])

# What a local server that checks no key is sent (the client insists on one).
NO_KEY = "none"

INSTRUCTIONS = """\
You manage the to-do list of the signed-in user with the tools add_task, list_tasks,
get_task, update_task, complete_task and delete_task. Tasks are identified by the numeric ids
the tools return: look a task up (list_tasks with `search`) before changing it when the user
names it by title. Only this user's tasks exist for you. Confirm what you did in one or two
short sentences. If a tool answers with an error, read it and correct the call or explain it.
"""


def chat_agent(settings: Settings, tools: ChatTools) -> tuple[Agent[ChatCall], AsyncOpenAI]:
    """The agent (shared by every turn: the user is in each turn's context) and its client."""
    assert settings.chat_model_url
    assert settings.chat_model
    key = settings.chat_model_api_key
    client = ModelClient(
        base_url=settings.chat_model_url,
        api_key=key.get_secret_value() if key is not None else NO_KEY,
        timeout=settings.chat_model_timeout_seconds,
        max_retries=0,
    )
    model = ChatModel(model=settings.chat_model, openai_client=client)
    agent: Agent[ChatCall] = Agent(
        name="Todo assistant",
        instructions=INSTRUCTIONS,
        model=model,
        model_settings=ModelSettings(),
    )
    return agent, client
