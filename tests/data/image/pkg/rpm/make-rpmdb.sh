#!/usr/bin/env bash
# Builds a real SQLite rpmdb with three packages (one with an epoch, one noarch
# subpackage of another source) using Debian's `rpm` package (rpm 4.18, SQLite backend).
#   make-rpmdb.sh OUTDIR   -> OUTDIR/rpmdb.sqlite and OUTDIR/expected.tsv (rpm -qa)
# The committed fixture rpmdb.sqlite.gz and expected.tsv were made with it.
set -euo pipefail
out=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/hello.spec" <<'SPEC'
Name: hello
Version: 1.2.3
Release: 4.fc39
Summary: test package
License: MIT
BuildArch: x86_64
%description
Test package for dockwarden.
%files
SPEC
cat > "$work/libfoo.spec" <<'SPEC'
Name: libfoo
Version: 2.0
Release: 1.el9
Epoch: 2
Summary: test library
License: GPL-2.0-or-later
BuildArch: x86_64
%description
Test library.
%package devel
Summary: headers
License: MIT AND BSD-3-Clause
BuildArch: noarch
%description devel
Headers.
%files
%files devel
SPEC
for spec in hello libfoo; do
  rpmbuild --quiet --define "_topdir $work/top" --define "_build_id_links none" \
    -bb "$work/$spec.spec" >/dev/null
done
mkdir -p "$work/db"
rpm --initdb --dbpath "$work/db"
rpm -i --nodeps --justdb --noscripts --dbpath "$work/db" $(find "$work/top/RPMS" -name '*.rpm') 2>/dev/null
mkdir -p "$out"
cp "$work/db/rpmdb.sqlite" "$out/rpmdb.sqlite"
rpm -qa --dbpath "$work/db" \
  --qf '%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{LICENSE}\n' \
  | sort > "$out/expected.tsv"
