"""Upstream release archives on the controller: pick, download once, verify, unpack.

Archives are fetched on the controller (not on the hosts) into a cache, one download per
(component, version, architecture): hosts need no route to the internet or the mirror,
a Raspberry Pi fleet downloads each file once, and the sha256 is checked before anything
is unpacked, let alone pushed. Hosts then receive the verified binaries with
`install.program` (uploaded beside the old one and renamed over it), which compares
checksums and so makes re-runs and `--dry` exact.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import requests
from pyinfra.api.exceptions import PyinfraError

from operations.base import catalogue, digests

# `uname -m` -> the name Debian-family packages use (`dpkg --print-architecture`)
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "armv8l": "armhf",
            "armv6l": "armhf"}


class ArtifactError(PyinfraError):
    """An archive could not be had or did not verify; raised while planning, so nothing
    on any host was changed."""


@dataclass(frozen=True)
class Artifact:
    component: str
    version: str
    machine: str        # uname -m of the target
    file_name: str
    url: str
    sha256: str
    # the release checksum file the sha256 was read from (artifact_checksums_from_release)
    # while no sha256 of it is recorded yet in the cache; None: pinned, given or recorded
    checksums_url: str | None = None

    @property
    def spec(self) -> dict:
        return catalogue.releases()[self.component]


def upstream_arch(component: str, machine: str) -> str:
    spec = catalogue.releases()[component]
    try:
        return spec["arch"][machine]
    except KeyError:
        known = ", ".join(sorted(spec["arch"]))
        raise ArtifactError(
            f"{component} publishes no build for architecture {machine!r} "
            f"(it has: {known}); use the package install method or set machine_arch"
        ) from None


def has_pinned_checksums(component: str) -> bool:
    """Does the pinned table hold a sha256 of any release file of `component`?"""
    spec = catalogue.releases()[component]
    return any(spec["file"].format(version=spec["version"], arch=arch) in catalogue.checksums()
               for arch in set(spec["arch"].values()))


def resolve(component: str, version: str, machine: str, mirror: str | None,
            extra_checksums: dict[str, str], from_release: bool = False,
            cache_dir: str | None = None) -> Artifact:
    """Which file to fetch from where, and the sha256 it must have.

    `from_release` (artifact_checksums_from_release): when no sha256 is pinned or given,
    the one the release's checksum file lists (recorded under `cache_dir` once the archive
    verified against it)."""
    spec = catalogue.releases()[component]
    arch = upstream_arch(component, machine)
    file_name = spec["file"].format(version=version, arch=arch)
    if mirror:
        url = f"{mirror.rstrip('/')}/{file_name}"
    else:
        url = spec["url"].format(version=version, file=file_name, arch=arch)
    sha = extra_checksums.get(file_name) or catalogue.checksums().get(file_name)
    if not sha and spec.get("checksums_mirror_name"):
        # Loki's and Alloy's zips: none is pinned; upstream's checksum file names them
        try:
            sha = published_sha256(spec, version, arch, file_name, mirror)
        except ArtifactError as exc:
            raise ArtifactError(
                f"no sha256 is pinned for any {component} release and {exc}: add "
                f"{{{file_name!r}: '<sha256>'}} to artifact_checksums, or use the package "
                "install method") from None
    if not sha and from_release and spec.get("checksums"):
        sha, read_from = release_sha256(component, spec, version, arch, file_name, mirror,
                                        cache_dir)
        return Artifact(component, version, machine, file_name, url, sha, read_from)
    if not spec.get("checksums"):
        way_out = (f" ({component}'s release publishes no checksum file for "
                   "artifact_checksums_from_release to read)" if from_release else "")
    else:
        way_out = ("" if from_release else ", set artifact_checksums_from_release = True "
                   "(to trust the sha256 that the release's own checksum file lists)")
    if not sha and not has_pinned_checksums(component):
        raise ArtifactError(
            f"no sha256 is pinned for any {component} release, so the operator must give "
            f"it: add {{{file_name!r}: '<sha256>'}} to artifact_checksums (take it from "
            f"upstream's release checksums for {component} {version}, or from the file "
            f"you put on artifact_mirror){way_out}, or use the package install method")
    if not sha:
        raise ArtifactError(
            f"no sha256 known for {file_name}: add it to artifact_checksums "
            f"(file name -> sha256){way_out} or use a pinned {component}_version")
    return Artifact(component, version, machine, file_name, url, sha.lower())


def checksums_url(spec: dict, version: str, arch: str, mirror: str | None) -> str:
    """Where upstream's checksum file of a release is read: on the mirror under
    ``checksums_mirror_name`` (Loki and Alloy both call theirs SHA256SUMS, which a flat
    folder cannot hold twice), else upstream's own ``checksums`` URL."""
    if mirror:
        name = spec["checksums_mirror_name"].format(version=version, arch=arch)
        return f"{mirror.rstrip('/')}/{name}"
    return spec["checksums"].format(version=version, arch=arch)


def download_text(url: str, timeout: float = 30) -> str:
    try:
        resp = requests.get(url, timeout=timeout)
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise ArtifactError(f"could not download {url}: {exc}") from None
    return resp.text


def sha256_listed(text: str, file_name: str) -> str | None:
    """The sha256 that a `sha256sum` output (`<hex>  <name>`, `*<name>` in binary mode)
    gives for `file_name`."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == file_name and len(parts[0]) == 64:
            return parts[0].lower()
    return None


_published: dict[str, str] = {}   # checksum file URL -> its text, read once per run


def published_sha256(spec: dict, version: str, arch: str, file_name: str,
                     mirror: str | None) -> str:
    """`file_name`'s sha256 from its release's checksum file (which guards against a
    corrupt or mixed-up download; it is only as trustworthy as where it is read from)."""
    url = checksums_url(spec, version, arch, mirror)
    if url not in _published:
        _published[url] = download_text(url)
    sha = sha256_listed(_published[url], file_name)
    if not sha:
        raise ArtifactError(f"its checksum file {url} lists no {file_name}")
    return sha


def release_checksums_url(component: str, spec: dict, version: str, arch: str,
                          file_name: str, mirror: str | None) -> str:
    """Where artifact_checksums_from_release reads the release's checksum file: upstream's
    ``checksums`` URL, or on the mirror under upstream's name where that name holds the
    version (VictoriaMetrics' <file>_checksums.txt, Grafana's <file>.sha256), else as
    <release>-v<version>-<name> (promu's sha256sums.txt, goreleaser's checksums.txt: one
    flat folder cannot hold several releases' files of one name; Loki's and Alloy's
    SHA256SUMS are named so too)."""
    upstream = spec["checksums"].format(version=version, arch=arch, file=file_name)
    if not mirror:
        return upstream
    name = upstream.rsplit("/", 1)[-1]
    if spec.get("checksums_mirror_name"):
        name = spec["checksums_mirror_name"].format(version=version, arch=arch)
    elif version not in name:
        name = f"{component}-v{version}-{name}"
    return f"{mirror.rstrip('/')}/{name}"


def sha256_of_file_listed(text: str, file_name: str, url: str) -> str | None:
    """The sha256 a checksum file gives for `file_name`: a `sha256sum` line naming it, or
    the one bare sha256 of a per-file checksum file (Grafana's <file>.sha256)."""
    sha = sha256_listed(text, file_name)
    words = text.split()
    if not sha and url.endswith(f"/{file_name}.sha256") and len(words) == 1 \
            and len(words[0]) == 64:
        sha = words[0].lower()
    if sha and all(c in "0123456789abcdef" for c in sha):
        return sha
    return None


RECORDS = "sha256-from-release"   # folder of the cache: <file name> -> the trusted sha256


def recorded_sha256(cache_dir: str | None, file_name: str) -> tuple[Path | None, str | None]:
    """(where the sha256 trusted from `file_name`'s release checksum file is recorded,
    that sha256 or None)."""
    if not cache_dir:
        return None, None
    record = Path(os.path.expanduser(cache_dir)) / RECORDS / file_name
    if not record.is_file():
        return record, None
    return record, sha256_listed(record.read_text(), file_name)


def release_sha256(component: str, spec: dict, version: str, arch: str, file_name: str,
                   mirror: str | None, cache_dir: str | None) -> tuple[str, str | None]:
    """(the sha256 `file_name` must have, the checksum file it was read from while none is
    recorded yet): the release's checksum file, read once per run, must agree with what an
    earlier run recorded from it; unreadable, the recorded one is used."""
    url = release_checksums_url(component, spec, version, arch, file_name, mirror)
    record, known = recorded_sha256(cache_dir, file_name)
    try:
        if url not in _published:
            _published[url] = download_text(url)
    except ArtifactError as exc:
        if known:
            return known, None
        raise ArtifactError(
            f"no sha256 is pinned or given for {file_name}, and "
            f"artifact_checksums_from_release could not read the release's checksum file: "
            f"{exc}; nothing was installed") from None
    sha = sha256_of_file_listed(_published[url], file_name, url)
    if known and sha != known:
        raise ArtifactError(
            f"the release checksum file {url} now gives "
            f"{'sha256 ' + sha if sha else 'no sha256'} for {file_name}, but an earlier run "
            f"trusted sha256 {known} from it (recorded in {record}): a release file that "
            "changed is suspicious, so nothing was installed; find out why before you "
            "delete that record (or pin the sha256 you trust in artifact_checksums)")
    if not sha:
        raise ArtifactError(
            f"no sha256 is pinned or given for {file_name}, and the release checksum file "
            f"{url} lists no {file_name}: add it to artifact_checksums; nothing was installed")
    return sha, None if known else url


def record_release_sha256(artifact: Artifact, cache_dir: str) -> None:
    """Remember the sha256 a verified archive was trusted with from its release's checksum
    file, so later runs and --dry use it (and refuse a checksum file that changed)."""
    record, known = recorded_sha256(cache_dir, artifact.file_name)
    if known == artifact.sha256:
        return
    if known:
        raise ArtifactError(
            f"{artifact.file_name}: sha256 {known} was recorded in {record} meanwhile, "
            f"not the {artifact.sha256} of {artifact.checksums_url}; nothing was installed")
    record.parent.mkdir(parents=True, exist_ok=True)
    part = record.with_name(f".{record.name}.part")
    part.write_text(f"{artifact.sha256}  {artifact.file_name}\n")
    os.replace(part, record)


def file_sha256(path: Path) -> str:
    """Kept from run to run while the file is unchanged (see digests)."""
    return digests.sha256(path)


# pyinfra plans hosts concurrently (gevent): one in-process lock per file first, so that
# only one greenlet at a time blocks in flock (which only guards against other processes).
_file_locks: dict[str, threading.Lock] = {}


def fetch(artifact: Artifact, cache_dir: Path, timeout: float = 60) -> Path:
    """The verified archive in the cache, downloading it first if needed."""
    dest = cache_dir / artifact.file_name
    digests.keep_records_under(cache_dir)   # the archive and the binaries unpacked beside it
    # verified before (in this run: every host after the first asks; or in an earlier
    # one) and unchanged since: a download only ever replaces the file, which changes its
    # inode and ctime
    try:
        if digests.known(dest, "sha256") == artifact.sha256:
            return dest
    except OSError:
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    in_process = _file_locks.setdefault(str(dest), threading.Lock())
    with in_process, open(cache_dir / f".{artifact.file_name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if dest.exists() and file_sha256(dest) == artifact.sha256:
            return dest
        part = dest.with_name(dest.name + ".part")
        hashed = hashlib.sha256()   # as it arrives: not read back afterwards
        try:
            with requests.get(artifact.url, stream=True, timeout=timeout) as resp:
                resp.raise_for_status()
                with open(part, "wb") as fh:
                    for chunk in resp.iter_content(1 << 20):
                        fh.write(chunk)
                        hashed.update(chunk)
        except requests.exceptions.ChunkedEncodingError:
            part.unlink(missing_ok=True)
            length = resp.headers.get("Content-Length")
            raise ArtifactError(
                f"could not download {artifact.url}: truncated, the connection closed "
                f"before all {length or 'the'} bytes arrived; nothing was installed") from None
        except requests.RequestException as exc:
            part.unlink(missing_ok=True)
            raise ArtifactError(f"could not download {artifact.url}: {exc}") from None
        got = hashed.hexdigest()
        if got != artifact.sha256:
            part.unlink(missing_ok=True)
            raise ArtifactError(
                f"checksum mismatch for {artifact.file_name} from {artifact.url}: "
                f"expected sha256 {artifact.sha256}, got {got}; nothing was installed")
        os.replace(part, dest)
        digests.keep(dest, "sha256", got)
    return dest


def safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract refusing absolute paths, `..`, links and devices that leave `dest`.

    Python >= 3.11.4 has this as filter="data"; Debian 12's 3.11.2 does not."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not target.is_relative_to(root) or member.isdev() or (
                member.issym() or member.islnk()) and not (
                target.parent / member.linkname).resolve().is_relative_to(root):
            raise tarfile.TarError(f"unsafe member {member.name!r}")
    tar.extractall(dest)


def unpack(artifact: Artifact, archive: Path) -> Path:
    """Unpack a verified archive next to it (once); return the folder holding its files."""
    out = archive.with_name(archive.name + ".d")
    done = out / ".unpacked"  # holds the sha256 of the archive it was unpacked from
    if done.exists() and done.read_text() == artifact.sha256:
        return _top(artifact, out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    fmt = artifact.spec["format"]
    try:
        if fmt == "tar.gz":
            with tarfile.open(archive) as tar:
                safe_extract(tar, tmp)
        elif fmt == "zip":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    target = zf.extract(info, tmp)
                    mode = (info.external_attr >> 16) & 0o777
                    if mode:
                        os.chmod(target, mode)
        elif fmt == "binary":
            (name,) = artifact.spec["binaries"]
            shutil.copyfile(archive, tmp / name)
            os.chmod(tmp / name, 0o755)
        else:
            raise ArtifactError(f"unknown archive format {fmt!r}")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArtifactError(f"could not unpack {archive.name}: {exc}") from None
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    done.write_text(artifact.sha256)
    return _top(artifact, out)


def _top(artifact: Artifact, out: Path) -> Path:
    top = artifact.spec.get("top_dir")
    if not top:
        return out
    arch = upstream_arch(artifact.component, artifact.machine)
    named = out / top.format(version=artifact.version, arch=arch)
    if named.is_dir():
        return named
    # Some projects have renamed their top folder between releases (grafana-X vs
    # grafana-vX): an archive with one top folder is unpacked from that folder.
    folders = [p for p in out.iterdir() if p.is_dir()]
    return folders[0] if len(folders) == 1 else named


def binary_paths(artifact: Artifact, folder: Path) -> dict[str, Path]:
    """Installed binary name -> its file in the unpacked archive."""
    arch = upstream_arch(artifact.component, artifact.machine)
    paths = {}
    for name, inner in artifact.spec["binaries"].items():
        inner = (inner or name).format(version=artifact.version, arch=arch)
        path = folder / inner
        if not path.is_file():
            raise ArtifactError(f"{artifact.file_name} has no {inner}")
        paths[name] = path
    return paths


def prepare(component: str, version: str, machine: str, mirror: str | None,
            extra_checksums: dict[str, str], cache_dir: str,
            from_release: bool = False) -> tuple[Artifact, Path]:
    """Resolve, fetch, verify and unpack; return the artifact and its unpacked folder."""
    artifact = resolve(component, version, machine, mirror, extra_checksums, from_release,
                       cache_dir)
    try:
        archive = fetch(artifact, Path(os.path.expanduser(cache_dir)))
    except ArtifactError as exc:
        if not artifact.checksums_url:
            raise
        raise ArtifactError(f"{exc} (the sha256 came from the release checksum file "
                            f"{artifact.checksums_url})") from None
    if artifact.checksums_url:
        record_release_sha256(artifact, cache_dir)
    return artifact, unpack(artifact, archive)
