"""The tests' RFC 6902 applier against the RFC's own examples (Appendix A)."""

from __future__ import annotations

import pytest

from tests.webhook.rfc6902 import JsonPatchTestFailed, PatchError, apply_patch


def test_adding_an_object_member() -> None:  # A.1
    assert apply_patch({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}]) == {
        "baz": "qux",
        "foo": "bar",
    }


def test_adding_an_array_element() -> None:  # A.2
    doc = {"foo": ["bar", "baz"]}
    assert apply_patch(doc, [{"op": "add", "path": "/foo/1", "value": "qux"}]) == {
        "foo": ["bar", "qux", "baz"]
    }
    assert doc == {"foo": ["bar", "baz"]}  # the input is not changed


def test_removing_an_array_element() -> None:  # A.4
    assert apply_patch({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}]) == {
        "foo": ["bar", "baz"]
    }


def test_replacing_a_value() -> None:  # A.5
    doc = {"baz": "qux", "foo": "bar"}
    assert apply_patch(doc, [{"op": "replace", "path": "/baz", "value": "boo"}]) == {
        "baz": "boo",
        "foo": "bar",
    }


def test_a_test_that_holds_and_one_that_fails() -> None:  # A.8, A.9
    doc = {"baz": "qux", "foo": ["a", 2, "c"]}
    ok = [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]
    assert apply_patch(doc, ok) == doc
    with pytest.raises(JsonPatchTestFailed):
        apply_patch(doc, [{"op": "test", "path": "/baz", "value": "bar"}])


def test_escaped_pointer_tokens_and_missing_targets() -> None:  # A.14, A.12
    assert apply_patch({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}]) == {
        "/": 9,
        "~1": 10,
    }
    with pytest.raises(PatchError):
        apply_patch({"foo": "bar"}, [{"op": "replace", "path": "/baz", "value": 1}])
    with pytest.raises(PatchError):
        apply_patch({"a": [1]}, [{"op": "replace", "path": "/a/1", "value": 1}])
