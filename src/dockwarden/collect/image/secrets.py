"""The secrets analyzer (DW304): files whose name says they hold credentials, and
text files outside the system trees, scanned with the rules of `dockwarden.secrets`.

What is read, and why (`wants` runs on every regular file of every layer, so it is a
handful of `startswith`/`endswith` over precomputed tuples and no regex):

- a file a name rule matches (`id_rsa`, `*.pem`, `.aws/credentials`, `.npmrc`, `.env`,
  `*.p12`, kubeconfig...), anywhere except the kernel trees and the trees language
  package managers own (`site-packages`, `dist-packages`, `node_modules`, the Python
  standard library, `/usr/share/doc`): those vendor test fixtures (`tests/test.key`) by
  the hundred and belong to the package inventory, not to the image's author;
- any other non-empty file of at most 1 MiB that has no binary extension and lies
  outside the system trees (`/usr/share`, `/usr/lib`, `/lib`, `/var/lib/dpkg`,
  `/var/cache`...): those come from packages, are large in number and are not where a
  Dockerfile leaves a secret. `/usr/local/lib/python*/site-packages` and `node_modules`
  stay out too, to keep the pass fast.

`analyze` skips content with a NUL byte in its first 8 KiB (binary; name rules still
apply) and returns the matches as (rule id, line, redacted value) tuples: no secret is
kept in memory past the file being scanned. `finish` turns them into `SecretHit`s with
the file's path and layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockwarden.collect.image.analyzer import AnalysisOutput, FileResult, FinalView
from dockwarden.model.image import SecretHit
from dockwarden.secrets import could_match, file_rules, rules_for, scan_file

MAX_FILE = 1 << 20  # 1 MiB: config files, scripts, keys; larger text is data or logs
BINARY_PROBE = 8192

# Never scanned: pseudo file systems.
KERNEL_PREFIXES = ("/proc/", "/sys/", "/dev/")
# Language package trees: out for both name and content rules.
PACKAGE_PREFIXES = (
    "/usr/share/doc/", "/usr/lib/python", "/usr/local/lib/python", "/usr/lib/node_modules/",
    "/usr/local/lib/node_modules/", "/usr/lib/ruby/", "/usr/local/lib/ruby/",
    "/usr/lib/jvm/", "/usr/local/go/", "/usr/lib/go",
)
PACKAGE_SEGMENTS = ("/site-packages/", "/dist-packages/", "/node_modules/", "/vendor/bundle/")
NAME_SKIP_PREFIXES = KERNEL_PREFIXES + PACKAGE_PREFIXES
# System trees: out for content rules (name rules still apply outside PACKAGE_*).
SYSTEM_PREFIXES = KERNEL_PREFIXES + PACKAGE_PREFIXES + (
    "/usr/share/", "/usr/lib/", "/usr/lib32/", "/usr/lib64/", "/usr/libx32/",
    "/usr/libexec/", "/usr/include/", "/usr/src/", "/usr/local/include/",
    "/lib/", "/lib32/", "/lib64/", "/libx32/",
    "/var/lib/dpkg/", "/var/lib/apt/", "/var/lib/rpm/", "/var/lib/dnf/", "/var/lib/yum/",
    "/var/cache/", "/etc/ssl/certs/", "/etc/pki/ca-trust/", "/boot/",
)
BINARY_SUFFIXES = (
    ".so", ".a", ".o", ".ko", ".la", ".lo", ".dll", ".exe", ".bin", ".node", ".wasm",
    ".png", ".jpg", ".jpeg", ".gif", ".ico", ".icns", ".bmp", ".tif", ".tiff", ".webp",
    ".svgz", ".psd", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".zst", ".lz4",
    ".lzma", ".z", ".zip", ".7z", ".rar", ".tar", ".jar", ".war", ".ear", ".aar", ".apk",
    ".deb", ".rpm", ".whl", ".egg", ".class", ".pyc", ".pyo", ".pyd", ".mo", ".gmo",
    ".ttf", ".otf", ".woff", ".woff2", ".eot", ".pdf", ".mp3", ".mp4", ".m4a", ".ogg",
    ".wav", ".flac", ".avi", ".mkv", ".mov", ".webm", ".db", ".sqlite", ".sqlite3",
    ".iso", ".img", ".qcow2", ".npy", ".npz", ".pt", ".pth", ".onnx", ".h5", ".pb",
    ".parquet", ".pkl", ".msi", ".cab", ".dat", ".idx", ".pack", ".rlib", ".rmeta",
)
_SUFFIX_TAIL = max(len(s) for s in BINARY_SUFFIXES)


def _binary_name(base: str) -> bool:
    tail = base[-_SUFFIX_TAIL:].lower()
    return tail.endswith(BINARY_SUFFIXES) or ".so." in base  # libfoo.so.1.2


NEVER, NAMES, CONTENT = 0, 1, 2  # what a directory's files are scanned for

# No content rule matches fewer bytes than this (the shortest, a `pwd=` assignment with a
# real value, needs more): smaller files are only judged by their names.
MIN_CONTENT = 12


class SecretAnalyzer:
    """Analyzer for DW304; results are tuples of (rule id, line, redacted value)."""

    name = "secrets"
    max_bytes = MAX_FILE
    offload = True  # CPU-heavy: run in a worker process beside the pass (offload.py)
    text_only = True  # of a binary file, the walker reads only the head that shows it

    def __init__(self) -> None:
        # directory ("/app/src/") -> NEVER, NAMES (name rules only) or CONTENT: every
        # prefix and segment test above ends in "/", so it depends on the directory only
        self._dirs: dict[str, int] = {}

    def _classify(self, directory: str) -> int:
        if directory.startswith(NAME_SKIP_PREFIXES) or any(
                seg in directory for seg in PACKAGE_SEGMENTS):
            verdict = NEVER
        elif directory.startswith(SYSTEM_PREFIXES):
            verdict = NAMES
        else:
            verdict = CONTENT
        if len(self._dirs) < 200_000:
            self._dirs[directory] = verdict
        return verdict

    def wants(self, path: str, size: int, mode: int) -> bool:
        if size <= 0:
            return False
        cut = path.rfind("/") + 1
        directory = path[:cut]
        verdict = self._dirs.get(directory)
        if verdict is None:
            verdict = self._classify(directory)
        if verdict == NEVER:
            return False
        if verdict == CONTENT and MIN_CONTENT <= size <= MAX_FILE \
                and not _binary_name(path[cut:]):
            return True  # content rules (name rules too, in analyze)
        # size not limited for name rules: only max_bytes are ever read, and a key
        # store is a finding by its name
        return bool(file_rules(path))

    def triage(self, path: str, data: bytes) -> bool:
        """Whether `analyze` can find anything: a name rule matches, or the file is text
        holding an anchor of a content rule (secrets.could_match). Most files fail both
        and are settled here, in microseconds, without decoding."""
        if file_rules(path):
            return True
        return data.find(b"\0", 0, BINARY_PROBE) == -1 and could_match(data)

    def analyze(self, path: str, data: bytes) -> object | None:
        try:
            binary = data.find(b"\0", 0, BINARY_PROBE) != -1
            rules = () if binary else rules_for(data)
            if not rules and not file_rules(path):
                return None  # what `triage` says: nothing to decode or scan
            text = None if binary else data.decode("utf-8", "replace")
            # plain tuples (rule id, line, redacted value): results may cross a pipe
            matches = tuple((m.rule.id, m.line, m.redacted)
                            for m in scan_file(path, text, rules))
        except Exception:  # hostile input must not stop the pass
            return None
        return matches or None

    def finish(self, results: Mapping[str, FileResult], view: FinalView) -> AnalysisOutput:
        hits: list[SecretHit] = []
        for key in sorted(results):
            result = results[key]
            if not isinstance(result.value, tuple):
                continue
            hits.extend(
                SecretHit(rule=m[0], path=result.path, layer=result.layer, line=m[1],
                          redacted=m[2])
                for m in result.value
                if isinstance(m, tuple) and len(m) == 3 and isinstance(m[0], str)
            )
        return AnalysisOutput(secrets=tuple(hits))
