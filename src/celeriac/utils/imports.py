"""Import an object from a ``"pkg.mod:attr"`` or ``"pkg.mod.attr"`` string, with one-line errors."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ImportStringError", "import_from_string"]


class ImportStringError(ImportError):
    """An import string could not be resolved.

    The message is one line naming the import string and what failed: the module does not
    exist, the attribute is missing, or the module raised an error while being imported
    (with that error's type and message). The original error, if any, is ``__cause__``.

    Attributes:
        import_string: The string that was being imported.
        reason: What failed, without the import string.
    """

    def __init__(self, import_string: str, reason: str, *, module: str | None = None) -> None:
        super().__init__(f"cannot import {import_string!r}: {reason}", name=module)
        self.import_string = import_string
        self.reason = reason


def import_from_string(path: str) -> Any:
    """Import and return the object an import string names.

    Two forms are accepted:

    * ``"pkg.mod:attr.sub"``: everything before the colon is the module, the rest is an
      attribute path inside it;
    * ``"pkg.mod.attr"``: the longest importable dotted prefix is the module and the rest
      is an attribute path (``"pkg.mod"`` alone returns the module).

    Args:
        path: The import string.

    Returns:
        The module or attribute.

    Raises:
        ImportStringError: the string is malformed, a module does not exist, an attribute is
            missing, or importing the module raised (the message names which).
    """
    if not isinstance(path, str):
        raise ImportStringError(repr(path), f"expected a string, got {type(path).__name__}")
    module_name, colon, attrs = path.partition(":")
    if colon:
        if ":" in attrs:
            raise ImportStringError(path, "more than one ':'")
        _check_dotted(path, module_name, "module")
        _check_dotted(path, attrs, "attribute")
        module = _import_module(path, module_name)
        return _resolve(path, module, module_name, attrs.split("."))
    _check_dotted(path, path, "import")
    parts = path.split(".")
    missing: str | None = None
    for cut in range(len(parts), 0, -1):
        candidate = ".".join(parts[:cut])
        try:
            module = importlib.import_module(candidate)
        except ModuleNotFoundError as exc:
            if _is_missing(candidate, exc):
                missing = missing or exc.name
                continue
            raise _raised_while_importing(path, candidate, exc) from exc
        except Exception as exc:
            raise _raised_while_importing(path, candidate, exc) from exc
        rest = parts[cut:]
        if rest and missing == f"{candidate}.{rest[0]}" and not hasattr(module, rest[0]):
            # Neither a module nor an attribute: name the module when more follows it.
            reason = f"no module named {missing!r}"
            if len(rest) == 1:
                reason += f", and {candidate!r} has no attribute {rest[0]!r}"
            raise ImportStringError(path, reason, module=missing)
        return _resolve(path, module, candidate, rest)
    raise ImportStringError(path, f"no module named {missing or parts[0]!r}", module=missing)


def _check_dotted(path: str, dotted: str, what: str) -> None:
    if not dotted or dotted.strip() != dotted or any(not part for part in dotted.split(".")):
        raise ImportStringError(
            path, f"malformed {what} path {dotted!r} (expected 'pkg.module:attr' or 'pkg.attr')"
        )


def _is_missing(module_name: str, exc: ModuleNotFoundError) -> bool:
    """Whether ``exc`` says ``module_name`` itself (or a parent package) does not exist."""
    name = exc.name or ""
    return module_name == name or module_name.startswith(name + ".")


def _raised_while_importing(path: str, module_name: str, exc: BaseException) -> ImportStringError:
    detail = str(exc)
    reason = f"error while importing module {module_name!r}: {type(exc).__name__}"
    return ImportStringError(path, f"{reason}: {detail}" if detail else reason, module=module_name)


def _import_module(path: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _is_missing(module_name, exc):
            raise ImportStringError(
                path, f"no module named {exc.name!r}", module=exc.name
            ) from None
        raise _raised_while_importing(path, module_name, exc) from exc
    except Exception as exc:
        raise _raised_while_importing(path, module_name, exc) from exc


def _resolve(path: str, obj: Any, owner: str, attrs: list[str]) -> Any:
    for attr in attrs:
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ImportStringError(path, f"{owner!r} has no attribute {attr!r}") from None
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise ImportStringError(
                path, f"error while reading attribute {attr!r} of {owner!r}: {detail}"
            ) from exc
        owner = f"{owner}.{attr}"
    return obj
