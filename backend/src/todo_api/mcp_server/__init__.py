"""The MCP server at `/mcp`: AI agents manage the caller's tasks through `TaskService`.

It is a second transport beside the REST routers (`api/`), not a second application: the
same bearer token check, admission turns, database deadlines and user scope. No tool takes a
user id; the user is always the token's `sub`.

- `endpoint.py`: the HTTP endpoint (bearer token, then the SDK's Streamable HTTP transport).
- `server.py`: the MCP server and how a failed tool call is told to the model.
- `tools.py`: the six tools.
- `results.py`: tool results, structured (the REST shapes) and as short text.
"""
