"""kubectl's JSONPath as the lab renders it: the escaped-dot key of `kubectl get cm -o jsonpath`."""

import pytest

from kanslab.emulator.jsonpath import render
from kanslab.errors import InvalidInput

CM = {"data": {"prometheus.yml": "global: {}\n", "prometheus": "other"}}


def test_escaped_dot_names_one_key():
    # the idiom for a ConfigMap key with a dot (client-go jsonpath's parseField drops the backslash)
    assert render(r"{.data.prometheus\.yml}", CM) == "global: {}\n"
    assert render("{.data['prometheus.yml']}", CM) == "global: {}\n"


def test_unescaped_dot_still_walks_and_a_missing_key_prints_nothing():
    assert render("{.data.prometheus}", CM) == "other"
    assert render("{.data.prometheus.yml}", CM) == ""


def test_a_lone_backslash_is_still_refused():
    with pytest.raises(InvalidInput):
        render("{.data.prometheus\\}", CM)
