"""Errors raised at q3embed's boundaries. Each names the bad input and what is accepted."""


class Q3EmbedError(Exception):
    """Base class for errors that the CLI prints as one line and exits non-zero."""


class ModelNotFoundError(Q3EmbedError, FileNotFoundError):
    pass


class CheckpointError(Q3EmbedError, ValueError):
    pass


class InputFileError(Q3EmbedError, ValueError):
    pass


class ConfigError(Q3EmbedError, ValueError):
    """A config that cannot be used (training config, recipe, server settings): unknown key, wrong
    type, impossible value, missing file. ``q3embed.schema`` words the message."""


class InputLimitError(Q3EmbedError, ValueError):
    """One input is over a limit or is not valid text. ``index`` says which (None: the whole call).

    ``detail`` reads after the input's name (``texts[3] has ...``), so a caller such as the HTTP
    server can name the field its client used; ``status`` is the HTTP status that fits (413: too
    large to look at, 400: too long for the model or not valid text); ``code`` is a stable name.
    ``part``: the text that goes with every input and is itself at fault (``instruction``,
    ``query``); it is named instead of an input.
    """

    def __init__(self, detail: str, *, index: int | None, code: str, status: int = 400, field: str = "texts",
                 part: str | None = None):
        self.detail, self.index, self.code, self.status, self.part = detail, index, code, status, part
        super().__init__(self.naming(field))

    def naming(self, field: str, parts: dict[str, str] | None = None) -> str:
        """The message with the input called ``field`` (``input[3] has ...``); a ``part`` is called by
        its name in ``parts`` (``{"query": "text_1"}``), else by its own."""
        if self.part is not None:
            return f"{(parts or {}).get(self.part, self.part)} {self.detail}"
        return f"{field}[{self.index}] {self.detail}" if self.index is not None else f"{field}: {self.detail}"


def not_a_file(path, what: str, expected: str, suffixes: tuple[str, ...] = ()) -> str:
    """Why ``path`` cannot be read as the file ``what``: it is missing, or it is a folder.

    The one wording of this mistake for every reader of a user's file (configs, recipes, data,
    corpora): a folder is called a folder, with the files in it that would fit (``suffixes``).
    """
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        fits = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix in suffixes) if suffixes else []
        inside = f"; it holds {', '.join(fits[:5])}" + (" ..." if len(fits) > 5 else "") if fits else ""
        return f"{what} {path} is a folder; expected {expected}{inside}"
    return f"{what} {path} does not exist; expected {expected}"
