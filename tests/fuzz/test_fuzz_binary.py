"""Fuzzing the binary classifier's chunked search (`binary.Scanner`): random data with
version strings (and anchors, and the Python library directory names) planted in it,
fed in random chunk sizes, with the searches run at random points (the module's
`_SEARCH_AT`, patched small so that short data crosses many search boundaries), gives
the answer `classify` gives on the whole data, and never raises.

The filler between planted strings has no digits: the chunked search is exact for
matches shorter than `_OVERLAP` bytes (binary.py's docstring), and a planted version
followed by a run of a thousand digits would make a longer one."""

from __future__ import annotations

from unittest import mock

from hypothesis import example, given
from hypothesis import strategies as st

from dockwarden.collect.image.pkg import binary
from dockwarden.collect.image.pkg.binary import RULES, Scanner, classify

NAMES = ["busybox", "python3", "python3.11", "libpython3.12.so.1.0", "node", "openssl",
         "libcrypto.so.3", "redis-server", "postgres", "mysqld", "mariadbd", "nginx",
         "httpd", "release", "curl", "bash", "sudo", "haproxy", "traefik", "true"]
VERSIONS = st.sampled_from(["1.35.0", "3.11.2", "3.12.1", "20.20.2", "3.0.13", "7.0.15",
                            "15.5", "10.11.6", "1.25.3", "2.4.58", "5.2.15", "1.9.13p3",
                            "2.6.12", "8.0.1", "3.1.1"])
TEMPLATES = [b"BusyBox v%s (2024)", b"\0%s\0", b"\0%s+\0", b"/release/v%s/node-v",
             b"OpenSSL %s 30 Jan 2024", b"(PostgreSQL) %s", b"\0%s-MariaDB\0",
             b"\0%s-log\0", b"nginx/%s", b"Apache/%s (Unix)", b"\nJAVA_VERSION=\"%s\"\n",
             b"\0curl %s (x86_64)", b"\0curl %s\0", b"@(#)Bash version %s(1) release",
             b"HAProxy version", b"Sudo version %s", b"redis_version:", b"mysqld",
             b"python3.11", b"python3.12", b"python3.1", b"\0%s\0\0%s\0"]
OWN = {"busybox": [0], "python3": [1, 2, 18, 19, 20], "python3.11": [1, 2, 18],
       "libpython3.12.so.1.0": [1, 19], "node": [3], "openssl": [4], "libcrypto.so.3": [4],
       "redis-server": [1, 16, 21], "postgres": [5], "mysqld": [1, 6, 7, 17, 21],
       "mariadbd": [6], "nginx": [8], "httpd": [9], "release": [10], "curl": [11, 12],
       "bash": [13], "sudo": [15, 1, 21], "haproxy": [14, 1, 7], "traefik": [], "true": [8]}
fillers = st.one_of(
    st.builds(lambda b, n: bytes([b]) * n, st.sampled_from([0, 0x20, 0x41, 0x7A, 0xFF]),
              st.integers(0, 20_000)),
    st.binary(max_size=200).map(lambda b: bytes(c for c in b if c not in b"0123456789.")),
)


def _pieces(name: str) -> st.SearchStrategy[tuple[str, list[bytes]]]:
    """Mostly the strings of the rules for `name`, some of any rule, and filler."""
    own = [TEMPLATES[i] for i in OWN[name]] or TEMPLATES
    planted = st.builds(lambda t, v: t.replace(b"%s", v.encode()),
                        st.one_of(st.sampled_from(own), st.sampled_from(own),
                                  st.sampled_from(TEMPLATES)), VERSIONS)
    return st.tuples(st.just(name), st.lists(st.one_of(planted, fillers), max_size=14))


cases = st.sampled_from(NAMES).flatmap(_pieces)


def streamed(name: str, data: bytes, chunk: int) -> object:
    scanner = Scanner(name, len(data), [r for r in RULES if r.names.fullmatch(name)])
    for at in range(0, len(data), chunk):
        if not scanner.feed(data[at:at + chunk]):
            break
    return scanner.result()


@given(cases, st.sampled_from([1, 2, 3, 7, 64, 511, 512, 513, 4093, 65_537]),
       st.sampled_from([1, 100, 600, 2048, 5000, 256 * 1024]))
@example(("redis-server", [b"\x007.0.15\0", b"a" * 9000, b"redis_version:", b"a" * 30_000,
                           b"\x002.6.0\0"]), 7, 600)
@example(("sudo", [b"Sudo version %s", b"\x001.9.13p3\0", b"\x001.8.0\0"]), 1, 1)
@example(("busybox", [b"BusyBox v1.35.0 (", b"BusyBox v1.35.0 ("]), 3, 100)
def test_streamed_equals_whole(case: tuple[str, list[bytes]], chunk: int,
                               search_at: int) -> None:
    name, parts = case
    data = b"".join(parts)
    whole = classify(f"/usr/bin/{name}", data)
    with mock.patch.object(binary, "_SEARCH_AT", search_at):
        assert streamed(name, data, chunk) == whole
