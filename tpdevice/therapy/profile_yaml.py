"""Profile YAML: safe parsing that rejects duplicate keys and aliases, and keeps node lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["MAX_PROFILE_BYTES", "ParsedYaml", "YamlProblem", "parse_yaml"]

# Profiles are a few kB; a bigger file is a mistake (and parsing it could stall a daemon).
MAX_PROFILE_BYTES = 256 * 1024


class YamlProblem(Exception):
    """The text is not usable YAML; `line` is 1-based (0 = unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and aliases (profiles need neither)."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a profile", event.start_mark
            )
        node: Node | None = super().compose_node(parent, index)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first_line[key]})",
                    key_node.start_mark,
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


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
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as err:
        raise _marked_problem(err) from None
    except yaml.YAMLError as err:
        raise YamlProblem(f"invalid YAML: {' '.join(str(err).split())}") from None
    finally:
        loader.dispose()
    return ParsedYaml(data, root)


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
