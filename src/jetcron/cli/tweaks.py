"""Three adjustments to typer, made once when the command tree is imported.

- Help names types in words (TEXT, INTEGER, a|b|c, nothing for a flag) instead of `<str>`.
- Arguments read as click always wrote them: `SPEC` (its metavar, or its name in capitals),
  `[SPEC]` when optional, in usage lines, help and error messages, instead of `{spec}`.
- str, int, float and bool parameters (and lists of them) are converted without pydantic: typer
  coerces every value through a pydantic TypeAdapter, and importing pydantic costs as much
  as importing typer itself. Everything else (paths, choices, ranges) still goes through typer.

Both patch typer classes, which offer no per-parameter hook; if typer's internals move, the
tweak is skipped and typer behaves as shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH", "datetime": "TIME"}
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _bool(value: Any) -> bool:
    """A flag's value, or a boolean word as click reads it."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError(value)


_CONVERT: dict[Any, Callable[[Any], Any]] = {str: str, int: int, float: float, bool: _bool}


def type_in_words(param: Any) -> str:
    """How help names a parameter's type: TEXT, INTEGER, a|b|c; nothing for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    desc = param.type_descriptor
    if desc.is_choice:
        return "|".join(str(c) for c in desc.choices or ())
    annotation = desc.annotation
    inner = get_args(annotation) if desc.is_list else ()
    name = getattr(inner[0] if inner else annotation, "__name__", str(annotation))
    return _WORDS.get(name, name.upper())


def argument_name(param: Any) -> str:
    """An argument's name in help and errors: its metavar, or its name in capitals."""
    return str(param.metavar or (param.name or "").upper())


def argument_usage(param: Any) -> str:
    """An argument in a usage line: SPEC, [SPEC] when optional, SPEC... when repeated."""
    name = argument_name(param)
    name = name if param.required else f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")


def apply() -> None:
    """Install the tweaks (idempotent); a typer without the expected internals is left alone."""
    try:
        from typer import _coercion
        from typer._click.exceptions import BadParameter
        from typer.core import TyperArgument, TyperOption, _TyperParameter
    except ImportError:  # pragma: no cover - a typer that moved its internals
        return
    for cls in (TyperOption, TyperArgument):
        setattr(cls, "display_type", lambda self, ctx: type_in_words(self))  # noqa: B010
    setattr(TyperArgument, "display_name_raw", property(argument_name))  # noqa: B010
    setattr(TyperArgument, "_usage_display_name", argument_usage)  # noqa: B010
    if getattr(_TyperParameter, "_jetcron_plain", False):
        return
    shipped = _TyperParameter.get_runtime_param

    @dataclass(frozen=True)
    class Plain(_coercion.RuntimeParam):
        """A str/int/float/bool value (or a list of them), converted as click always did."""

        convert: Callable[[Any], Any]
        many: bool

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.many:
                items = value if isinstance(value, list | tuple) else [value]
                return [self._one(v, param, ctx) for v in items]
            return self._one(value, param, ctx)

        def _one(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self.convert(value)
            except (TypeError, ValueError):
                word = type_in_words(param).lower() or "value"
                raise BadParameter(
                    f"{value!r} is not a valid {word}.", ctx=ctx, param=param
                ) from None

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            self._runtime_param = _plain(self.type_descriptor, Plain) or shipped(self)
        return self._runtime_param

    setattr(_TyperParameter, "get_runtime_param", get_runtime_param)  # noqa: B010
    setattr(_TyperParameter, "_jetcron_plain", True)  # noqa: B010


def _plain(desc: Any, plain: Any) -> Any:
    """A pydantic-free converter for a plain str/int/float/bool (list) parameter, else None."""
    special = desc.is_choice or desc.is_ranged or desc.is_tuple or desc.file_annotation
    info = desc.parameter_info
    if special or getattr(info, "parser", None) or getattr(info, "click_type", None):
        return None
    inner = get_args(desc.annotation) if desc.is_list else (desc.annotation,)
    convert = _CONVERT.get(inner[0]) if len(inner) == 1 else None
    if convert is None:
        return None
    return plain(
        parameter_info=info, annotation=desc.annotation, convert=convert, many=desc.is_list
    )
