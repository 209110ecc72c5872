"""Hypothesis strategies for the property layer: JSON documents mutated by type, depth, encoding and size, and
the one assertion every reader must pass: it reads the document or refuses it with one UserError line."""
import json
from collections.abc import Callable, Iterator

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from errors import UserError

# the number of examples comes from the profile tests/conftest.py loads (150 in the suite, 750 exploring)
EXAMPLES = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["polyp", "Radius", "finger-1", "images/0.jpg", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def nodes(document, path=()) -> Iterator[tuple]:
    """The path of every node of a JSON document, the root included."""
    yield path
    children = document.items() if isinstance(document, dict) else enumerate(document) \
        if isinstance(document, list) else ()
    for key, child in children:
        yield from nodes(child, (*path, key))


def copy_and_parent(document, path: tuple):
    """A deep copy of `document` and, in it, the container holding the node at `path` (not the root)."""
    copy = json.loads(json.dumps(document))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    return copy, parent


def replaced(document, path: tuple, value):
    if not path:
        return value
    copy, parent = copy_and_parent(document, path)
    parent[path[-1]] = value
    return copy


def removed(document, path: tuple):
    if not path:
        return document
    copy, parent = copy_and_parent(document, path)
    del parent[path[-1]]
    return copy


@st.composite
def mutated_bytes(draw, document, dump: Callable[[object], str] = lambda d: json.dumps(d, allow_nan=True)) -> bytes:
    """`document` with one node replaced or removed, nested deeply, re-encoded, or cut short."""
    paths = list(nodes(document))
    kind = draw(st.sampled_from(["replace", "remove", "deep", "encoding", "cut", "noise"]))
    if kind == "replace":
        return dump(replaced(document, draw(st.sampled_from(paths)), draw(values))).encode()
    if kind == "remove":
        return dump(removed(document, draw(st.sampled_from(paths)))).encode()
    if kind == "deep":
        depth = draw(st.sampled_from([50, 1000, 100_000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return dump(replaced(document, draw(st.sampled_from(paths)), "DEEP")).replace(
            '"DEEP"', opener * depth + "1" + closer * depth).encode()
    text = dump(replaced(document, draw(st.sampled_from(paths)), draw(st.sampled_from(["é", "ß", "日本"]))))
    if kind == "encoding":
        return text.encode(draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252", "utf-8-sig"])),
                           errors="replace")
    if kind == "cut":
        data = text.encode()
        return data[:draw(st.integers(0, len(data)))]
    return draw(st.binary(max_size=64))


def assert_reads_or_refuses(read: Callable[[], object]) -> None:
    try:
        read()
    except UserError as err:
        message = str(err)
        assert message and "\n" not in message, message
