"""snmp_exporter's snmp.yml for the modules the tests use, generated on the controller by
Debian's real generator from the MIBs a Debian package ships: what the test mirror's
snmp_exporter archive carries where upstream's carries its generated snmp.yml (Debian's
package ships none, and CI cannot download upstream's).

- The modules: GENERATOR_YML, the `system`, `if_mib` and `ip_mib` modules (walks, lookups,
  overrides) and the two auths as upstream's generator/generator.yml states them at v0.30.1
  (ip_mib because tests/e2e/test_snmp.py switches to it). Generated from the MIBs below, the
  result equals upstream's snmp.yml of v0.30.1 for those modules and auths (compared by hand
  on 2026-12-05: every metric, OID, index, lookup, enum value and help text).
- The MIBs: Debian's main area has none of the IETF ones (libsnmp-base carries Net-SNMP's
  own MIBs only, libsmi2-common none). non-free's snmp-mibs-downloader ships the RFCs and
  IANA's MIB files themselves, and its download-mibs extracts the modules from those with
  smistrip (for its default sets it reads /usr/share/snmp/mibs-downloader: it downloads
  nothing). The same is done here, for the modules the generator.yml names and what they
  import, with smistrip of Debian's smistrip package; the package is unpacked, never
  installed.
- The generator: trixie's prometheus-snmp-generator (0.28.0) with trixie's net-snmp 5.9.4,
  run by trixie's own dynamic loader (its libraries need glibc >= 2.38, this machine has
  2.36). Not sid's 0.30.1: it reads net-snmp's private `tclist` through a copy of its
  struct, which gained a member in net-snmp 5.9.5 (sid's libsnmp45), so it segfaults with
  sid's library (fixed upstream after v0.30.1: prometheus/snmp_exporter#1550). The modules
  it writes have the same shape as 0.30.1's (auths apart from modules since 0.23.0).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from pathlib import Path

from . import debian

SUITE = "trixie"
# the module names of the MIBs the generator.yml walks; what they import is added
MIB_ROOTS = ("SNMPv2-MIB", "IF-MIB", "IP-MIB")
GENERATOR_YML = """\
auths:
  public_v1:
    version: 1
  public_v2:
    version: 2

modules:
  system:
    walk:
      - "SNMPv2-MIB::system"
    lookups:
      - source_indexes: [sysORIndex]
        lookup: "SNMPv2-MIB::sysORDescr"
  if_mib:
    walk:
      - "IF-MIB::interfaces"
      - "IF-MIB::ifXTable"
    lookups:
      - source_indexes: [ifIndex]
        lookup: "IF-MIB::ifAlias"
      - source_indexes: [ifIndex]
        lookup: "IF-MIB::ifDescr"
      - source_indexes: [ifIndex]
        lookup: "IF-MIB::ifName"
    overrides:
      ifAlias:
        ignore: true
      ifDescr:
        ignore: true
      ifName:
        ignore: true
      ifType:
        type: EnumAsInfo
  ip_mib:
    walk: [ipv4InterfaceTable]
"""


def _mib_sources(root: Path) -> dict[str, Path]:
    """MIB module name -> the RFC or IANA file of snmp-mibs-downloader that holds it, as
    its lists say (`<file> <module>[:<module>...]` a line)."""
    conf, share = root / "etc/snmp-mibs-downloader", root / "usr/share/snmp/mibs-downloader"
    sources = {}
    for listing, folder, name in (("rfclist", "mibrfcs", "rfc{}.txt.gz"),
                                  ("ianarfclist", "mibrfcs", "rfc{}.txt.gz"),
                                  ("ianalist", "mibiana", "{}.gz")):
        for line in (conf / listing).read_text().splitlines():
            fields = line.split()
            if len(fields) == 2 and not line.startswith("#"):
                for module in fields[1].split(":"):
                    sources[module] = share / folder / name.format(fields[0])
    return sources


def mibs() -> Path:
    """A folder holding the MIB modules MIB_ROOTS and all they import, extracted from the
    RFCs and IANA files snmp-mibs-downloader ships."""
    folder = debian.CACHE / SUITE / "snmp-mibs"
    if (folder / ".done").exists():
        return folder
    with debian._locked(debian.CACHE / SUITE / ".snmp-mibs.lock"):
        if (folder / ".done").exists():
            return folder
        downloader = debian.unpacked("snmp-mibs-downloader", ("snmp-mibs-downloader",),
                                     suite=SUITE, area="non-free")
        smistrip = debian.unpacked("smistrip", ("smistrip",), suite=SUITE) / "usr/bin/smistrip"
        sources = _mib_sources(downloader)
        folder.mkdir(parents=True, exist_ok=True)
        wanted, done = list(MIB_ROOTS), set()
        while wanted:
            module = wanted.pop()
            if module in done:
                continue
            if module not in sources:
                raise RuntimeError(f"no file of snmp-mibs-downloader holds the MIB {module}")
            subprocess.run(["sh", str(smistrip), "-a", "-d", str(folder), "-m", module,
                            str(sources[module])], check=True, capture_output=True)
            if not (folder / module).is_file():
                raise RuntimeError(f"smistrip found no {module} in {sources[module]}")
            done.add(module)
            text = (folder / module).read_text()
            imports = re.search(r"\bIMPORTS\b(.*?);", text, re.S)
            wanted += re.findall(r"\bFROM\s+([A-Za-z][\w-]*)", imports.group(1) if imports
                                 else "")
        (folder / ".done").write_text("")
    return folder


def generated_snmp_yml() -> Path:
    """snmp.yml generated from GENERATOR_YML (cached by its content)."""
    key = hashlib.sha256(GENERATOR_YML.encode()).hexdigest()[:12]
    out = debian.CACHE / SUITE / f"snmp_exporter-generated-{key}.yml"
    if out.exists():
        return out
    generator = debian.extract("snmp_exporter", suite=SUITE) / "usr/bin/prometheus-snmp-generator"
    libs = debian.unpacked("snmp-generator-libs", ("libc6", "libsnmp40t64", "libssl3t64"),
                           suite=SUITE)
    mib_dir = mibs()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "generator.yml").write_text(GENERATOR_YML)
        (work / "snmp-conf").mkdir()
        # HOME and SNMPCONFPATH away from this machine's net-snmp configuration and MIBs
        res = subprocess.run(
            [str(libs / "usr/lib64/ld-linux-x86-64.so.2"), "--library-path",
             str(libs / "usr/lib/x86_64-linux-gnu"), str(generator), "--fail-on-parse-errors",
             "-m", str(mib_dir), "generate", "-g", "generator.yml", "-o", "snmp.yml"],
            cwd=work, env={"HOME": tmp, "SNMPCONFPATH": str(work / "snmp-conf")},
            capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise RuntimeError(f"prometheus-snmp-generator failed: {res.stderr}")
        tmp_out = out.with_suffix(".tmp")
        tmp_out.write_bytes((work / "snmp.yml").read_bytes())
        tmp_out.rename(out)
    return out
