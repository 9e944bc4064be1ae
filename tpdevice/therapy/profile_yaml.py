"""Profile YAML: safe parsing that rejects duplicate keys and aliases, and keeps node lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml._yaml import CParser
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from tpdevice.therapy.profile_errors import MAX_PROFILE_BYTES, YamlProblem

__all__ = ["MAX_NESTING", "MAX_PROFILE_BYTES", "ParsedYaml", "YamlProblem", "parse_yaml"]

# A profile nests about five levels (profile, steps, step, progression); far deeper is an attack.
MAX_NESTING = 32


class _StrictConstructor(SafeConstructor):
    """SafeConstructor that refuses duplicate keys and integers too long to convert."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first_line[key]})",
                    key_node.start_mark,
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        try:
            value: int = super().construct_yaml_int(node)
        except ValueError:
            digits = sum(char.isdigit() for char in str(node.value))
            raise ConstructorError(
                None, None, f"a number with {digits} digits is too long", node.start_mark
            ) from None
        return value


_StrictConstructor.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:int", _StrictConstructor.construct_yaml_int
)


class _FastLoader(CParser, _StrictConstructor, Resolver):
    """libyaml's parser and composer (node marks kept), with the strict constructor."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        _StrictConstructor.__init__(self)
        Resolver.__init__(self)


class _StrictLoader(Reader, Scanner, Parser, Composer, _StrictConstructor, Resolver):
    """The pure-Python loader, which also refuses aliases at the line they appear."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _StrictConstructor.__init__(self)
        Resolver.__init__(self)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ComposerError(
                None, None, "aliases (*name) are not allowed in a profile", event.start_mark
            )
        node: Node | None = super().compose_node(parent, index)
        return node


@dataclass(frozen=True, slots=True)
class ParsedYaml:
    """A parsed document and its node tree, to find the line of any value."""

    data: Any
    root: Node | None

    def line_of(self, loc: tuple[str | int, ...]) -> int:
        """1-based line of the deepest node on `loc` (a key's own line when it exists)."""
        node = self.root
        line = 0 if node is None else node.start_mark.line + 1
        for part in loc:
            if isinstance(node, MappingNode):
                pair = _find_key(node, part)
                if pair is None:
                    continue  # a discriminator tag or a missing key: stay on the parent
                line = pair[0].start_mark.line + 1
                node = pair[1]
            elif isinstance(node, SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line


def _find_key(node: MappingNode, key: str | int) -> tuple[Node, Node] | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == str(key):
            return key_node, value_node
    return None


def parse_yaml(text: str) -> ParsedYaml:
    """Parse one YAML document; YamlProblem (with the line) for anything malformed."""
    if len(text.encode()) > MAX_PROFILE_BYTES:
        raise YamlProblem(f"file is larger than {MAX_PROFILE_BYTES // 1024} kB")
    if "*" not in text:  # no alias possible: libyaml, many times faster
        try:
            return _load(_FastLoader(text))
        except YamlProblem as err:
            if "nesting depth" in err.message:
                raise  # libyaml's limit; the pure-Python loader would recurse instead
            # otherwise the pure-Python loader words the error the way the docs show it
    return _load(_StrictLoader(text))


def _load(loader: _FastLoader | _StrictLoader) -> ParsedYaml:
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_depth(root)
        data = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as err:
        raise _marked_problem(err) from None
    except yaml.YAMLError as err:
        raise YamlProblem(f"invalid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        message = f"invalid YAML: nested more than {MAX_NESTING} levels deep"
        raise YamlProblem(message, _deepest_line(loader)) from None
    finally:
        loader.dispose()
    return ParsedYaml(data, root)


def _check_depth(root: Node) -> None:
    """YamlProblem at the first node nested deeper than a profile ever needs."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            message = f"invalid YAML: nested more than {MAX_NESTING} levels deep"
            raise YamlProblem(message, node.start_mark.line + 1)
        if isinstance(node, SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, MappingNode):
            stack.extend((child, depth + 1) for pair in node.value for child in pair)


def _deepest_line(loader: _FastLoader | _StrictLoader) -> int:
    """The line the loader had reached (where nesting ran too deep), 0 when unknown."""
    mark = getattr(loader, "get_mark", None)
    return 0 if mark is None else int(mark().line) + 1


def _marked_problem(err: yaml.MarkedYAMLError) -> YamlProblem:
    """The YAML error with its line, and where the construct it broke began."""
    mark = err.problem_mark or err.context_mark
    line = 0 if mark is None else mark.line + 1
    text = f"invalid YAML: {err.problem or err.context or 'malformed document'}"
    context_mark = err.context_mark
    if err.problem and err.context and context_mark is not None:
        opened = context_mark.line + 1
        if opened != line:
            text += f" ({err.context.removeprefix('while ')} that began at line {opened})"
    return YamlProblem(text, line)
