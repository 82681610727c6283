"""What a model's failure becomes (chat/turn.py `model_error`): a deadline passed is a 504,
whichever layer noticed it; a failed call a 502; anything else is not the model's."""

from __future__ import annotations

import agents
import httpx2
import openai
import pytest

from todo_api.chat.turn import model_error
from todo_api.errors import ModelFailedError, ModelTimeoutError

_REQUEST = httpx2.Request("POST", "http://model.test/v1/chat/completions")


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),  # our own deadlines (a streamed call's, the aiohttp path's)
        openai.APITimeoutError(_REQUEST),  # the openai client's
        agents.ModelTimeoutError(30.0),  # the SDK's, should ModelSettings.timeout be set
    ],
)
def test_a_deadline_passed_is_a_504(error: BaseException) -> None:
    assert isinstance(model_error(error), ModelTimeoutError)


@pytest.mark.parametrize(
    "error",
    [
        openai.APIConnectionError(request=_REQUEST),
        agents.ModelBehaviorError("not a valid answer"),
    ],
)
def test_a_failed_call_is_a_502(error: BaseException) -> None:
    assert isinstance(model_error(error), ModelFailedError)


def test_an_error_of_our_own_is_not_the_models() -> None:
    assert model_error(ValueError("a bug")) is None
