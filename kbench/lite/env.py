"""The Python 3.10 environment that Paddle Lite runs in: found, or created once, then reused.

``paddlelite==2.13rc0`` ships wheels only up to Python 3.10 (and needs ``numpy<2``), so kbench keeps it out of its
own environment: :func:`ensure_lite_env` makes a virtual environment with a Python 3.10 interpreter, installs
those two packages with pip and writes a marker file (``kbench-lite-env.json``) recording the versions. The marker
is written last, so an environment without it (an interrupted install) is rebuilt, and one whose marker names
other requirements than this kbench wants is rebuilt too. Parallel callers wait on a lock file beside it.

Where (first match wins):

* the environment: ``$KBENCH_LITE_ENV``, else ``~/.cache/kbench/lite-env-py310``;
* the Python 3.10 that creates it: ``$KBENCH_PY310`` (must be a usable 3.10, or it is an error), else pyenv's
  ``$(pyenv root)/versions/3.10.*`` (newest first; ``KBENCH_LITE_NO_PYENV=1`` turns pyenv off, shims included),
  else ``python3.10`` or a ``python3`` that is 3.10 on ``PATH``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kbench.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock; do not create the environment from parallel jobs there
    fcntl = None

__all__ = ["LiteEnv", "ensure_lite_env", "read_env", "env_dir", "find_python310", "worker_script", "file_lock",
           "REQUIREMENTS", "PADDLELITE_VERSION", "MARKER"]

PADDLELITE_VERSION = "2.13rc0"
#: What pip installs into the environment; a marker that records other requirements is rebuilt.
REQUIREMENTS = (f"paddlelite=={PADDLELITE_VERSION}", "numpy<2")
MARKER = "kbench-lite-env.json"
ENV_VAR = "KBENCH_LITE_ENV"
PY_VAR = "KBENCH_PY310"
NO_PYENV_VAR = "KBENCH_LITE_NO_PYENV"
_INSTALL_HINT = ("install one (`pyenv install 3.10`, or `apt install python3.10 python3.10-venv`) or set "
                 f"{PY_VAR} to its path")


@dataclass(frozen=True)
class LiteEnv:
    """A ready Paddle Lite environment (its marker file was found and matches :data:`REQUIREMENTS`)."""

    path: Path
    python: Path  # the environment's interpreter, which runs kbench/lite/worker.py
    python_version: str
    paddlelite: str
    numpy: str

    def describe(self) -> dict:
        """JSON-ready form for manifests and ``describe()``."""
        return {"path": str(self.path), "python": self.python_version, "paddlelite": self.paddlelite,
                "numpy": self.numpy}


def worker_script() -> Path:
    """The worker script, run by the environment's interpreter (it imports only numpy and paddlelite)."""
    return Path(__file__).with_name("worker.py")


def env_dir() -> Path:
    """Where the environment lives: ``$KBENCH_LITE_ENV``, else ``~/.cache/kbench/lite-env-py310``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kbench" / "lite-env-py310"


def _env_python(path: Path) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def read_env(path: str | os.PathLike | None = None) -> LiteEnv | None:
    """The environment at ``path`` (default :func:`env_dir`) if it is complete and current, else None."""
    path = Path(path) if path is not None else env_dir()
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    python = _env_python(path)
    if not isinstance(marker, dict) or marker.get("requirements") != list(REQUIREMENTS) or not python.exists():
        return None
    return LiteEnv(path, python, str(marker.get("python")), str(marker.get("paddlelite")), str(marker.get("numpy")))


# --- finding a Python 3.10 ----------------------------------------------------------------------------------------

# The probe also imports ensurepip: Debian's python3.10 without python3.10-venv cannot make a venv with pip.
_PROBE = "import sys; v = sys.version_info; import ensurepip, venv; print(f'{v[0]}.{v[1]}.{v[2]}')"


def _probe(python: Path) -> tuple[str | None, str | None]:
    """(full version, None) when ``python`` is a Python 3.10 able to make a venv, else (None, why not)."""
    if not python.exists():
        return None, "no such file"
    if python.is_dir() or not os.access(python, os.X_OK):
        return None, "not an executable file"
    try:
        done = subprocess.run([str(python), "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"cannot run it ({exc})"
    if done.returncode != 0:
        if "ensurepip" in done.stderr:
            return None, "it has no venv/ensurepip module (Debian/Ubuntu: apt install python3.10-venv)"
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"cannot run it ({tail})"
    version = done.stdout.strip()
    if not version.startswith("3.10."):
        return None, f"it is Python {version}, not 3.10"
    return version, None


def _pyenv_root() -> Path:
    """pyenv's root: ``$PYENV_ROOT``, else what ``pyenv root`` says, else ``~/.pyenv``."""
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"]).expanduser()
    exe = shutil.which("pyenv")
    if exe:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run([exe, "root"], capture_output=True, text=True, timeout=30)
            if done.returncode == 0 and done.stdout.strip():
                return Path(done.stdout.strip())
    return Path.home() / ".pyenv"


def _version_key(path: Path) -> tuple:
    return tuple(int(x) if x.isdigit() else -1 for x in re.split(r"[.\-]", path.name))


def _pyenv_disabled() -> bool:
    return os.environ.get(NO_PYENV_VAR, "").strip().lower() not in ("", "0", "false", "no")


def find_python310() -> Path:
    """A Python 3.10 interpreter to create the environment with, or one :class:`InputError` line.

    Raises:
        InputError: ``$KBENCH_PY310`` is set but is not a usable Python 3.10, or no Python 3.10 was found.
    """
    explicit = os.environ.get(PY_VAR)
    if explicit:
        # An explicit choice that does not work is reported, not silently replaced by another interpreter.
        _, why = _probe(Path(explicit).expanduser())
        if why is None:
            return Path(explicit).expanduser()
        raise InputError(f"{PY_VAR}={explicit} is not a usable Python 3.10 for the Paddle Lite environment: {why}; "
                         f"point it at a Python 3.10 interpreter, or unset it to search pyenv and PATH")
    tried = []
    root = _pyenv_root() if not _pyenv_disabled() else None
    if root is None:
        tried.append(f"pyenv (disabled by {NO_PYENV_VAR})")
    else:
        versions = sorted((root / "versions").glob("3.10.*"), key=_version_key, reverse=True)
        for version_dir in versions:
            python = version_dir / "bin" / "python"
            if _probe(python)[1] is None:
                return python
        tried.append(f"pyenv ({root}/versions/3.10.*: {'none usable' if versions else 'none'})")
    skip = (root or Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))).expanduser()
    for name in ("python3.10", "python3"):
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            if not folder or (root is None and (Path(folder).is_relative_to(skip) or Path(folder).name == "shims")):
                continue  # pyenv is off: its shims would hand us a pyenv Python anyway
            python = Path(folder) / name
            if python.is_file() and _probe(python)[1] is None:
                return python
    tried.append("python3.10 and python3 on PATH")
    raise InputError(f"no Python 3.10 found for the Paddle Lite environment (paddlelite {PADDLELITE_VERSION} has "
                     f"wheels only up to Python 3.10); tried {', '.join(tried)}: {_INSTALL_HINT}")


# --- creating the environment --------------------------------------------------------------------------------------

def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold ``.<name>.lock`` beside ``path`` while building it, so that two processes do not build it at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(path.parent / f".{path.name}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_streamed(cmd: list, what: str, progress: Callable[[str], None], timeout: float = 1800) -> None:
    """Run a command, passing its output lines to ``progress``; a failure is one line with its last error."""
    tail: deque = deque(maxlen=40)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)  # kbench's own path must not leak into the 3.10 interpreter
    env.pop("PYTHONHOME", None)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                errors="replace")
    except OSError as exc:
        raise InputError(f"{what} failed: cannot run {cmd[0]} ({exc})") from None
    deadline = time.monotonic() + timeout
    with proc:
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                progress(f"  {line}")
            if time.monotonic() > deadline:
                proc.kill()
                raise InputError(f"{what} took over {timeout:.0f} s and was stopped")
    if proc.returncode != 0:
        errors = [t for t in tail if t.startswith("ERROR") or "Error" in t]
        last = (errors or list(tail) or ["no output"])[-1]
        raise InputError(f"{what} failed (exit {proc.returncode}): {last}")


def _query_versions(python: Path) -> dict:
    """Versions inside the environment, asked of the worker script (which also proves paddlelite imports)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(python), "-I", str(worker_script()), "version"], capture_output=True, text=True,
                          timeout=120, env=env)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"paddlelite was installed in {python.parent.parent} but does not import: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_lite_env(path: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None) -> LiteEnv:
    """The Paddle Lite environment, created (once, about a minute with a cold pip cache) when missing or stale.

    Args:
        path: where the environment lives; None for :func:`env_dir`.
        progress: receives one line per step and pip output line; None prints them to stderr.

    Returns:
        The ready environment.

    Raises:
        InputError: no Python 3.10 (see :func:`find_python310`), ``path`` holds something that is not a
            kbench Lite environment, or pip failed (its last error line is given).
    """
    path = (Path(path) if path is not None else env_dir()).expanduser()
    ready = read_env(path)
    if ready is not None:
        return ready
    say = progress or _say
    with file_lock(path):
        ready = read_env(path)  # another process may have built it while this one waited for the lock
        if ready is not None:
            return ready
        base = find_python310()
        if path.exists():
            # Only a half-made or outdated venv is removed: never a folder the user pointed at by mistake.
            if not (path / "pyvenv.cfg").is_file() and any(path.iterdir()):
                raise InputError(f"{path} exists and is not a kbench Paddle Lite environment (no pyvenv.cfg); point "
                                 f"{ENV_VAR} at a new or empty folder")
            say(f"kbench: removing the incomplete or outdated Paddle Lite environment {path}")
            shutil.rmtree(path)
        started = time.monotonic()
        say(f"kbench: creating the Paddle Lite environment {path} with {base} (one-time: pip installs "
            f"{' '.join(REQUIREMENTS)})")
        _run_streamed([str(base), "-m", "venv", str(path)], f"creating a venv in {path} with {base}", say)
        python = _env_python(path)
        _run_streamed([str(python), "-m", "pip", "install", "--progress-bar", "off", *REQUIREMENTS],
                      f"pip install {' '.join(REQUIREMENTS)} into {path}", say)
        versions = _query_versions(python)
        from kbench._fileio import write_json_atomic

        write_json_atomic(path / MARKER, {
            "kind": "kbench-lite-env", "requirements": list(REQUIREMENTS), "python": versions["python"],
            "paddlelite": versions["paddlelite"], "numpy": versions["numpy"], "base_python": str(base),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        say(f"kbench: Paddle Lite environment ready in {time.monotonic() - started:.0f} s "
            f"(Python {versions['python']}, paddlelite {versions['paddlelite']}, numpy {versions['numpy']})")
    ready = read_env(path)
    assert ready is not None, "the marker was just written"
    return ready
