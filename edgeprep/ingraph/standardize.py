"""A custom TextVectorization ``standardize`` callable, traced with TensorFlow into byte-level steps.

`trace` runs ``tf.function(fn)`` on a string tensor of shape ``[None]`` and ``[None, 1]`` and reads
the graph from the output back to the input as a chain of `edgeprep.runtime.host.text_vectorization.Step`
(which both the in-graph layer, `edgeprep.ingraph.text_steps.standardize`, and the host step run):

    StringLower (encoding "")              -> LOWER   (tf.strings.lower: ASCII A-Z only)
    StringStrip                            -> STRIP   (tf.strings.strip)
    StaticRegexReplace / RegexReplace      -> LITERAL or CLASS (tf.strings.regex_replace; constant
                                              pattern and rewrite, global or not)
    Identity                               -> nothing

RE2 patterns understood (`parse_pattern`): a literal (characters and escaped metacharacters, e.g.
``"<br />"``, ``"\\.\\.\\."``), or one character class of ASCII members (``[...]``, ranges, ``\\d``
``\\s`` ``\\w``, a single ASCII character) optionally followed by ``+`` or ``*``. Refused, naming the
pattern: alternation, groups, ``.``, anchors, other quantifiers, negated classes and classes with
non-ASCII members (RE2 matches those per code point, not per byte), backreferences in the rewrite,
``*`` with a non-empty rewrite or ``replace_global=False`` (RE2's empty matches), a non-literal
pattern. Any other op is refused naming its type and node.
"""

from __future__ import annotations

import string

from edgeprep.ingraph.text import UnsupportedText
from edgeprep.runtime.host.text_vectorization import Step, StepKind

ADVICE = ("use tf.strings.lower (no encoding), tf.strings.strip and tf.strings.regex_replace with a literal "
          "or an ASCII character class (optionally with + or *), or a built-in standardize option")
PERL = {"d": string.digits, "s": "\t\n\f\r ", "w": string.ascii_letters + string.digits + "_"}  # RE2's, ASCII only
CONTROL = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


class PatternError(ValueError):
    """A regex_replace pattern or rewrite outside what `parse_pattern` lowers (the message says why)."""


def trace(fn, layer: str) -> tuple[Step, ...]:
    """The steps of ``fn`` for the TextVectorization layer named ``layer``.

    Raises:
        UnsupportedText: naming the op (type and node) or pattern that is not lowered, and the layer.
    """
    rank1, rank2 = _trace(fn, (None,), layer), _trace(fn, (None, 1), layer)
    if rank1 != rank2:
        raise UnsupportedText(f"{layer}: standardize traces to different ops for inputs of rank 1 and 2; {ADVICE}")
    return rank1


def _trace(fn, shape: tuple, layer: str) -> tuple[Step, ...]:
    import tensorflow as tf

    try:
        concrete = tf.function(fn).get_concrete_function(tf.TensorSpec(shape, tf.string))
    except Exception as error:  # noqa: BLE001  (any failure of user code while tracing)
        raise UnsupportedText(f"{layer}: standardize cannot be traced on a string tensor of shape {list(shape)} "
                              f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); {ADVICE}") from error
    outputs = concrete.outputs
    source = concrete.inputs[0]
    if len(outputs) != 1 or outputs[0].dtype != tf.string or outputs[0].shape.as_list() != list(shape):
        raise UnsupportedText(f"{layer}: standardize must return one string tensor shaped like its input, got {outputs}; {ADVICE}")
    captured = {id(internal.op): external for external, internal in concrete.graph.captures}
    steps = []
    tensor = outputs[0]
    while tensor.op is not source.op:
        op = tensor.op
        step = _step(op, captured, layer)
        if step is not None:
            steps.append(step)
        if not op.inputs:
            raise UnsupportedText(f"{layer}: standardize returns a value not computed from its input ({op.type} '{op.name}'); {ADVICE}")
        tensor = op.inputs[0]
    return tuple(reversed(steps))


def _step(op, captured: dict, layer: str) -> Step | None:
    """The `Step` of one op on the chain (None for Identity); `UnsupportedText` for any other op."""
    if op.type == "Identity":
        return None
    if op.type == "StringLower":
        encoding = op.get_attr("encoding").decode()
        if encoding:
            raise UnsupportedText(f"{layer}: standardize calls tf.strings.lower with encoding={encoding!r} ({op.type} "
                                  f"'{op.name}'), which lowercases non-ASCII letters and is not lowered; drop the encoding "
                                  "(ASCII only, as Keras' 'lower'; --host-steps runs the same steps)")
        return Step(StepKind.LOWER)
    if op.type == "StringStrip":
        return Step(StepKind.STRIP)
    if op.type in ("StaticRegexReplace", "RegexReplace"):
        if op.type == "StaticRegexReplace":
            pattern, rewrite = op.get_attr("pattern"), op.get_attr("rewrite")
        else:
            pattern, rewrite = (_constant(op.inputs[i], captured, op, layer) for i in (1, 2))
        try:
            return regex_step(pattern, rewrite, bool(op.get_attr("replace_global")))
        except PatternError as error:
            raise UnsupportedText(f"{layer}: standardize calls tf.strings.regex_replace ({op.type} '{op.name}') with "
                                  f"pattern {_show(pattern)} and rewrite {_show(rewrite)}: {error}; {ADVICE}") from None
    raise UnsupportedText(f"{layer}: standardize runs the op {op.type} ('{op.name}'), which is not lowered; {ADVICE}")


def _constant(tensor, captured: dict, op, layer: str) -> bytes:
    import tensorflow as tf

    value = tf.get_static_value(tensor)
    if value is None and id(tensor.op) in captured:
        value = captured[id(tensor.op)].numpy()
    if value is None or getattr(value, "shape", ()) != ():
        raise UnsupportedText(f"{layer}: standardize calls tf.strings.regex_replace ({op.type} '{op.name}') with a pattern "
                              f"or rewrite that is not a constant string; {ADVICE}")
    return value.item() if hasattr(value, "item") else value


def _show(value: bytes) -> str:
    return repr(value.decode("utf-8", "backslashreplace"))


def regex_step(pattern: bytes, rewrite: bytes, replace_global: bool) -> Step | None:
    """The `Step` of ``regex_replace(x, pattern, rewrite, replace_global)``; None when it changes nothing.

    Raises:
        PatternError: saying why the pattern or rewrite is not lowered.
    """
    try:
        text, out = pattern.decode("utf-8"), rewrite.decode("utf-8")
    except UnicodeDecodeError:
        raise PatternError("the pattern or rewrite is not UTF-8") from None
    if "\\" in out.replace("\\\\", ""):
        raise PatternError("a rewrite with a backslash group (\\0 .. \\9) is not lowered; write it out")
    out_bytes = out.replace("\\\\", "\\").encode("utf-8")
    kind, value, repeat = parse_pattern(text)
    if repeat == "*":
        if out_bytes or not replace_global:
            raise PatternError("'*' also matches the empty string, which RE2 replaces between characters; use '+'")
        repeat = "+"
    if kind is StepKind.LITERAL and not value:
        if out_bytes:
            raise PatternError("an empty pattern matches between every character")
        return None
    return Step(kind, value, out_bytes, runs=repeat == "+", first_only=not replace_global)


def parse_pattern(pattern: str) -> tuple[StepKind, bytes, str]:
    """An RE2 pattern as (LITERAL, its bytes, "") or (CLASS, its sorted member bytes, "" / "+" / "*").

    Raises:
        PatternError: for anything else.
    """
    atoms: list[tuple[str, str]] = []  # ("char", c) or ("class", members)
    repeat = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c in "+*":
            if not atoms or repeat or i != len(pattern) - 1 or len(atoms) != 1:
                raise PatternError(f"{c!r} is lowered only after a single character or class, at the end of the pattern")
            repeat = c
            i += 1
            continue
        if c == "[":
            members, i = _class(pattern, i + 1)
            atoms.append(("class", members))
            continue
        if c == "\\":
            kind, value, i = _escape(pattern, i + 1)
            atoms.append((kind, value))
            continue
        if c in ".^$()|?{":
            raise PatternError(f"{pattern!r} is not a literal or a character class ({c!r} is a regex operator; escape it "
                               "with a backslash to match it literally)")
        atoms.append(("char", c))
        i += 1
    if all(kind == "char" for kind, _ in atoms) and not repeat:
        return StepKind.LITERAL, "".join(value for _, value in atoms).encode("utf-8"), ""
    if len(atoms) != 1:
        raise PatternError(f"{pattern!r} is not a literal or a single character class")
    members = atoms[0][1]
    if not members.isascii():
        raise PatternError(f"{pattern!r} repeats a non-ASCII character, which RE2 matches per code point")
    return StepKind.CLASS, bytes(sorted(set(members.encode("ascii")))), repeat


def _escape(pattern: str, i: int) -> tuple[str, str, int]:
    """The escape after a backslash at ``pattern[i - 1]``: (kind, value, next index)."""
    if i >= len(pattern):
        raise PatternError("the pattern ends with a backslash")
    c = pattern[i]
    if c in PERL:
        return "class", PERL[c], i + 1
    if c in CONTROL:
        return "char", CONTROL[c], i + 1
    if c == "x":
        if pattern[i + 1: i + 2] == "{":
            end = pattern.find("}", i)
            digits, after = pattern[i + 2: end], end + 1
        else:
            digits, after = pattern[i + 1: i + 3], i + 3
        if not digits or any(d not in string.hexdigits for d in digits) or int(digits, 16) > 0x10FFFF:
            raise PatternError(f"bad hexadecimal escape in {pattern!r}")
        return "char", chr(int(digits, 16)), after
    if c.isascii() and not c.isalnum() and c.isprintable():
        return "char", c, i + 1
    raise PatternError(f"the escape \\{c} in {pattern!r} is not lowered (negated classes, assertions, Unicode "
                       "classes and backreferences match per code point or position)")


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The members of the class opened at ``pattern[i - 1]``: (members, index after its ``]``)."""
    if pattern[i: i + 1] == "^":
        raise PatternError(f"the negated class in {pattern!r} also matches non-ASCII code points, which RE2 matches "
                           "per code point; list the bytes to replace instead")
    members: list[str] = []
    first = i
    while True:
        if i >= len(pattern):
            raise PatternError(f"the class in {pattern!r} is not closed")
        c = pattern[i]
        if c == "]" and i > first:
            break
        if c == "[" and pattern[i + 1: i + 2] == ":":
            raise PatternError(f"the POSIX class in {pattern!r} is not lowered; list its characters")
        if c == "\\":
            kind, value, i = _escape(pattern, i + 1)
        else:
            kind, value, i = "char", c, i + 1
        if kind == "char" and pattern[i: i + 1] == "-" and pattern[i + 1: i + 2] not in ("]", ""):
            end = pattern[i + 1]
            if end == "\\":
                _, end, i = _escape(pattern, i + 2)
            else:
                i += 2
            if ord(end) < ord(value):
                raise PatternError(f"the range {value}-{end} in {pattern!r} is empty")
            value = "".join(chr(code) for code in range(ord(value), ord(end) + 1))
        members.append(value)
    members_text = "".join(members)
    if not members_text.isascii():
        raise PatternError(f"the class in {pattern!r} has non-ASCII members, which RE2 matches per code point, not per "
                           "byte; replace them with literal patterns")
    return members_text, i + 1
