"""Prompt templates: ``prompts/select.txt`` (step 1) and ``prompts/<task>.txt`` (step 2).

Templates are ``string.Template`` text (``$passage``, ``$persona``, ...) so that JSON braces in
them need no escaping. A user directory may replace any of the files; the rest stay packaged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from ..errors import InputFileError
from .tasks import TaskSpec

SELECT_FIELDS = ("task", "passage", "personas", "query_types", "difficulties")
WRITE_FIELDS = ("persona", "passage", "query_type", "difficulty", "language", "length")


@dataclass(frozen=True)
class PromptSet:
    select: Template
    write: dict[str, Template]
    sha: str  # short hash of all templates, kept in each record's provenance

    def render_select(self, **values) -> str:
        return self.select.substitute(values)

    def render_write(self, task: str, **values) -> str:
        return self.write[task].substitute(values)


def load_prompts(tasks: list[TaskSpec], override_dir: str | Path | None = None) -> PromptSet:
    """Read and check the templates; a placeholder the pipeline does not fill is an error now."""
    names = ["select"] + [t.name for t in tasks]
    texts = {name: _read(name, override_dir) for name in names}
    templates = {name: Template(text) for name, text in texts.items()}
    for name, tmpl in templates.items():
        allowed = SELECT_FIELDS if name == "select" else WRITE_FIELDS
        try:
            tmpl.substitute({k: "x" for k in allowed})
        except (KeyError, ValueError) as e:
            raise InputFileError(f"prompt {name}.txt: unknown or malformed placeholder {e}; "
                                 f"accepted: {', '.join('$' + k for k in allowed)}") from None
    sha = hashlib.sha256("\0".join(texts[n] for n in names).encode()).hexdigest()[:12]
    return PromptSet(templates["select"], {n: templates[n] for n in names[1:]}, sha)


def _read(name: str, override_dir: str | Path | None) -> str:
    if override_dir is not None:
        user = Path(override_dir) / f"{name}.txt"
        if user.is_file():
            return user.read_text(encoding="utf-8")
        if not Path(override_dir).is_dir():
            raise InputFileError(f"prompt directory {override_dir} does not exist")
    return (resources.files(__package__) / "prompts" / f"{name}.txt").read_text(encoding="utf-8")
