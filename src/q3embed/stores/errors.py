"""Errors raised by the index: each names the index path and what would be accepted."""

from __future__ import annotations

from ..errors import Q3EmbedError


class IndexNotFoundError(Q3EmbedError, FileNotFoundError):
    """No index at the given path."""


class IndexCorruptError(Q3EmbedError):
    """A committed file is missing or its size/checksum does not match the manifest."""


class IndexMismatchError(Q3EmbedError, ValueError):
    """The query side (model, dim) is not the one the index was built with."""


class DuplicateIdError(Q3EmbedError, ValueError):
    """A document id is already in the index (pass on_duplicate='replace' or 'skip')."""

    @classmethod
    def for_ids(cls, where: str, ids: list[str], remedy: str) -> "DuplicateIdError":
        shown = ", ".join(map(repr, ids[:5])) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        return cls(f"{where} already holds {len(ids)} of these document ids ({shown}); {remedy}")


class IndexBusyError(Q3EmbedError):
    """Another process holds the index's writer lock."""


class UnknownIdError(Q3EmbedError, KeyError):
    """``delete`` was given ids the store does not hold (nothing was deleted)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""

    @classmethod
    def for_ids(cls, where: str, ids: list[str]) -> "UnknownIdError":
        shown = ", ".join(map(repr, ids[:5])) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        return cls(f"{where} holds no document with id {shown}; nothing deleted; to delete the "
                   "others, add --ignore-missing (in Python: missing=\"ignore\")")


class StoreUnavailableError(Q3EmbedError):
    """A database store cannot be reached, refuses the credentials, or lacks an extension."""


class StoreExistsError(Q3EmbedError, FileExistsError):
    """Creating a store where one already is (pass overwrite, or resume an interrupted build)."""
