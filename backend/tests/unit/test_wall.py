"""The second wall's gate: every statement run for one user sets the acting user first.

Row-level security (migration 0011) lets a row through only to the user the transaction
acts for; the gate `ACTING` (database/wall.py: `set_acting_user(:owner)`, migration 0014)
sets that user in the statement itself. It must be the first condition of the statement's
top-level WHERE: PostgreSQL evaluates it there once, in a One-Time Filter above every scan,
and evaluates the filter's conditions in the order written, so an earlier one (a quota count)
would run with no user set (tests/integration/test_wall.py shows both orders).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BooleanClauseList, Delete, Insert, Select, Update
from sqlalchemy.dialects import postgresql

from tests.unit.test_user_scope import CONVERSATION_STATEMENTS, SCOPED_STATEMENTS
from todo_api.database.wall import ACTING
from todo_api.live import reads, tickets
from todo_api.services.conversations import ChatScoped, UserConversations
from todo_api.services.scope import Scoped, UserTasks
from todo_api.services.statements import reminders

# Statements of one user outside `UserTasks`: reminders, the live stream's reads, tickets.
OTHER_SCOPED: dict[str, Any] = {
    "upcoming reminders": reminders.upcoming(after=False),
    "upcoming reminders, next page": reminders.upcoming(after=True),
    "set the time zone (replans reminders)": reminders.SET_TIME_ZONE,
    "live events after": reads.AFTER,
    "live position": reads.POSITION,
    "mint a stream ticket": tickets._MINT,
}


def _top_level_where(statement: Any) -> Any:
    """The WHERE of the statement itself (of its SELECT, for an INSERT ... SELECT)."""
    if isinstance(statement, Insert):
        assert statement.select is not None, "an INSERT ... VALUES cannot carry the gate"
        statement = statement.select
    assert isinstance(statement, Select | Update | Delete), type(statement)
    return statement.whereclause


def _gate_comes_first(statement: Any) -> None:
    where = _top_level_where(statement)
    assert where is not None, "no WHERE: no gate"
    first = where.clauses[0] if isinstance(where, BooleanClauseList) else where
    assert first is ACTING, str(statement.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("build", SCOPED_STATEMENTS)
def test_every_scoped_statement_sets_the_acting_user_first(
    build: Callable[[UserTasks], Scoped],
) -> None:
    _gate_comes_first(build(UserTasks("alice")).statement)


@pytest.mark.parametrize("build", CONVERSATION_STATEMENTS)
def test_every_conversation_statement_sets_the_acting_user_first(
    build: Callable[[UserConversations], ChatScoped],
) -> None:
    _gate_comes_first(build(UserConversations("alice")).statement)


@pytest.mark.parametrize("name", sorted(OTHER_SCOPED))
def test_the_other_statements_of_one_user_set_it_first_too(name: str) -> None:
    _gate_comes_first(OTHER_SCOPED[name])


def test_the_gate_is_one_call_of_the_setter_with_the_owner() -> None:
    sql = str(ACTING.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    assert re.fullmatch(r"set_acting_user\(%\(owner\)s(::VARCHAR)?\)", sql), sql


def test_the_setter_is_stable_and_sets_the_user_for_the_transaction_only() -> None:
    """STABLE makes the call a pseudo-constant evaluated once before any row (VOLATILE would
    be a per-row filter after the policy's own condition); `true`: transaction-local."""
    migration = SOURCE / "migrations" / "versions" / "0014_cheaper_row_security.py"
    body = " ".join(migration.read_text().split())
    assert "CREATE FUNCTION set_acting_user(owner text) RETURNS boolean" in body
    assert "LANGUAGE plpgsql STABLE PARALLEL UNSAFE" in body
    assert "RETURN set_config('todo.user_id', owner, true) IS NOT NULL;" in body


def test_a_gate_after_another_condition_is_caught() -> None:
    statement = UserTasks("alice").get(1).statement
    assert isinstance(statement, Select)
    where: Any = statement.whereclause
    wrong: Any = Select(*statement.selected_columns).where(where.clauses[1], ACTING)
    with pytest.raises(AssertionError):
        _gate_comes_first(wrong)


# --- Who may span users ---------------------------------------------------------------------

SOURCE = Path(__file__).resolve().parents[2] / "src" / "todo_api"
# The modules whose work spans users by design, and so run as `todo_worker`.
WORKERS = {
    "events/relay.py",  # delivers everybody's events
    "reminders/scheduler.py",  # fires everybody's reminders
    "services/housekeeping.py",  # expired keys, tombstones, tickets, delivered events
}
# The announcer (which users have new events) and ticket redemption (a ticket is found by its
# hash, before its user is known) span users through functions of migration 0016 instead.
_WORKER_NAME = re.compile(r"\btodo_worker\b")
_WORKER_HALF = {"worker_rows", "become_worker", "WORKER_ROLE"}


def _modules() -> dict[str, Path]:
    return {
        str(path.relative_to(SOURCE)): path
        for path in SOURCE.rglob("*.py")
        if "migrations" not in path.parts
    }


def test_only_the_wall_names_the_worker_role() -> None:
    naming = {
        name
        for name, path in _modules().items()
        if _WORKER_NAME.search(
            "\n".join(
                node.value
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            )
        )
    }
    # Docstrings may mention it; SQL naming it lives in database/wall.py alone.
    assert naming - {"database/wall.py"} <= _documents_only(naming), naming


def _documents_only(names: set[str]) -> set[str]:
    """Of `names`, the modules that mention the role only in docstrings or comments."""
    quiet = set()
    for name in names:
        tree = ast.parse(_modules()[name].read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        strings = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _WORKER_NAME.search(node.value)
            and id(node) not in docstrings
            and not _is_statement_docstring(tree, node)
        ]
        if not strings:
            quiet.add(name)
    return quiet


def _is_statement_docstring(tree: ast.AST, constant: ast.Constant) -> bool:
    """A bare string after an assignment (how this package documents constants)."""
    return any(isinstance(node, ast.Expr) and node.value is constant for node in ast.walk(tree))


def test_only_cross_user_work_takes_the_worker_role() -> None:
    taking = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "todo_api.database.wall":
                if {alias.name for alias in node.names} & _WORKER_HALF:
                    taking.add(name)
            elif isinstance(node, ast.Attribute) and node.attr in _WORKER_HALF:
                taking.add(name)
    assert taking - {"database/wall.py"} == WORKERS
