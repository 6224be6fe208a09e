"""What `landscape-bench` does around every command: Ctrl-C kept so that it is never lost
(`interrupts_kept`, `interrupted`) and its one closing line (`interrupted_exit`), and stdout's write
errors told from a file's (`stdout_watched`, `StdoutError`)."""

from __future__ import annotations

import contextlib
import sys


class _Interrupted:
    """Ctrl-C kept as a flag as well as raised. A KeyboardInterrupt raised where Python can only
    print and drop it (inside JAX's garbage-collection callback: "Exception ignored in ...") was
    lost, and the run went on to exit 0; the flag makes the next job's start (the progress line)
    and the end of the command raise it again. Where Python would drop or mangle it (a gc callback,
    a ``__del__`` or a C extension's init on the stack) the handler keeps the flag only, so no
    traceback is printed above the one line."""

    def __init__(self):
        self.seen = False

    def handler(self, signum, frame):
        self.seen = True
        if not _in_dropping_frame(frame):
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.seen:
            raise KeyboardInterrupt


def _in_dropping_frame(frame) -> bool:
    """Whether ``frame`` or a caller runs a gc callback or a ``__del__`` (Python prints and drops
    an exception raised there) or a C extension's init (numpy's import_array prints it, jaxlib
    turns it into an ImportError)."""
    import gc
    from importlib.machinery import ExtensionFileLoader

    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        code = frame.f_code
        if code in callbacks or code.co_name == "__del__":
            return True
        if code.co_name in ("create_module", "exec_module") and isinstance(
                frame.f_locals.get("self"), ExtensionFileLoader):
            return True
        frame = frame.f_back
    return False


interrupted = _Interrupted()


@contextlib.contextmanager
def interrupts_kept():
    """Install :class:`_Interrupted`'s handler for the command where Python's own is in place (in
    the main thread; a handler of the caller's own is left alone), and put the old one back."""
    import signal
    import threading

    installed = (threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    interrupted.seen = False
    if installed:
        signal.signal(signal.SIGINT, interrupted.handler)
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def interrupted_exit(command: str) -> int:
    kept = (" finished jobs are saved, rerun the same command to resume" if command == "run"
            else " rerun the same command")  # the other commands compute no jobs to keep
    print(f"landscape-bench: interrupted;{kept}", file=sys.stderr)
    return 130


class StdoutError(OSError):
    """A write to stdout failed (other than a reader gone away)."""


class _Stdout:
    """stdout, its write errors raised as :class:`StdoutError` so ``main`` can tell them from a
    failed write of a file (those are one line where they happen, naming the file)."""

    def __init__(self, stream):
        self._stream = stream

    def _call(self, name, *args):
        try:
            return getattr(self._stream, name)(*args)
        except BrokenPipeError:
            raise
        except OSError as error:
            raise StdoutError(error.errno, error.strerror) from None

    def write(self, text):
        return self._call("write", text)

    def flush(self):
        return self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def stdout_watched():
    stream = sys.stdout
    sys.stdout = _Stdout(stream)
    try:
        yield
    finally:
        if isinstance(sys.stdout, _Stdout):
            sys.stdout = stream
