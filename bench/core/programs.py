"""Compiled programs kept across processes, as serialized XLA executables.

JAX's persistent compilation cache skips XLA's compile, but each process still traces and lowers
every program to find its cache key, a noticeable share of a warm default run (docs/performance.md),
contending for the GIL with the sweeps. ``compile_stored`` loads a program stored
by an earlier process without tracing it (``jax.experimental.serialize_executable``).

The key is text that names everything the program depends on; :func:`environment_key` gives the
part common to every program (this project's source, the library versions, the backend, XLA_FLAGS,
float64 mode) and :func:`code_key` a stable name for a function whose source that fingerprint
covers. A caller that cannot vouch for its program (user code, a lambda) passes no key and gets the
ordinary path, JAX's cache included.

Only programs compiled afresh are stored: an executable that itself came from JAX's cache does not
serialize into one that runs (jax 0.10, CPU: "Function ... not found" at the first call), and JAX
can only switch its cache off for a whole process, so a compile JAX reports as a cache hit
(``jax.monitoring``) is not stored. So that JAX's cache misses whenever the store does, a stored
program is jitted under a name made from its key (:func:`named`); JAX's cache lives in its own folder
of the cache root (``xla/``). Anything unusual (a JAX that reports no cache events,
constants hoisted out of the program, an unreadable file) falls back to the ordinary path; a
damaged file is deleted, and its program is then served by JAX's cache as before this store
existed (deleting the whole cache root fills both again). Files come from the user's own cache
directory, the same trust as JAX's own cache.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

OWN_PACKAGES = ("bench", "landscapes", "optimizers")
_PLAIN = (bool, int, float, str, type(None))


def code_key(fn: Any) -> str | None:
    """A stable name for ``fn`` whose meaning :func:`source_fingerprint` covers: a named function
    of this project's own modules, closing over plain values only (``make_quadratic``'s condition
    number, say). None for anything else (user code, lambdas, closures over arrays): such programs
    are neither stored nor their counts kept, because their code could change unseen."""
    module = getattr(fn, "__module__", None) or ""
    qualname = getattr(fn, "__qualname__", None) or ""
    if module.split(".")[0] not in OWN_PACKAGES or not qualname or "<lambda>" in qualname:
        return None
    values = [cell.cell_contents for cell in (getattr(fn, "__closure__", None) or ())]
    if not all(isinstance(v, _PLAIN) for v in values):
        return None
    return f"{module}.{qualname}{values!r}" if values else f"{module}.{qualname}"


def optimizer_key(family: Any, schedule: Any) -> str | None:
    """What an optimizer's program depends on: the family's and schedule's functions and defaults
    (records, or names of registered ones); None if either comes from code outside the project (a
    user's registration, whose source the fingerprint does not follow)."""
    import optimizers

    family_record, schedule_record = optimizers.get_family(family), optimizers.get_schedule(schedule)
    build, fn = code_key(family_record.build), code_key(schedule_record.fn)
    if build is None or fn is None:
        return None
    return (f"{family_record.name}:{build}{dict(family_record.defaults)}"
            f"/{schedule_record.name}:{fn}{dict(schedule_record.defaults)}")


# The source that compiled programs are made of: what the sweep and the MNIST training programs
# trace (tests/test_stored_programs.py checks that these modules import nothing else of ours). An
# edit anywhere else (the command line, the runner, results, reports) keeps every stored program.
PROGRAM_SOURCES = ("landscapes", "optimizers", "bench/core/engine.py", "bench/core/step.py",
                   "bench/core/targets.py", "bench/core/flops.py", "bench/core/inputs.py",
                   "bench/core/fused.py", "bench/core/fused_sweep.py", "bench/core/cost.py",
                   "bench/core/programs.py", "bench/core/jax_setup.py", "bench/mnist/model.py",
                   "bench/mnist/train.py")


def _project_root() -> Path:
    """The folder holding the ``bench`` package (and the other program sources)."""
    return Path(os.path.dirname(importlib.import_module("bench").__file__)).parent


def program_source_files() -> list[Path]:
    """The Python files of :data:`PROGRAM_SOURCES`, sorted."""
    files: list[Path] = []
    for source in PROGRAM_SOURCES:
        path = _project_root() / source
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of the program sources (:data:`PROGRAM_SOURCES`): an edit to a landscape, an optimizer, the engine or the MNIST
    model gives every stored program and count a new key."""
    digest = hashlib.sha256()
    root = _project_root()
    for path in program_source_files():
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def environment_key() -> str:
    """The part of every program's key outside its own arguments: the project's source, the JAX,
    jaxlib and optax versions, the backend and its version, XLA_FLAGS and float64 mode."""
    import jaxlib
    import optax

    backend = jax.devices()[0].client
    return "|".join(map(str, (source_fingerprint(), jax.__version__, jaxlib.__version__,
                              optax.__version__, backend.platform, backend.platform_version,
                              os.environ.get("XLA_FLAGS", ""), jax.config.jax_enable_x64)))


def shapes_key(arguments: Any) -> str:
    """The shapes and dtypes of a tree of arrays (or ``jax.ShapeDtypeStruct``s)."""
    return str(jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), arguments))


def named(fn: Callable, key: str | None) -> Callable:
    """``fn`` under a name unique to ``key`` and :func:`environment_key`, to be jitted: the name is
    the compiled module's, which is part of JAX's cache key, so JAX's cache misses exactly when the
    store does (after an edit of the source or an upgrade) and the fresh compile can be stored. With
    the same name, JAX's cache would serve the unchanged program forever and the store would stay
    empty. ``key`` None: ``fn`` itself."""
    if key is None:
        return fn

    @functools.wraps(fn)  # keeps the signature, which jit reads for static argument names
    def program(*args, **kwargs):
        return fn(*args, **kwargs)

    digest = hashlib.sha256(f"{environment_key()}|{key}".encode()).hexdigest()[:16]
    base = getattr(fn, "__name__", "program")
    program.__name__ = program.__qualname__ = f"{base}_{digest}"
    return program


def write_whole(path: Path, data: bytes) -> None:
    """Write, then rename: a crash never leaves half a file. An unwritable cache only costs the
    recomputation, so errors are ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        pass


def store_directory() -> Path | None:
    """Where programs are stored (``cache_root()/programs``); None with the caches off."""
    from bench.core.jax_setup import cache_enabled, cache_root

    return cache_root() / "programs" if cache_enabled() else None


def _devices(sharding) -> list | None:
    """The devices the program runs on, in order: the default device, or a mesh's devices; None
    for another kind of sharding (not stored)."""
    if sharding is None:
        return [jax.devices()[0]]
    mesh = getattr(sharding, "mesh", None)
    return None if mesh is None else list(mesh.devices.flat)


_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"
_hits = threading.local()  # JAX reports a persistent-cache hit in the compiling thread
_listening = threading.Lock()
_listener: list[Callable] = []


def _count_hits(event: str, **_: Any) -> None:
    if event == _CACHE_HIT_EVENT:
        _hits.count = getattr(_hits, "count", 0) + 1


def _hit_counter() -> bool:
    """Listen for JAX's persistent-cache hits (once per process); False if JAX cannot report them."""
    with _listening:
        if not _listener:
            try:
                jax.monitoring.register_event_listener(_count_hits)
            except (AttributeError, TypeError):
                return False
            _listener.append(_count_hits)
    return True


def stored_path(key: str | None, sharding=None) -> Path | None:
    """The file of the program keyed ``key`` placed by ``sharding``; None where nothing is stored
    (no key, caches off, an unsupported sharding or JAX)."""
    directory, devices = store_directory(), _devices(sharding)
    if key is None or directory is None or devices is None or not _hit_counter():
        return None
    text = f"{environment_key()}|{key}|{sharding!r} on {[d.id for d in devices]}"
    return directory / hashlib.sha256(text.encode()).hexdigest()


def compile_stored(key: str | None, lower: Callable[[], Any], sharding=None):
    """``lower().compile()``, loaded from the store when an earlier process stored it under
    ``key`` (plus :func:`environment_key` and the placement), else compiled afresh and stored.
    ``key`` None: the ordinary path."""
    path = stored_path(key, sharding)
    if path is None:
        return lower().compile()
    try:
        payload = path.read_bytes()
    except OSError:
        payload = None  # not stored yet
    if payload is not None:
        try:
            from jax.experimental.serialize_executable import deserialize_and_load

            return deserialize_and_load(*pickle.loads(payload), execution_devices=_devices(sharding))
        except Exception:  # noqa: BLE001 (a truncated or foreign file: the ordinary path)
            try:
                path.unlink()
            except OSError:
                pass
    lowered = lower()  # tracing may run (and cache) small eager programs: not counted
    hits = getattr(_hits, "count", 0)
    executable = lowered.compile()
    from_jax_cache = getattr(_hits, "count", 0) != hits
    # A deserialized executable gets no constant arguments (jax 0.10 leaves them out, as its
    # source notes), so one that has some
    # is not stored; nor one JAX's own cache served (see the module's docstring).
    constants = getattr(getattr(executable, "_params", None), "const_args", None)
    if not from_jax_cache and constants is not None and len(constants) == 0:
        try:
            from jax.experimental.serialize_executable import serialize

            write_whole(path, pickle.dumps(serialize(executable)))
        except Exception:  # noqa: BLE001 (not serializable here: keep it in memory only)
            pass
    return executable
