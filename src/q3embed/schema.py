"""Typed configs: the one base for training configs, pipeline recipes and server settings. No torch.

Each config is a pydantic model in strict mode: no silent ``"3"`` -> 3 or ``True`` -> 1, and an
unknown key is an error. A failed validation becomes one ``ConfigError`` line that names the dotted
key (the YAML path), what it held and what is accepted::

    unknown config key 'loss.tempreature'; accepted here: hard_negatives, ..., temperature
    batch_size must be int, got str 'abc'
    loss.mrl_dims[1] must be int, got str 'x'
    optim.warmup_ratio must be in [0, 1), got 1.5
    optim.scheduler 'step' is not known; accepted: linear, cosine, constant
    tasks must not be empty

Bounds are declared with ``Field(ge=..., lt=...)`` and choices with ``Literal``; the message is
written from the declaration. Rules that span fields (or need a reason in their message) are
``@model_validator(mode="after")`` methods that raise ``ValueError``; their text is passed through.
"""

from __future__ import annotations

import contextvars
import inspect
import re
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

import annotated_types
import pydantic
from pydantic import ConfigDict, Field, field_validator, model_validator

from .errors import ConfigError, not_a_file

__all__ = ["ConfigDict", "ConfigError", "Field", "TypedConfig", "field_validator", "model_validator", "read_yaml"]

# True while a config is being validated: the nested models pydantic builds then (through
# ``__init__``) let their ValidationError rise, so the outermost call words it with the full path.
_VALIDATING = contextvars.ContextVar("q3embed_config_validating", default=False)

# YAML 1.1 (PyYAML) reads 1e-4 as a string; a float field takes it as the number it spells.
_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class TypedConfig(pydantic.BaseModel):
    """Base of every config. ``error`` is the exception raised (a ``ConfigError``); ``noun`` words
    the unknown-key message (``unknown recipe key 'stage9'``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    error: ClassVar[type[ConfigError]] = ConfigError
    noun: ClassVar[str] = "config key"  # "unknown config key 'loss.x'"
    section: ClassVar[str] = ""  # the key a section sits under ("lora"): messages name "lora.rank" even when built alone

    def __init__(self, **data: Any) -> None:
        if _VALIDATING.get():  # a nested section: the outermost config words the error
            super().__init__(**data)
            return
        token = _VALIDATING.set(True)
        try:
            super().__init__(**data)
        except pydantic.ValidationError as e:
            raise type(self).error(explain(type(self), e, type(self)._where())) from None
        finally:
            _VALIDATING.reset(token)

    @classmethod
    def from_dict(cls, raw: Any, where: str | None = None):
        """Validate a plain mapping (parsed YAML); ``where`` prefixes the keys in messages (``stage1.train.``)."""
        where = cls._where() if where is None else where
        if not isinstance(raw, dict):
            raise cls.error(f"{where.rstrip('.') or cls.noun.split()[0]} must be a mapping, got {type(raw).__name__}")
        token = _VALIDATING.set(True)
        try:
            return cls.model_validate(raw)
        except pydantic.ValidationError as e:
            raise cls.error(explain(cls, e, where)) from None
        finally:
            _VALIDATING.reset(token)

    @classmethod
    def _where(cls) -> str:
        return f"{cls.section}." if cls.section else ""

    def to_dict(self) -> dict:
        return self.model_dump()

    @model_validator(mode="before")
    @classmethod
    def _yaml_spelling(cls, data: Any) -> Any:
        """What YAML cannot spell otherwise: a float written 1e-4 (read as text), a tuple written as a list."""
        if isinstance(data, dict):
            fix = {}
            for k, v in data.items():
                kinds = _non_none(cls.model_fields[k].annotation) if k in cls.model_fields else []
                if isinstance(v, str) and float in kinds and _FLOAT_TEXT.match(v.strip()):
                    fix[k] = float(v)
                elif isinstance(v, list) and any(typing.get_origin(a) is tuple for a in kinds):
                    fix[k] = tuple(v)
            if fix:
                data = {**data, **fix}
        return data


def explain(cls: type[TypedConfig], e: pydantic.ValidationError, where: str = "") -> str:
    """The one line for a validation error: the first unknown key, else the first error."""
    errors = e.errors()
    err = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    path, parent, annotation, info = _walk(cls, err["loc"])
    key, kind, value = where + path, err["type"], err.get("input")
    if kind == "extra_forbidden":
        return f"unknown {cls.noun} {key!r}; accepted here: {', '.join(sorted(parent.model_fields))}"
    if kind == "missing":
        return f"{key} is required"
    if kind == "too_short":
        least = err["ctx"]["min_length"]
        return f"{key} must not be empty" if least == 1 else f"{key} needs at least {least} items, got {len(value)}"
    if kind in ("value_error", "assertion_error"):  # a model validator's own message
        return str(err["ctx"]["error"])
    if kind == "literal_error":
        choices = next((typing.get_args(a) for a in _non_none(annotation) if typing.get_origin(a) is Literal), ())
        return f"{key} {value!r} is not known; accepted: {', '.join(map(str, choices))}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal") and info is not None:
        return f"{key} must be {_bounds(info)}, got {value!r}"
    return f"{key} must be {_expected(annotation)}, got {type(value).__name__} {value!r:.60}"


def _walk(cls, loc) -> tuple[str, type, Any, Any]:
    """Follow a pydantic error location: the dotted path, the innermost model, the annotation and
    FieldInfo at the end. Union member tags in ``loc`` (not field names) are skipped."""
    path, parent, annotation, info = "", cls, cls, None
    for part in loc:
        model = _model_in(annotation)
        if isinstance(part, int):
            path += f"[{part}]"
            annotation = _item(annotation)
        elif model is not None:
            parent, path = model, f"{path}.{part}" if path else str(part)
            info = model.model_fields.get(part)
            annotation = info.annotation if info is not None else None
    return path, parent, annotation, info


def _non_none(annotation) -> list:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _model_in(annotation):
    return next((a for a in _non_none(annotation) if inspect.isclass(a) and issubclass(a, pydantic.BaseModel)), None)


def _item(annotation):
    for a in _non_none(annotation):
        if typing.get_origin(a) in (list, tuple) and typing.get_args(a):
            return typing.get_args(a)[0]
    return None


def _expected(annotation) -> str:
    def name(a) -> str:
        if inspect.isclass(a) and issubclass(a, pydantic.BaseModel) or a is dict or typing.get_origin(a) is dict:
            return "a mapping"
        if typing.get_origin(a) in (list, tuple):
            return "a list of " + name(typing.get_args(a)[0])
        if typing.get_origin(a) is Literal:
            return "one of " + ", ".join(map(str, typing.get_args(a)))
        return getattr(a, "__name__", None) or str(a).replace("typing.", "")
    return " or ".join(name(a) for a in _non_none(annotation))


def _bounds(info) -> str:
    """``>= 1``, ``> 0`` or ``in [0, 1)`` from the field's declared bounds."""
    lo = hi = None
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            lo = ("[", ">=", m.ge)
        elif isinstance(m, annotated_types.Gt):
            lo = ("(", ">", m.gt)
        elif isinstance(m, annotated_types.Le):
            hi = ("]", "<=", m.le)
        elif isinstance(m, annotated_types.Lt):
            hi = (")", "<", m.lt)
    if lo and hi:
        return f"in {lo[0]}{_num(lo[2])}, {_num(hi[2])}{hi[0]}"
    _, op, bound = lo or hi
    return f"{op} {_num(bound)}"


def _num(x) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def read_yaml(path: str | Path, error: type[Exception], what: str):
    """The parsed YAML at ``path`` ({} when empty); a missing file or bad YAML raises ``error`` naming it.
    The one reader of the training configs and the pipeline's recipes."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise error(not_a_file(path, what, "a YAML file (.yaml)", (".yaml", ".yml")))
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise error(f"{path}: invalid YAML ({e})") from None
