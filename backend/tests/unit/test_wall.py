"""The second wall's gate: every statement run for one user sets the acting user first.

Row-level security (migration 0010) lets a row through only to the user the transaction
acts for; the gate `ACTING` (database/wall.py) sets that user in the statement itself. It
must be the first condition of the statement's top-level WHERE: PostgreSQL runs it there
as an InitPlan of a One-Time Filter above every scan, and evaluates the filter's conditions
in the order written, so an earlier one (a quota count) would run with no user set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import BooleanClauseList, Delete, Insert, Select, Update
from sqlalchemy.dialects import postgresql

from tests.unit.test_user_scope import SCOPED_STATEMENTS
from todo_api.database.wall import ACTING
from todo_api.live import reads, tickets
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


@pytest.mark.parametrize("name", sorted(OTHER_SCOPED))
def test_the_other_statements_of_one_user_set_it_first_too(name: str) -> None:
    _gate_comes_first(OTHER_SCOPED[name])


def test_the_gate_sets_the_owner_for_the_transaction_only() -> None:
    sql = str(ACTING.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    assert sql.startswith("(SELECT set_config('todo.user_id', %(owner)s")
    assert sql.endswith(", true) AS set_config_1) IS NOT NULL")


def test_a_gate_after_another_condition_is_caught() -> None:
    statement = UserTasks("alice").get(1).statement
    assert isinstance(statement, Select)
    where: Any = statement.whereclause
    wrong: Any = Select(*statement.selected_columns).where(where.clauses[1], ACTING)
    with pytest.raises(AssertionError):
        _gate_comes_first(wrong)
