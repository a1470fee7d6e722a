"""Upstream release artifacts: what a component's release entry holds (`Component.release`,
declared in each component's module with its pinned sha256s, `Component.checksums`), and
the builders of the entries of projects released on GitHub (`github_release`; promu's,
`promu_release`; Grafana's zips, `grafana_zip_release`). Grafana's own tarball is on
dl.grafana.com: its entry is written out.

The deploy code renders ``url``/``file``/``top_dir`` with ``version`` and the
upstream arch token taken from ``arch[uname -m]`` (then points it at the configured mirror), unpacks
``format`` and installs each entry of ``binaries``.

Templates:
    {version}  the bare version, e.g. "3.15.0" (a leading "v" is written into the template where the
               upstream asset name carries one)
    {arch}     upstream's arch token for the host, from ``arch``

``arch`` maps ``uname -m`` values to upstream tokens. An architecture missing from a component's map
means upstream publishes no Linux asset for it, or that none could be confirmed (``notes`` says which).
armv8l means a 32-bit ARM kernel and userland on an ARMv8 CPU: 64-bit binaries cannot run there, so it
uses the 32-bit armv7 asset. (On Raspberry Pi OS with a 64-bit kernel, ``uname -m`` reports aarch64.)

``oldest`` is the floor: the oldest version the deploy can configure, and ``oldest_reason`` why
(the settings refuse a ``<component>_version`` below it). ``proven`` lists the versions the test
suite runs as real binaries, each with the Debian release whose build it is (repacked as
upstream's archive, tests/harness/debian.py); [] means test doubles only. A version above the
newest proven one is allowed: upstream releases faster than Debian.

``deb_version`` (components from Grafana's APT repository): the Debian version of the package built
from upstream ``version``, which the package method installs as ``<package>=<deb_version>``.

``checksums`` (the component's) pins sha256 values only where a public source was found. Every entry has a trailing
comment giving its sources. "x2"/"x3" means that many independent sources agree. Assets that have no
entry (most armv7/armv6 builds, all Loki and Alloy zips, all VictoriaMetrics tarballs) must be
checked some other way. Where ``checksums_mirror_name`` is set (Loki, Alloy), the archive method
reads the release's sha256 from upstream's own checksum file (``checksums``), or from the mirror
under that name when artifact_mirror is set. Others must be given in artifact_checksums, or, with
artifact_checksums_from_release, are read from the release's ``checksums`` file (``{file}`` names the
archive where upstream publishes one checksum file per archive, as Grafana does); an entry whose
``checksums`` is None publishes none, and its archives always need artifact_checksums.

Version pins were chosen in 2026 from stored public sources, without any live lookup. Newer upstream
releases may exist.
"""

from typing import Any, Dict

# promu's architecture tokens (the Prometheus project's builds and the exporters built
# like them)
PROMETHEUS_ARCHES: Dict[str, str] = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "armv7",
    "armv6l": "armv6",
    "armv8l": "armv7",
}


def promu_release(repo: str, name: str, *, version: str, oldest: str, oldest_reason: str,
                  proven: list, debian_package: str | None, notes: str,
                  binaries: Dict[str, str] | None = None,
                  arch: Dict[str, str] | None = None) -> Dict[str, Any]:
    """The release entry of a project built and published with promu, as the Prometheus
    project's and prometheus-community's are (.promu.yml, Makefile.common): tag
    v<version>, assets <name>-<version>.linux-<arch>.tar.gz holding the folder
    <name>-<version>.linux-<arch>/ with the binaries, and sha256sums.txt beside them."""
    return github_release(
        repo, version=version, oldest=oldest, oldest_reason=oldest_reason, proven=proven,
        file=f"{name}-{{version}}.linux-{{arch}}.tar.gz",
        top_dir=f"{name}-{{version}}.linux-{{arch}}",
        binaries=binaries or {name: name}, arch=arch or PROMETHEUS_ARCHES,
        checksums="sha256sums.txt", debian_package=debian_package, notes=notes)


# the architectures of a project that publishes 64-bit Linux builds only
AMD64_ARM64: Dict[str, str] = {"x86_64": "amd64", "aarch64": "arm64"}
# the archive format by the asset's ending (any other asset names its format)
FORMATS = {".tar.gz": "tar.gz", ".zip": "zip"}


def github_release(repo: str, *, version: str, oldest: str, oldest_reason: str,
                   proven: list, file: str, binaries: Dict[str, str | None],
                   checksums: str | None, debian_package: str | None, notes: str,
                   top_dir: str | None = None, arch: Dict[str, str] | None = None,
                   format: str | None = None, **extra: str) -> Dict[str, Any]:
    """The release entry of a project publishing its builds as the assets of a GitHub
    release tagged v<version>: `file` one of them, `checksums` the name of the release's
    checksum file (None: it publishes none), `format` by default from the ending of
    `file`, `arch` by default amd64 and arm64 only; `extra`: the entry's other fields
    (checksums_mirror_name, deb_version)."""
    download = f"https://github.com/{repo}/releases/download/v{{version}}"
    if format is None:
        format = next(f for ending, f in FORMATS.items() if file.endswith(ending))
    return {
        "version": version, "oldest": oldest, "oldest_reason": oldest_reason,
        "proven": proven,
        "url": download + "/{file}",
        "file": file,
        "format": format,
        "top_dir": top_dir,
        "binaries": binaries,
        "arch": dict(arch or AMD64_ARM64),
        "checksums": None if checksums is None else f"{download}/{checksums}",
        **extra,
        "debian_package": debian_package,
        "notes": notes,
    }


def grafana_zip_release(name: str, *, version: str, oldest: str, oldest_reason: str,
                        proven: list, deb_version: str, notes: str,
                        arch: Dict[str, str] | None = None) -> Dict[str, Any]:
    """The release entry of a Grafana Labs project published as one zip per architecture
    (Loki, Alloy): grafana/<name>'s release v<version>, assets <name>-linux-<arch>.zip
    holding the binary <name>-linux-<arch>, and SHA256SUMS beside them (named
    <name>-v<version>-SHA256SUMS on a mirror: every release's is called SHA256SUMS).
    Debian has no package of theirs; `deb_version`: the Debian version of the package
    Grafana's APT repository builds from upstream's version."""
    return github_release(
        f"grafana/{name}", version=version, oldest=oldest, oldest_reason=oldest_reason,
        proven=proven, file=f"{name}-linux-{{arch}}.zip",
        binaries={name: f"{name}-linux-{{arch}}"}, arch=arch, checksums="SHA256SUMS",
        checksums_mirror_name=f"{name}-v{{version}}-SHA256SUMS", deb_version=deb_version,
        debian_package=None, notes=notes)
