"""Errors raised inside Ray workers arrive wrapped (RayTaskError, UserCodeException) with remote tracebacks;
the CLI wants the one line that says what was wrong."""

from __future__ import annotations


def user_error(error: BaseException) -> BaseException:
    """The innermost q3embed/ValueError/OSError cause of ``error``, or ``error`` itself, without Ray's wrapping."""
    from ..errors import Q3EmbedError

    seen, e, best = set(), error, None
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (Q3EmbedError, ValueError, OSError)) and not _is_ray_wrapper(e):
            best = e
        e = e.__cause__ or e.__context__
    if best is not None:
        return best
    cause = getattr(error, "cause", None)  # RayTaskError keeps the original exception here
    if isinstance(cause, BaseException) and cause is not error:
        return user_error(cause)
    return RuntimeError(f"the Ray build failed: {str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__}")


def _is_ray_wrapper(e: BaseException) -> bool:
    return type(e).__module__.startswith("ray.")
