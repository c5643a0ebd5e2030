"""Every error kanslab raises derives from KanslabError, so a notebook can catch them all."""


class KanslabError(Exception):
    """Base class of kanslab's errors."""


class CommandError(KanslabError):
    """A command on a lab host exited non-zero (or timed out)."""

    def __init__(self, host: str, cmd: str, exit_status: int, stderr: str = "", stdout: str = ""):
        self.host, self.cmd, self.exit_status = host, cmd, exit_status
        self.stderr, self.stdout = stderr, stdout
        detail = (stderr or stdout).strip()
        super().__init__(f"[{host}] `{cmd}` exited {exit_status}" + (f": {detail}" if detail else ""))


class ParseError(KanslabError, ValueError):
    """Text given to a parser is not that command's output."""

    def __init__(self, parser: str, message: str, line: str | None = None, lineno: int | None = None):
        self.parser, self.line, self.lineno = parser, line, lineno
        where = f" (line {lineno}: {line!r})" if line is not None else ""
        super().__init__(f"{parser}: {message}{where}")


class InvalidInput(KanslabError, ValueError):
    """Bad input from the user (malformed YAML, unknown host or pod, CIDR outside every pool, ...).

    Raised before anything changes."""


class NotFound(InvalidInput, KeyError):
    """A named host, pod or resource does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotSupported(KanslabError):
    """A backend cannot do what was asked; names the backend and the capability."""

    def __init__(self, backend: str, capability: str, hint: str = ""):
        self.backend, self.capability = backend, capability
        super().__init__(f"the {backend} backend cannot {capability}" + (f": {hint}" if hint else ""))


class LabError(KanslabError):
    """The lab itself failed (a daemon did not start, a state was not reached in time)."""


class ReplayMismatch(NotSupported):
    """The replay backend was asked something its recording does not hold (or not at this point).

    Names the call, the transcript and the nearest recorded call."""

    def __init__(self, call: str, transcript: str, nearest: str = "", expected: str = ""):
        self.call, self.transcript, self.nearest, self.expected = call, transcript, nearest, expected
        KanslabError.__init__(self, f"the replay backend has no recorded answer for {call} in {transcript}"
                              + (f"; nearest recorded call: {nearest}" if nearest else "")
                              + (f"; next in the recording: {expected}" if expected and not nearest.startswith(
                                  expected.split(" ", 1)[0] + " ") else "")
                              + ". Replay answers only the calls the chapter made on the real lab, in the same order;"
                              " run the embedded lab (`sudo kanslab up`, KANSLAB_BACKEND=local) to try your own.")
        self.backend, self.capability = "replay", f"answer {call}"
