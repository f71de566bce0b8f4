"""A param checked against the type of the action's advertised default (newcomer20c #4)."""

from __future__ import annotations

from typing import Any

import pytest

from jetcron.domain.action_params import param_problems

ADVERTISED = ["seconds=1.0", "count=3", "loud=false", 'message=""', "url", "[json]", "tags=[]"]


@pytest.mark.parametrize(
    ("params", "problems"),
    [
        ({"seconds": 2}, []),
        ({"seconds": "2.5"}, []),
        ({"seconds": "abc"}, ['seconds takes a number (default 1.0), not "abc"']),
        ({"seconds": True}, ["seconds takes a number (default 1.0), not true"]),
        ({"count": 2.5}, ["count takes a whole number (default 3), not 2.5"]),
        ({"loud": "yes"}, ['loud takes true or false (default false), not "yes"']),
        ({"message": 5}, ['message takes a string (default ""), not 5']),
        ({"url": 5, "json": [1], "other": "x"}, []),
        ({"tags": "a"}, ['tags takes a list (default []), not "a"']),
    ],
)
def test_param_problems(params: dict[str, Any], problems: list[str]) -> None:
    assert param_problems(params, ADVERTISED) == problems
