"""A TEST DOUBLE OF GRAFANA'S APT REPOSITORY (apt.grafana.com): it is not Grafana's
repository, and the packages in it are not Loki or Alloy.

apt.grafana.com is not reachable from the test fleet. This builds, on the controller, a
signed repository of the layout the deploy's source line asks for (operations/base/grafana_repository.py
writes `Suites: stable`, `Components: main`): dists/stable/InRelease (clear-signed),
Release and Release.gpg, dists/stable/main/binary-amd64/Packages(.gz), and the .debs under
pool/main/. It is signed with a throw-away key made by gpg in a temporary GNUPGHOME; the
deploy is given its public key as grafana_apt_key_file.

The .debs (built with `dpkg-deb --build`) reproduce the layout of Grafana's real packages
at the pinned tags, as recorded in the notes of operations/base/releases.py and read
from upstream's packaging files (grafana/loki v3.6.8 tools/packaging/nfpm.jsonnet,
loki-postinstall.sh; grafana/alloy v1.17.1 build-tools/make/packaging.mk,
packaging/deb/control/postinst and prerm), but carry the HTTP readiness double
(tests/harness/doubles, `launcher`) as their executable and maintainer scripts written
here that have the same effects:

* loki, version <version> (nfpm, no release): /usr/bin/loki; a unit at
  /etc/systemd/system/loki.service running `/usr/bin/loki -config.file
  /etc/loki/config.yml` as user loki; /etc/loki/config.yml, the one conffile. Its
  postinst, on a first install only: makes the system user loki if missing, reloads
  systemd, unmasks, presets, enables and restarts loki, each allowed to fail.
* alloy, version <version>-1 (fpm --iteration 1): /usr/bin/alloy;
  /usr/lib/systemd/system/alloy.service; conffiles /etc/alloy/config.alloy and
  /etc/default/alloy (RESTART_ON_UPGRADE=true). Its postinst makes the group and user
  alloy if missing, adds alloy to adm and systemd-journal where those groups exist, makes
  /var/lib/alloy and /var/lib/alloy/data (0770) if missing, sets /etc/alloy to
  root:alloy 0770, and on an upgrade with RESTART_ON_UPGRADE=true reloads systemd and
  restarts alloy. Its prerm stops alloy on removal.

The unit files, configs and scripts are written for this double; they only reproduce the
paths and effects listed above.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import launcher
from ..mirror import Mirror, releases

SUITE, COMPONENT, ARCH = "stable", "main", "amd64"
PACKAGES = ("loki", "alloy")
MTIME = 1700000000   # fixed file times: the same input builds the same .deb
KEY_UID = "monstack TEST DOUBLE of Grafana's APT repository <test-double@monstack.invalid>"
MAINTAINER = "monstack test suite (TEST DOUBLE) <test-double@monstack.invalid>"

LOKI_UNIT = """\
# TEST DOUBLE of the unit in Grafana's loki package (same path, user and command line)
[Unit]
Description=Loki TEST DOUBLE, as packaged
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=loki
ExecStart=/usr/bin/loki -config.file /etc/loki/config.yml
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""
LOKI_CONFIG = """\
# TEST DOUBLE of the default config of Grafana's loki package (not Loki's)
server:
  http_listen_port: 3100
common:
  path_prefix: /tmp/loki
"""
LOKI_POSTINST = """\
#!/bin/sh
# TEST DOUBLE of the loki package's postinst: its effects, on a first install only
[ "$1" = configure ] && [ -z "$2" ] || exit 0
id loki >/dev/null 2>&1 || adduser --system --shell /bin/false loki
systemctl daemon-reload || :
systemctl unmask loki || :
systemctl preset loki || :
systemctl enable loki || :
systemctl restart loki || :
"""
ALLOY_UNIT = """\
# TEST DOUBLE of the unit in Grafana's alloy package (same path, user and command line)
[Unit]
Description=Alloy TEST DOUBLE, as packaged
Wants=network-online.target
After=network-online.target

[Service]
Restart=always
User=alloy
EnvironmentFile=/etc/default/alloy
WorkingDirectory=/var/lib/alloy
ExecStart=/usr/bin/alloy run $CUSTOM_ARGS --storage.path=/var/lib/alloy/data $CONFIG_FILE
ExecReload=/usr/bin/env kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""
ALLOY_CONFIG = """\
// TEST DOUBLE of the default config of Grafana's alloy package (not Alloy's)
logging {
  level = "warn"
}
"""
ALLOY_DEFAULTS = """\
# TEST DOUBLE of /etc/default/alloy of Grafana's alloy package
CONFIG_FILE="/etc/alloy/config.alloy"
CUSTOM_ARGS=""
RESTART_ON_UPGRADE=true
"""
ALLOY_POSTINST = """\
#!/bin/sh
# TEST DOUBLE of the alloy package's postinst: the same effects
set -e
[ -f /etc/default/alloy ] && . /etc/default/alloy
[ "$1" = configure ] || exit 0
getent group alloy >/dev/null 2>&1 || groupadd -r alloy
getent passwd alloy >/dev/null 2>&1 || \\
    useradd -m -r -g alloy -d /var/lib/alloy -s /sbin/nologin -c "alloy user" alloy
for group in adm systemd-journal; do
    if getent group "$group" >/dev/null 2>&1; then usermod -a -G "$group" alloy; fi
done
for dir in /var/lib/alloy /var/lib/alloy/data; do
    if [ ! -d "$dir" ]; then mkdir "$dir"; chown alloy:alloy "$dir"; chmod 770 "$dir"; fi
done
chown root:alloy /etc/alloy
chmod 770 /etc/alloy
if [ -n "$2" ] && [ "$RESTART_ON_UPGRADE" = "true" ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
    systemctl restart alloy
fi
"""
ALLOY_PRERM = """\
#!/bin/sh
# TEST DOUBLE of the alloy package's prerm: stop alloy when it is removed
set -e
if [ "$1" = remove ] && command -v systemctl >/dev/null; then
    systemctl stop alloy.service >/dev/null 2>&1 || :
fi
"""


@dataclass(frozen=True)
class Layout:
    """What a package holds: files (path -> (content, mode)), conffiles, scripts."""

    files: dict[str, tuple[str, int]]
    conffiles: tuple[str, ...]
    scripts: dict[str, str]


def deb_version(package: str, version: str) -> str:
    """The Debian version of the package of upstream `version` (RELEASES' deb_version)."""
    return releases()[package]["deb_version"].format(version=version)


def layout(package: str, version: str) -> Layout:
    """The files and scripts of `package` at upstream `version`, the double inside."""
    if package == "loki":
        return Layout(
            files={"/usr/bin/loki": (launcher("loki", version), 0o755),
                   "/etc/systemd/system/loki.service": (LOKI_UNIT, 0o644),
                   "/etc/loki/config.yml": (LOKI_CONFIG, 0o644)},
            conffiles=("/etc/loki/config.yml",),
            scripts={"postinst": LOKI_POSTINST})
    if package == "alloy":
        return Layout(
            files={"/usr/bin/alloy": (launcher("alloy", version), 0o755),
                   "/usr/lib/systemd/system/alloy.service": (ALLOY_UNIT, 0o644),
                   "/etc/alloy/config.alloy": (ALLOY_CONFIG, 0o644),
                   "/etc/default/alloy": (ALLOY_DEFAULTS, 0o644)},
            conffiles=("/etc/alloy/config.alloy", "/etc/default/alloy"),
            scripts={"postinst": ALLOY_POSTINST, "prerm": ALLOY_PRERM})
    raise ValueError(f"no double of a {package} package")


def build_deb(package: str, version: str, out_dir: Path) -> Path:
    """`dpkg-deb --build` the double's package of upstream `version`; return the .deb."""
    spec = layout(package, version)
    debv = deb_version(package, version)
    stage = out_dir / f"{package}-{debv}.stage"
    if stage.exists():
        shutil.rmtree(stage)
    control_dir = stage / "DEBIAN"
    control_dir.mkdir(parents=True)
    size = 0
    for path, (content, mode) in spec.files.items():
        dest = stage / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(content)
        dest.chmod(mode)
        size += len(content.encode())
    control = (f"Package: {package}\nVersion: {debv}\nArchitecture: {ARCH}\n"
               f"Maintainer: {MAINTAINER}\nInstalled-Size: {max(1, size // 1024)}\n"
               "Section: default\nPriority: optional\n"
               f"Description: TEST DOUBLE of Grafana's {package} package (not {package})\n"
               f" Laid out as Grafana's {package} {debv}; its executable is monstack's\n"
               " HTTP readiness test double.\n")
    (control_dir / "control").write_text(control)
    (control_dir / "conffiles").write_text("".join(f"{c}\n" for c in spec.conffiles))
    for name, text in spec.scripts.items():
        (control_dir / name).write_text(text)
        (control_dir / name).chmod(0o755)
    for p in [stage, *stage.rglob("*")]:
        os.utime(p, (MTIME, MTIME), follow_symlinks=False)
    out = out_dir / f"{package}_{debv}_{ARCH}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(stage), str(out)],
                   check=True, capture_output=True, env={**os.environ,
                                                         "SOURCE_DATE_EPOCH": str(MTIME)})
    shutil.rmtree(stage)
    return out


def _digests(data: bytes) -> dict[str, str]:
    return {"MD5sum": hashlib.md5(data).hexdigest(), "SHA1": hashlib.sha1(data).hexdigest(),
            "SHA256": hashlib.sha256(data).hexdigest()}


def packages_index(root: Path, debs: list[Path]) -> str:
    """The Packages index of `debs` (paths below `root`): each .deb's own control fields
    (read back with dpkg-deb), then Filename, Size and its digests."""
    stanzas = []
    for deb in debs:
        fields = subprocess.run(["dpkg-deb", "--field", str(deb)], check=True,
                                capture_output=True, text=True).stdout.rstrip("\n")
        data = deb.read_bytes()
        extra = {"Filename": deb.relative_to(root).as_posix(), "Size": str(len(data)),
                 **_digests(data)}
        stanzas.append(fields + "\n" + "".join(f"{k}: {v}\n" for k, v in extra.items()))
    return "\n".join(stanzas)


def release_file(dist: Path) -> str:
    """dists/<suite>/Release: what the suite is, and the digests of its index files."""
    indexes = sorted(p for p in dist.rglob("*") if p.is_file()
                     and p.name not in ("Release", "InRelease", "Release.gpg"))
    head = (f"Origin: monstack TEST DOUBLE\nLabel: TEST DOUBLE of Grafana's APT repository\n"
            f"Suite: {SUITE}\nCodename: {SUITE}\n"
            f"Date: {email.utils.formatdate(usegmt=True)}\n"
            f"Architectures: {ARCH}\nComponents: {COMPONENT}\n"
            "Description: not apt.grafana.com; a test double for monstack's tests\n")
    sections = []
    for field, algo in (("MD5Sum", hashlib.md5), ("SHA256", hashlib.sha256)):
        lines = [f" {algo(p.read_bytes()).hexdigest()} {p.stat().st_size} "
                 f"{p.relative_to(dist).as_posix()}" for p in indexes]
        sections.append(f"{field}:\n" + "\n".join(lines) + "\n")
    return head + "".join(sections)


def _gpg(home: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--quiet",
                           "--pinentry-mode", "loopback", "--passphrase", "", *args],
                          check=True, capture_output=True, **kw)


def sign(dist: Path, key_file: Path) -> None:
    """Sign dists/<suite>/Release (InRelease, Release.gpg) with a throw-away key, made in
    a temporary GNUPGHOME and gone after; its public key is written to `key_file`."""
    # short path: gpg-agent's socket lives in GNUPGHOME when /run/user/<uid> is absent
    home = tempfile.mkdtemp(prefix="gnupg-", dir="/tmp")
    try:
        _gpg(home, "--quick-generate-key", KEY_UID, "ed25519", "sign", "never")
        key_file.write_bytes(_gpg(home, "--armor", "--export").stdout)
        release = dist / "Release"
        _gpg(home, "--yes", "--digest-algo", "SHA512", "--clearsign", "-o",
             str(dist / "InRelease"), str(release))
        _gpg(home, "--yes", "--digest-algo", "SHA512", "--armor", "--detach-sign", "-o",
             str(dist / "Release.gpg"), str(release))
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def build_repository(root: Path, versions: dict[str, list[str]], key_file: Path) -> list[Path]:
    """The whole signed repository under `root`, holding each package of `versions`
    (package -> upstream versions) once per version; returns the .debs."""
    if root.exists():
        shutil.rmtree(root)
    debs = []
    for package, package_versions in versions.items():
        pool = root / "pool" / COMPONENT / package[0] / package
        pool.mkdir(parents=True)
        debs += [build_deb(package, v, pool) for v in package_versions]
    dist = root / "dists" / SUITE
    binary = dist / COMPONENT / f"binary-{ARCH}"
    binary.mkdir(parents=True)
    index = packages_index(root, debs).encode()
    (binary / "Packages").write_bytes(index)
    with open(binary / "Packages.gz", "wb") as fh, gzip.GzipFile(
            fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(index)
    (dist / "Release").write_text(release_file(dist))
    sign(dist, key_file)
    return debs


def publish(mirror: Mirror, work: Path, versions: dict[str, list[str]] | None = None,
            path: str = "grafana-apt") -> dict:
    """Build the repository on the mirror under /`path` (default: each package at its
    pinned version); return the group_data that installs its packages from it: the
    package method, the pinned versions, the repository and the key file."""
    versions = versions or {p: [releases()[p]["version"]] for p in PACKAGES}
    work.mkdir(parents=True, exist_ok=True)
    key_file = work / "grafana-apt-test-double.asc"
    build_repository(mirror.root / path, versions, key_file)
    data = {"grafana_apt_repo_url": f"{mirror.base_url}/{path}",
            "grafana_apt_key_file": str(key_file)}
    for package in versions:
        data[f"{package}_install_method"] = "package"
        data[f"{package}_version"] = releases()[package]["version"]
    return data
