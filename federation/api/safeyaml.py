"""YAML loading that cannot be hung: the limits kube-apiserver and kubectl put on a manifest.

PyYAML keeps an alias as a reference to its anchor's node, so loading a "billion laughs" document is
cheap; what explodes is everything that walks the result (validation, defaulting, JSON encoding).
So each document's node graph is measured before it is constructed, in time linear in the text:

- *excessive aliasing*: go-yaml's rule, which kubectl and the API server apply (``document contains
  excessive aliasing``): more than 100 nodes decoded through aliases, more than 1,000 in all, and
  aliases making up more of them than a ratio that falls from 99% (up to 400,000 nodes) to 10% (from
  4,000,000);
- an anchor that contains itself (it has no JSON form);
- the size of the document as JSON over the API server's request body limit (3 MiB);
- nesting deeper than the parser's recursion allows.

:func:`load_all` is used by ``fedctl validate`` and by the Kubernetes simulator for YAML bodies.
"""

from __future__ import annotations

from typing import Any

import yaml

REQUEST_BODY_LIMIT = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes
_ALIAS_LOW, _ALIAS_HIGH = 400_000, 4_000_000
# libyaml's parser when PyYAML was built with it (much faster on big documents); the same safe tags.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlLimitError(yaml.YAMLError):
    """A document over one of the limits; the message says which."""


def allowed_alias_ratio(decoded: int) -> float:
    """go-yaml's share of nodes that may come from alias expansion, for a document of ``decoded`` nodes."""
    if decoded <= _ALIAS_LOW:
        return 0.99
    if decoded >= _ALIAS_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_LOW) / (_ALIAS_HIGH - _ALIAS_LOW)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def measure(root: yaml.Node) -> tuple[int, int, int]:
    """(nodes as decoded with aliases expanded, distinct nodes, approximate JSON bytes) of a document.

    Each distinct node is visited once (sizes are memoised by identity), so a bomb costs no more than
    its text. Raises :class:`YamlLimitError` on an anchor that contains itself."""
    expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, json bytes)
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node)
            count = 1 + sum(expanded[id(k)][0] for k in kids)
            if isinstance(node, yaml.ScalarNode):
                size = len(str(node.value)) + 2
            else:
                size = 2 + sum(expanded[id(k)][1] + 1 for k in kids)
            expanded[key] = (count, size)
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise YamlLimitError(
                f"anchor {node.start_mark.line + 1}:{node.start_mark.column + 1} contains itself"
            )
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                raise YamlLimitError(
                    f"anchor at line {kid.start_mark.line + 1} contains itself "
                    "(an alias to an enclosing node)"
                )
            if id(kid) not in expanded:
                stack.append((kid, False))
    count, size = expanded[id(root)]
    return count, len(expanded), size


def check_document(root: yaml.Node, max_bytes: int = REQUEST_BODY_LIMIT) -> None:
    """Raise :class:`YamlLimitError` when the composed document is over a limit."""
    decoded, distinct, size = measure(root)
    aliased = decoded - distinct
    if aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded):
        raise YamlLimitError("document contains excessive aliasing")
    if size > max_bytes:
        raise YamlLimitError(
            f"Request entity too large: limit is {max_bytes} (the document is about {size} bytes as JSON)"
        )


def load_all(text: str | bytes, *, max_bytes: int = REQUEST_BODY_LIMIT) -> list[Any]:
    """Every document of ``text`` (safe tags only), each checked against the limits before it is built."""
    loader = _LOADER(text)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            check_document(node, max_bytes)
            docs.append(loader.construct_document(node))
    except RecursionError as exc:
        raise YamlLimitError("document nesting too deep") from exc
    finally:
        loader.dispose()
    return docs


def load(text: str | bytes, *, max_bytes: int = REQUEST_BODY_LIMIT) -> Any:
    """The single document of ``text`` (None when empty), checked as :func:`load_all` does."""
    docs = load_all(text, max_bytes=max_bytes)
    if len(docs) > 1:
        raise yaml.YAMLError("expected a single document in the stream, found more")
    return docs[0] if docs else None


__all__ = [
    "REQUEST_BODY_LIMIT",
    "YamlLimitError",
    "allowed_alias_ratio",
    "check_document",
    "load",
    "load_all",
]
