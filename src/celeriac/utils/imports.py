"""Import an object from a ``"pkg.mod:attr"`` or ``"pkg.mod.attr"`` string, with one-line errors."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

__all__ = [
    "ImportStringError",
    "NotAPackage",
    "cwd_in_path",
    "find_module",
    "gen_task_name",
    "import_class",
    "import_from_cwd",
    "import_from_string",
    "instantiate",
    "module_file",
    "qualname",
    "reload_from_cwd",
    "symbol_by_name",
]

_T = TypeVar("_T")


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


def import_from_string(path: str) -> object:
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


def import_class(path: str, base: type[_T]) -> type[_T]:
    """Import the class an import string names, which must be ``base`` or a subclass of it.

    Raises:
        ImportStringError: as for ``import_from_string``.
        TypeError: the string names something else.
    """
    found = import_from_string(path)
    if isinstance(found, type) and issubclass(found, base):
        return found
    raise TypeError(f"{path!r} is not a {base.__module__}.{base.__qualname__} subclass")


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


def _import_module(path: str, module_name: str) -> ModuleType:
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


def _resolve(path: str, obj: object, owner: str, attrs: list[str]) -> object:
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


# -- Celery's ``celery.utils.imports`` helpers -------------------------------------------
class NotAPackage(Exception):
    """A dotted module path goes through a module that is not a package."""


def symbol_by_name(
    name: Any,
    aliases: Mapping[str, str] | None = None,
    imp: Any = None,
    package: str | None = None,
    sep: str = ".",
    default: Any = None,
    **kwargs: Any,
) -> Any:
    """The object ``name`` ("pkg.mod:attr" or "pkg.mod.attr", or an alias) names; a
    non-string is returned as it is; ``default`` when given and the import fails."""
    if not isinstance(name, str):
        return name
    name = (aliases or {}).get(name) or name
    if ":" not in name and sep in name:
        name = ":".join(name.rsplit(sep, 1))
    if package and name.startswith("."):
        name = package + name
    try:
        return import_from_string(name)
    except ImportError:
        if default is not None:
            return default
        raise


def qualname(obj: Any) -> str:
    """``module.QualName`` of a class or function (of an instance's class)."""
    if not hasattr(obj, "__name__") and hasattr(obj, "__class__"):
        obj = obj.__class__
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", obj.__name__)
    return f"{module}.{name}" if module else str(name)


def instantiate(name: Any, *args: Any, **kwargs: Any) -> Any:
    """Import the class ``name`` names and call it with the arguments."""
    return symbol_by_name(name)(*args, **kwargs)


@contextmanager
def cwd_in_path() -> Iterator[str | None]:
    """Put the current directory first on ``sys.path`` for the block (if not there)."""
    cwd = os.getcwd()
    if cwd in sys.path:
        yield None
        return
    sys.path.insert(0, cwd)
    try:
        yield cwd
    finally:
        try:
            sys.path.remove(cwd)
        except ValueError:
            pass


def find_module(module: str, path: Any = None, imp: Any = None) -> ModuleType:
    """Import ``module`` with the current directory on the path.

    Raises:
        NotAPackage: a dotted part of the name is a module, not a package.
    """
    imp = imp or importlib.import_module
    with cwd_in_path():
        try:
            return imp(module)  # type: ignore[no-any-return]
        except ImportError:
            parts = module.split(".")
            for index in range(1, len(parts)):
                package = ".".join(parts[:index])
                try:
                    found = imp(package)
                except ImportError:
                    break
                if not hasattr(found, "__path__"):
                    raise NotAPackage(package) from None
            raise


def import_from_cwd(module: str, imp: Any = None, package: str | None = None) -> ModuleType:
    """Import ``module`` with the current directory first on the path."""
    imp = imp or importlib.import_module
    with cwd_in_path():
        return imp(module, package=package)  # type: ignore[no-any-return]


def reload_from_cwd(module: ModuleType, reloader: Any = None) -> ModuleType:
    """Reload ``module`` with the current directory first on the path."""
    reloader = reloader or importlib.reload
    with cwd_in_path():
        return reloader(module)  # type: ignore[no-any-return]


def module_file(module: ModuleType) -> str:
    """The module's source file (``.py`` for a ``.pyc``)."""
    name = str(module.__file__)
    return name[:-1] if name.endswith(".pyc") else name


def gen_task_name(app: Any, name: str, module_name: str | None) -> str:
    """The name a task function ``name`` of ``module_name`` gets (``app.main`` stands
    for ``__main__``), as Celery names tasks."""
    module_name = module_name or "__main__"
    module = sys.modules.get(module_name)
    if module is not None:
        module_name = module.__name__
    if module_name == "__main__" and getattr(app, "main", None):
        return f"{app.main}.{name}"
    return ".".join(part for part in (module_name, name) if part)
