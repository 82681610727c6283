"""The chat endpoint's agent: the OpenAI Agents SDK over any OpenAI-compatible Chat
Completions API, with the MCP server's six task tools run in-process for the caller.

`model` configures the client (and turns the SDK's tracing export off: nothing leaves the
server but the calls to CHAT_MODEL_URL), `tools` adapts the task tools, `turn` runs one turn
(plain or streamed). The conversations themselves are stored by `services/conversations.py`.
"""
