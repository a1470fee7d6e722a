"""Upstream release artifacts: where they live, how they are named per architecture, and pinned sha256s.

Pure data, no imports: the deploy code renders ``url``/``file``/``top_dir`` with ``version`` and the
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

``CHECKSUMS`` pins sha256 values only where a public source was found. Every entry has a trailing
comment giving its sources. "x2"/"x3" means that many independent sources agree. Assets that have no
entry (most armv7/armv6 builds, all Loki and Alloy zips, all VictoriaMetrics tarballs) must be
checked some other way. Where ``checksums_mirror_name`` is set (Loki, Alloy), the archive method
reads the release's sha256 from upstream's own checksum file (``checksums``), or from the mirror
under that name when artifact_mirror is set. Others must be given in artifact_checksums.

Version pins were chosen in 2026 from stored public sources, without any live lookup. Newer upstream
releases may exist.
"""

from typing import Any, Dict

_PROMETHEUS_ARCHES: Dict[str, str] = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "armv7",
    "armv6l": "armv6",
    "armv8l": "armv7",
}

RELEASES: Dict[str, Dict[str, Any]] = {
    "prometheus": {
        "version": "3.15.0",
        "oldest": "2.42.0",
        "oldest_reason": "the oldest build the suite runs, Debian 12's",
        "proven": [("2.42.0", "bookworm"), ("2.53.3", "trixie"), ("3.5.3", "sid")],
        "url": "https://github.com/prometheus/prometheus/releases/download/v{version}/{file}",
        "file": "prometheus-{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "prometheus-{version}.linux-{arch}",
        "binaries": {"prometheus": "prometheus", "promtool": "promtool"},
        "arch": dict(_PROMETHEUS_ARCHES),
        "checksums": "https://github.com/prometheus/prometheus/releases/download/v{version}/sha256sums.txt",
        "debian_package": "prometheus",
        "notes": "promu build: linux-{amd64,arm64,armv7,armv6,armv5,386,...}. The 3.5.x line is the LTS "
                 "(3.5.1 seen on prometheus.io in Jan 2026). Only amd64 and arm64 are pinned here. Debian "
                 "bookworm ships 2.42 as package prometheus. Retention: from v3.8.0 the TSDB config "
                 "holds storage.tsdb.retention {time, size} (config/config.go, TSDBRetentionConfig; "
                 "docs/configuration/configuration.md) and --storage.tsdb.retention.time/size are "
                 "marked deprecated (cmd/prometheus/main.go); v3.7.0's config/config.go has no such "
                 "block. operations/prometheus.py picks the form by prometheus_version "
                 "(RETENTION_IN_CONFIG_SINCE).",
    },
    "alertmanager": {
        "version": "0.34.1",
        "oldest": "0.22.0",
        "oldest_reason": ("its routes and inhibit rules use matchers, source_matchers and "
                          "target_matchers (config/config.go: absent at v0.21.0, present at "
                          "v0.22.0)"),
        "proven": [("0.25.0", "bookworm"), ("0.28.1", "trixie"), ("0.33.1", "sid")],
        "url": "https://github.com/prometheus/alertmanager/releases/download/v{version}/{file}",
        "file": "alertmanager-{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "alertmanager-{version}.linux-{arch}",
        "binaries": {"alertmanager": "alertmanager", "amtool": "amtool"},
        "arch": dict(_PROMETHEUS_ARCHES),
        "checksums": "https://github.com/prometheus/alertmanager/releases/download/v{version}/sha256sums.txt",
        "debian_package": "prometheus-alertmanager",
        "notes": "Same promu arch set as prometheus. Older releases had armv7 assets (0.26.0, 0.27.0 "
                 "pinned in boxcutter/oci). armv7/armv6 are not pinned for 0.34.1.",
    },
    "node_exporter": {
        "version": "1.12.1",
        "oldest": "1.5.0",
        "oldest_reason": "the oldest build the suite runs, Debian 12's",
        "proven": [("1.5.0", "bookworm"), ("1.9.0", "trixie"), ("1.11.1", "sid")],
        "url": "https://github.com/prometheus/node_exporter/releases/download/v{version}/{file}",
        "file": "node_exporter-{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "node_exporter-{version}.linux-{arch}",
        "binaries": {"node_exporter": "node_exporter"},
        "arch": dict(_PROMETHEUS_ARCHES),
        "checksums": "https://github.com/prometheus/node_exporter/releases/download/v{version}/sha256sums.txt",
        "debian_package": "prometheus-node-exporter",
        "notes": "The full asset list (seen for 1.8.2) includes linux-armv5, armv6, armv7, arm64, amd64, 386, "
                 "mips*, ppc64*, riscv64 and s390x. armv6 covers Pi 1 and Zero. armv7/armv6 are not pinned "
                 "for 1.12.1. Debian package: prometheus-node-exporter (bookworm has 1.5.0).",
    },
    "pushgateway": {
        "version": "1.11.3",
        "oldest": "1.5.1",
        "oldest_reason": "the oldest build the suite runs, Debian 12's",
        "proven": [("1.5.1", "bookworm"), ("1.11.2", "sid")],
        "url": "https://github.com/prometheus/pushgateway/releases/download/v{version}/{file}",
        "file": "pushgateway-{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "pushgateway-{version}.linux-{arch}",
        "binaries": {"pushgateway": "pushgateway"},
        "arch": dict(_PROMETHEUS_ARCHES),
        "checksums": "https://github.com/prometheus/pushgateway/releases/download/v{version}/sha256sums.txt",
        "debian_package": "prometheus-pushgateway",
        "notes": "All four Linux arches are pinned. armv7/armv6 (and armv5) come from one source, the AUR "
                 "PKGBUILD prometheus-push-gateway-bin.",
    },
    "blackbox_exporter": {
        "version": "0.28.0",
        "oldest": "0.23.0",
        "oldest_reason": "the oldest build the suite runs, Debian 12's",
        "proven": [("0.23.0", "bookworm"), ("0.28.0", "sid")],
        "url": "https://github.com/prometheus/blackbox_exporter/releases/download/v{version}/{file}",
        "file": "blackbox_exporter-{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "blackbox_exporter-{version}.linux-{arch}",
        "binaries": {"blackbox_exporter": "blackbox_exporter"},
        "arch": dict(_PROMETHEUS_ARCHES),
        "checksums": "https://github.com/prometheus/blackbox_exporter/releases/download/v{version}/sha256sums.txt",
        "debian_package": "prometheus-blackbox-exporter",
        "notes": "An armv7 asset was seen for 0.25.0 (boxcutter/oci history). armv7/armv6 are not pinned for "
                 "0.28.0.",
    },
    "postgres_exporter": {
        "version": "0.20.1",
        "oldest": "0.11.1",
        "oldest_reason": "the oldest build the suite runs, Debian 12's",
        "proven": [("0.11.1", "bookworm"), ("0.17.1", "trixie"), ("0.19.1", "sid")],
        "url": "https://github.com/prometheus-community/postgres_exporter/releases/download/v{version}/{file}",
        "file": "postgres_exporter-{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "postgres_exporter-{version}.linux-{arch}",
        "binaries": {"postgres_exporter": "postgres_exporter"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64"},
        "checksums": "https://github.com/prometheus-community/postgres_exporter/releases/download/v{version}/sha256sums.txt",
        "debian_package": "prometheus-postgres-exporter",
        "notes": "Built with promu like the prometheus/ repos, so armv7/armv6 assets are likely. No 32-bit ARM "
                 "asset name or checksum was seen, so the arch map is limited to amd64 and arm64.",
    },
    "redis_exporter": {
        "version": "1.80.1",
        "oldest": "1.45.0",
        "oldest_reason": "the oldest build the suite runs, Debian 12's (basic auth needs 1.67.0)",
        "proven": [("1.45.0", "bookworm"), ("1.69.0", "trixie"), ("1.86.0", "sid")],
        "url": "https://github.com/oliver006/redis_exporter/releases/download/v{version}/{file}",
        "file": "redis_exporter-v{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "redis_exporter-v{version}.linux-{arch}",
        "binaries": {"redis_exporter": "redis_exporter"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64"},
        "checksums": None,
        "debian_package": "prometheus-redis-exporter",
        "notes": "The tag, the file name and the top directory all carry the leading 'v'. Newer releases "
                 "exist (1.81.0 to 1.87.0 seen), but only 1.80.1 has two agreeing checksum sources (1.81.0 "
                 "has one, zulip). No 32-bit ARM asset was seen.",
    },
    "grafana": {
        "version": "13.2.3",
        "oldest": "10.0.0",
        "oldest_reason": ("the unit runs `bin/grafana server`, the form Grafana asks for from "
                          "10.0.0 on (grafana/grafana PR #66976 deprecated grafana-server "
                          "there)"),
        "proven": [],
        "url": "https://dl.grafana.com/oss/release/{file}",
        "file": "grafana-{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "grafana-v{version}",
        "binaries": {"grafana": "bin/grafana"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64"},
        "checksums": "https://dl.grafana.com/oss/release/{file}.sha256",
        "deb_version": "{version}",
        "debian_package": None,
        "notes": "Test doubles only: the suite runs no real build of it (proven is []). OSS build. Enterprise is grafana-enterprise-{version}.linux-{arch}.tar.gz under "
                 "/enterprise/release/. Grafana also publishes the same release as "
                 "dl.grafana.com/grafana/release/{version}/grafana_{version}_<build-id>_linux_{arch}.tar.gz, "
                 "but the pins below are for the oss/release name. top_dir 'grafana-v{version}' is what "
                 "zulip uses for 12.3.3 and has not been checked for 13.x; one script expects 'grafana-{version}' "
                 "for the build-id tarball. Strip the one top-level directory rather than trust the name. "
                 "bin/grafana is the only binary from 13.0.0 on (`grafana server`, `grafana cli`): the "
                 "grafana-server and grafana-cli binaries were dropped from the build for 13.0.0 "
                 "(grafana/grafana PR #120225; the 12.4.x backport PR #122125 keeps them below 13.0.0; "
                 "grafana.com what's-new 2026-04-14 'removal of grafana-cli and grafana-server "
                 "commands'; an endoflife-date report (PR #9982) finds no grafana-server on 13.0.1 "
                 "and 13.1.0 installs). NOT read at tag v13.2.3: the grafana/grafana repository is "
                 "too large to fetch here, so the tarball layout and the deb's /usr/sbin wrappers "
                 "rest on those sources. "
                 "32-bit ARM: armv7 (armhf) builds have been unlisted on the download page since about 10.1.x "
                 "but were still uploaded as debs (grafana/grafana#84994). armv6 is only the 'grafana-rpi' deb "
                 "(grafana-rpi_{version}_armhf.deb, depends on musl) from the Grafana APT repo "
                 "(grafana/grafana#92385, #56773). No armv6/armv7 tarball is confirmed for 13.x, so they are left "
                 "out of the arch map. Grafana is not packaged in Debian; it comes from Grafana's APT repo "
                 "(grafana, grafana-enterprise, grafana-rpi). deb_version '{version}': NOT verified at "
                 "the tag; a stored (unknown-date) pkg/build/daggerbuild/fpm/build.go calls fpm with "
                 "--version=<version without v> and no --iteration, and apt.grafana.com lists plain "
                 "versions such as 12.0.2.",
    },
    "loki": {
        "version": "3.6.8",
        "oldest": "3.0.0",
        "oldest_reason": ("loki.yaml sets the compactor's delete_request_store "
                          "(pkg/compactor/compactor.go: absent at v2.9.10, present at v3.0.0)"),
        "proven": [],
        "url": "https://github.com/grafana/loki/releases/download/v{version}/{file}",
        "file": "loki-linux-{arch}.zip",
        "format": "zip",
        "top_dir": None,
        "binaries": {"loki": "loki-linux-{arch}"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv8l": "arm"},
        "checksums": "https://github.com/grafana/loki/releases/download/v{version}/SHA256SUMS",
        "checksums_mirror_name": "loki-v{version}-SHA256SUMS",
        "deb_version": "{version}",
        "debian_package": None,
        "notes": "Test doubles only: the suite runs no real build of it (proven is []). The zip name has no version. It holds one file, loki-linux-{arch}, to be renamed to loki. "
                 "v3.6.8 is a confirmed release tag (hermit pins promtail zips from it); no newer one was seen. "
                 "NO sha256 was found for any Loki zip: they are verified against the release's "
                 "SHA256SUMS (v3.6.8 Makefile target dist: `sha256sum *` in dist/ after zipping, "
                 "so it lists loki-linux-<arch>.zip; the release workflow, .github/vendor/.../"
                 "loki-release/workflows/release.libsonnet, uploads dist/* to the GitHub release). The 'arm' build is used for armv7 by public scripts; its GOARM level is "
                 "not confirmed, and no armv6 build is known. Debian's package named 'loki' is an unrelated "
                 "pedigree-analysis tool; use Grafana's APT repo (package loki) or the zip. "
                 "Grafana's loki deb (grafana/loki v3.6.8 tools/packaging/nfpm.jsonnet): the binary "
                 "at /usr/bin/loki, its unit at /etc/systemd/system/loki.service "
                 "(tools/packaging/loki.service: ExecStart=/usr/bin/loki -config.file "
                 "/etc/loki/config.yml), that config at /etc/loki/config.yml. deb_version '{version}': "
                 "nfpm.jsonnet sets version '${DRONE_TAG}' and no release; nfpm (goreleaser/nfpm "
                 "nfpm.go parseSemver, deb/deb.go) drops a leading v and appends -<release> only "
                 "when a release is set, so the deb of 3.6.8 is version 3.6.8 (the nfpm version "
                 "of Loki's build image was not checked).",
    },
    "alloy": {
        "version": "1.17.1",
        "oldest": "1.0.0",
        "oldest_reason": ("the first Alloy release; every component of config.alloy and run's "
                          "flags are there at v1.0.0"),
        "proven": [],
        "url": "https://github.com/grafana/alloy/releases/download/v{version}/{file}",
        "file": "alloy-linux-{arch}.zip",
        "format": "zip",
        "top_dir": None,
        "binaries": {"alloy": "alloy-linux-{arch}"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64"},
        "checksums": "https://github.com/grafana/alloy/releases/download/v{version}/SHA256SUMS",
        "checksums_mirror_name": "alloy-v{version}-SHA256SUMS",
        "deb_version": "{version}-1",
        "debian_package": None,
        "notes": "Floor checked at v1.0.0: loki.source.journal, loki.source.file, loki.source.docker, discovery.docker, discovery.relabel, local.file_match, loki.process, loki.relabel (action lowercase: internal/component/common/relabel/relabel.go) and loki.write are documented there, and cmd_run.go has --server.http.listen-addr, --storage.path and --disable-reporting. Test doubles only: the suite runs no real build of it (proven is []). The Grafana docs list Linux AMD64 and ARM64 only, with no 32-bit ARM build, so the Pi 1/Zero "
                 "and 32-bit Pi OS are not supported. There are also alloy-boringcrypto-linux-{amd64,arm64} "
                 "zips. Zips are verified against the release's SHA256SUMS (v1.17.1 "
                 "scripts/publish-release-artifacts.sh: `sha256sum -- *` in dist/ after zipping the "
                 "binaries, uploaded with them by .github/workflows/release-publish-alloy-artifacts.yml). "
                 "Not pinned: the only 1.17.1 hashes seen were in an example comment of a Homebrew "
                 "formula template (amd64 b92bfa28..., arm64 730d41d9...), which is not a reliable source. "
                 "The Grafana APT repo has package alloy (not checked here). `alloy validate` "
                 "exists from v1.9.0 on (internal/alloycli/cmd_validate.go is absent at v1.8.3, "
                 "present at v1.9.0 and v1.17.1; docs/sources/reference/cli/validate.md at v1.17.1: "
                 "exit non-zero with diagnostics on stderr, run's --stability.level and "
                 "--feature.community-components.enabled must be given to it too). deb_version "
                 "'{version}-1': build-tools/make/packaging.mk at v1.17.1 runs fpm -v "
                 "<VERSION without v> --iteration 1 (ALLOY_PACKAGE_RELEASE); the deb puts "
                 "/usr/bin/alloy and /usr/lib/systemd/system/alloy.service.",
    },
    "cadvisor": {
        "version": "0.57.0",
        "oldest": "0.38.7",
        "oldest_reason": "the only build the suite runs, Debian 11's",
        "proven": [("0.38.7", "bullseye")],
        "url": "https://github.com/google/cadvisor/releases/download/v{version}/{file}",
        "file": "cadvisor-v{version}-linux-{arch}",
        "format": "binary",
        "top_dir": None,
        "binaries": {"cadvisor": None},
        "arch": {"x86_64": "amd64", "aarch64": "arm64"},
        "checksums": None,
        "debian_package": None,
        "notes": "A raw executable with no archive. build/release.sh builds GOARCH amd64, arm, arm64 and s390x, "
                 "and prints 'sha256sum --tag' lines for the release notes (no checksum file). Go's default "
                 "GOARM for a cross build is 7, so the 'arm' binary would be ARMv7 and not armv6. The literal "
                 "name cadvisor-v{version}-linux-arm was not seen, so it is left out of the arch map. There is "
                 "no armv6 build, and bookworm's apt index here has no cadvisor package.",
    },
    "victoriametrics": {
        "version": "1.150.0",
        "oldest": "1.79.5",
        "oldest_reason": "the oldest build the suite runs, Debian 12's",
        "proven": [("1.79.5", "bookworm"), ("1.145.0", "sid")],
        "url": "https://github.com/VictoriaMetrics/VictoriaMetrics/releases/download/v{version}/{file}",
        "file": "victoria-metrics-linux-{arch}-v{version}.tar.gz",
        "format": "tar.gz",
        "top_dir": None,
        "binaries": {"victoria-metrics": "victoria-metrics-prod"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm",
                 "armv8l": "arm"},
        "checksums": "https://github.com/VictoriaMetrics/VictoriaMetrics/releases/download/v{version}/"
                     "victoria-metrics-linux-{arch}-v{version}_checksums.txt",
        "debian_package": "victoria-metrics",
        "notes": "Single-node edition. From the repository's Makefile (release-victoria-metrics-goos-goarch): "
                 "the tarball holds one file at its root, victoria-metrics-prod (the -linux-<arch> part "
                 "of the built name is stripped by tar --transform), and the sha256 of the tarball and the "
                 "binary are published beside it as victoria-metrics-linux-<arch>-v<version>_checksums.txt. "
                 "Linux assets: 386, amd64, arm, arm64, s390x; 'arm' is built with GOARM=5 "
                 "(deployment/docker/Makefile), so it runs on armv6l, armv7l and armv8l. v1.150.0 is the "
                 "newest tag seen (Aug 2026; the v1.148.x and v1.136.x lines are the LTS ones). The cluster "
                 "edition is another tarball: see victoriametrics_cluster. NO sha256 is pinned: "
                 "upstream's checksum files could not be read here, so give the one of the file you mirror "
                 "in artifact_checksums. Debian bookworm ships 1.79.5 as package victoria-metrics "
                 "(/usr/bin/victoria-metrics, plus vmagent, vmalert, vmauth, vmbackup, vmctl, vmrestore; "
                 "unit victoria-metrics.service, user _victoria-metrics).",
    },
    "victoriametrics_cluster": {
        "version": "1.150.0",
        "oldest": "1.79.5",
        "oldest_reason": ("the single-node edition's floor, whose -retentionPeriod and "
                          "-dedup.minScrapeInterval the cluster shares (no cluster build was "
                          "checked)"),
        "proven": [],
        "url": "https://github.com/VictoriaMetrics/VictoriaMetrics/releases/download/v{version}/{file}",
        "file": "victoria-metrics-linux-{arch}-v{version}-cluster.tar.gz",
        "format": "tar.gz",
        "top_dir": None,
        "binaries": {"vminsert": "vminsert-prod", "vmselect": "vmselect-prod",
                     "vmstorage": "vmstorage-prod"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64"},
        "checksums": "https://github.com/VictoriaMetrics/VictoriaMetrics/releases/download/v{version}/"
                     "victoria-metrics-linux-{arch}-v{version}-cluster_checksums.txt",
        "debian_package": None,
        "notes": "Test doubles only: the suite runs no real build of it (proven is []). Cluster edition, one tarball for the components vminsert, vmselect and vmstorage (each "
                 "installs only its own binary from it). From the Makefile of the repository's cluster "
                 "branch (release-vmcluster-goos-goarch): the tag is v<version>-cluster, the tarball "
                 "victoria-metrics-linux-<arch>-v<version>-cluster.tar.gz holds vminsert-prod, "
                 "vmselect-prod and vmstorage-prod at its root (tar --transform strips -linux-<arch>), "
                 "and victoria-metrics-linux-<arch>-v<version>-cluster_checksums.txt lists the sha256 of "
                 "the tarball and of the three binaries. Linux builds: amd64 and arm64 only (the target "
                 "list has no 32-bit ARM). Debian ships no cluster binaries. NO sha256 is pinned: give "
                 "the one of the file you mirror in artifact_checksums. Default ports (from the flags' "
                 "defaults): vminsert -httpListenAddr :8480, vmselect :8481, vmstorage :8482 with "
                 "-vminsertAddr :8400 and -vmselectAddr :8401.",
    },
}

CHECKSUMS: Dict[str, str] = {
    # prometheus 3.15.0
    "prometheus-3.15.0.linux-amd64.tar.gz": "2a542df32eac02ee17b9d844fb2aa1de00dafa5476579ba8a3ba862e9d572ea0",  # x3: enajx/nanoHPC src/nanohpc/deploy.py; a 'himmel' install-grafana.sh (from sha256sums.txt); promtool pin tables in several Makefiles/Bazel files
    "prometheus-3.15.0.linux-arm64.tar.gz": "f1f90ec08e849d494ca66c611470afc50192f0355f1a61c33f2cbde02d067823",  # x3: same sources as amd64
    # alertmanager 0.34.1
    "alertmanager-0.34.1.linux-amd64.tar.gz": "265b9d1e55ef0d5306a436018af6d2b686c2ce051f03d968f7464ecb1372a7e8",  # x3: enajx/nanoHPC src/nanohpc/deploy.py; a Homebrew tap formula; a 'dragontools' design doc (checked against sha256sums.txt)
    "alertmanager-0.34.1.linux-arm64.tar.gz": "d98d6cbaf52151c7e76e24355fec88b11cebcb9875d4cdd8b76ddce7a7e5535c",  # x3: same sources as amd64
    # node_exporter 1.12.1
    "node_exporter-1.12.1.linux-amd64.tar.gz": "b51d8a76aa2a9156a55d501aca6276fae09e262259a5e4e831d2c2222f084e63",  # x3+: enajx/nanoHPC src/nanohpc/deploy.py; node_exporter RPM spec; several install scripts and Ansible defaults
    "node_exporter-1.12.1.linux-arm64.tar.gz": "ad35b605f9954b9f1ffddf5ba054bdc5a98d790b9eae5291e1eeb83f1ecbd0e7",  # x3: enajx/nanoHPC src/nanohpc/deploy.py; node_exporter RPM spec; a 'setup-monitoring' script
    # pushgateway 1.11.3
    "pushgateway-1.11.3.linux-amd64.tar.gz": "bb0a44dee0953df9e8cd3c082981ff50327de56d965d83bdd9b0957d83921e38",  # x3: AUR PKGBUILD prometheus-push-gateway-bin 1.11.3; a Homebrew tap formula; a pushgateway RPM spec
    "pushgateway-1.11.3.linux-arm64.tar.gz": "727ff0098943657b44c21a029be9d9fcc4f249ec72dcb9f0a34aa66b2d5f1ecc",  # x3: same sources as amd64
    "pushgateway-1.11.3.linux-armv7.tar.gz": "38e10f4132e255fa5ef99b9bded8d7967d0831e0fa7a3d262e39cbbced37f35b",  # x1: AUR PKGBUILD prometheus-push-gateway-bin 1.11.3 (sha256sums_armv7h)
    "pushgateway-1.11.3.linux-armv6.tar.gz": "cd4fadf1dbff52a7055aefc606a9aad82b55245d2daca95876713a051b203d44",  # x1: AUR PKGBUILD prometheus-push-gateway-bin 1.11.3 (sha256sums_armv6h)
    # blackbox_exporter 0.28.0
    "blackbox_exporter-0.28.0.linux-amd64.tar.gz": "caf5d242fb1cf6d5cb678f3f799f22703d4fafea26b03dcbbd7e1f1825e06329",  # x3+: boxcutter/oci prometheus/blackbox-exporter/docker-bake.hcl; 'dragontools' doc (checked against sha256sums.txt); Homebrew tap formula; install scripts
    "blackbox_exporter-0.28.0.linux-arm64.tar.gz": "63312be0983d85e5109710a7dc93df3051157ae581853fa3655d171cc1b2806e",  # x3+: same sources as amd64
    # postgres_exporter 0.20.1
    "postgres_exporter-0.20.1.linux-amd64.tar.gz": "89d4f7e7920cad48fdc3133f789556ef5253c330a9f5fdace3bdb6344c0a8b5a",  # x3+: postgres_exporter RPM spec; a 'setup-monitoring' script; a Python ARCHIVES table; ops docs
    "postgres_exporter-0.20.1.linux-arm64.tar.gz": "d5d86fb98bb1f26b088d1a6fda07fd6b6f035cb5d40492f75ec3bfebb5ddfe9d",  # x3: postgres_exporter RPM spec; 'setup-monitoring' script; Python ARCHIVES table
    # redis_exporter 1.80.1
    "redis_exporter-v1.80.1.linux-amd64.tar.gz": "1818cc2cbd3bac62a6f43054a2cc1596fc5f6148ce80112a6308bc3cad6d81fa",  # x2: boxcutter/boxcutter-chef-cookbooks cookbooks/boxcutter_prometheus/attributes/default.rb; a redis_exporter RPM spec
    "redis_exporter-v1.80.1.linux-arm64.tar.gz": "a807907d413edb1c0aa88513e7c1570c302873bd1cfcbf36fb53a14629177882",  # x2: same sources as amd64
    # grafana 13.2.3 (OSS, dl.grafana.com/oss/release/)
    "grafana-13.2.3.linux-amd64.tar.gz": "6107ad27016296aac38e0d7ffa8753ab540b5541ad27e94790f771289d733235",  # x2: enajx/nanoHPC src/nanohpc/deploy.py; 'himmel' install-grafana.sh (taken from dl.grafana.com's .sha256)
    "grafana-13.2.3.linux-arm64.tar.gz": "a2a41b960ba4c25e83140484e48813730d3c81891a128439a2a9d2df6eb3840e",  # x2: same sources as amd64
    # cadvisor 0.57.0 (raw binaries)
    "cadvisor-v0.57.0-linux-amd64": "9359a1192775eafeead41941690f7d94fb55f5f85833071b70593f8e7eae31ec",  # x1 project: two bootstrap scripts from one 'deploycrate' project
    "cadvisor-v0.57.0-linux-arm64": "38477947aab2dc5ff0288d4ee59e2ddb351d3a627140b707416f4b4ee91c1b85",  # x1 project: same as amd64
    # loki 3.6.8 zips, alloy 1.17.1 zips and victoria-metrics 1.150.0 tarballs (single-node and cluster): no verified
    # sha256 found, intentionally not pinned.
}
