"""One error tree: every exception class of the package is under TidingsError, and errors.py draws it as it is."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import click
import pytest

import tidings
from tidings import errors
from tidings.errors import BeamsError, BeamsErrorKind, TidingsError

# Modules that run something when imported (the CLI entry point, Alembic's environment and revisions).
_NOT_IMPORTED = re.compile(r"^tidings\.(__main__|storage\.migrations\.(env|versions\..*))$")
_BRANCH = re.compile(r"^(?P<indent>[ │]*)[├└]── (?P<name>\w+)(?: \[(?P<bases>[\w, ]+)\])?")


def package_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(tidings.__path__, "tidings."):
        if _NOT_IMPORTED.match(module_info.name):
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__.startswith("tidings."):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def drawn_tree() -> dict[str, tuple[str, frozenset[str]]]:
    """Class name -> (its parent in the drawing, the stdlib bases drawn in brackets)."""
    assert errors.__doc__ is not None
    tree: dict[str, tuple[str, frozenset[str]]] = {}
    stack = ["TidingsError"]
    for line in errors.__doc__.splitlines():
        match = _BRANCH.match(line.strip("\n").removeprefix("    "))
        if match is None:
            continue
        depth = len(match["indent"]) // 4
        del stack[depth + 1:]
        bases = frozenset(b.strip() for b in (match["bases"] or "").split(",") if b.strip())
        assert match["name"] not in tree, f"{match['name']} is drawn twice"
        tree[match["name"]] = (stack[depth], bases)
        stack.append(match["name"])
    return tree


def test_every_exception_of_the_package_is_a_tidings_error() -> None:
    # click.ClickException is the CLI's boundary type: click prints it and exits 1 (cli/common.py `Fail`).
    outside = [
        cls for cls in package_exceptions() if not issubclass(cls, TidingsError | click.ClickException)
    ]
    assert not outside, [f"{cls.__module__}.{cls.__qualname__}" for cls in outside]


def test_errors_py_draws_the_whole_tree_as_it_is() -> None:
    classes = [cls for cls in package_exceptions() if issubclass(cls, TidingsError) and cls is not TidingsError]
    names = [cls.__name__ for cls in classes]
    assert len(names) == len(set(names)), "two exception classes share a name: the drawing cannot tell them apart"
    tree = drawn_tree()
    assert set(tree) == set(names), (sorted(set(names) - set(tree)), sorted(set(tree) - set(names)))
    for cls in classes:
        parent = next(base for base in cls.__mro__[1:] if issubclass(base, TidingsError))
        foreign = frozenset(base.__name__ for base in cls.__bases__ if not issubclass(base, TidingsError))
        assert tree[cls.__name__] == (parent.__name__, foreign), cls


def test_the_drawing_is_read_as_drawn() -> None:
    tree = drawn_tree()
    assert tree["SubscriptionError"] == ("ProtocolError", frozenset())
    assert tree["BadMessage"] == ("AdapterError", frozenset({"ValueError"}))
    assert tree["ConnectError"] == ("Http2Error", frozenset())
    assert tree["ProviderError"] == ("TidingsError", frozenset())


def test_stdlib_bases_kept_for_the_callers_that_catch_them() -> None:
    from tidings.adapters.bus import BadMessage
    from tidings.providers.netguard import PrivateAddressError

    assert issubclass(BadMessage, ValueError)
    assert issubclass(PrivateAddressError, OSError)  # what aiohttp's resolver callers expect
    assert issubclass(errors.InvalidDeviceToken, ValueError)


class TestBeamsErrorKinds:
    def test_a_kind_carries_its_status_and_title(self) -> None:
        error = BeamsError(BeamsErrorKind.INVALID_TOKEN, "APNs device tokens are hex strings")
        assert (error.status, error.title) == (400, "InvalidToken")
        assert error.description == "APNs device tokens are hex strings"
        assert error.kind is BeamsErrorKind.INVALID_TOKEN

    def test_no_two_kinds_share_a_status_and_title(self) -> None:
        pairs = [(kind.status, kind.title) for kind in BeamsErrorKind]
        assert len(pairs) == len(set(pairs))

    @pytest.mark.parametrize(
        ("status", "title"),
        [
            (400, "Bad request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (413, "Bad request"),
            (422, "Unprocessable Entity"),
            (429, "Rate Limited"),
            (500, "Something went wrong"),
            (503, "Service Unavailable"),
        ],
    )
    def test_the_title_of_a_refusal_that_is_not_a_beams_error(self, status: int, title: str) -> None:
        kind = BeamsErrorKind.for_status(status)
        assert kind is not None and (kind.status, kind.title) == (status, title)

    def test_no_generic_kind_for_an_unlisted_status(self) -> None:
        assert BeamsErrorKind.for_status(418) is None
