"""The fact the fact batch asks in place of FilesState, DirectoriesState and
InstalledProgram (see operations/base/fact_batch.py): their answers, from one `stat`."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from operations.base.facts import (DirectoriesState, FilesState, InstalledProgram,
                                   program_stamp, tagged_lines)


class PathsState(FactBase):
    """FilesState, DirectoriesState and InstalledProgram asked together by the fact batch:
    one `stat` for every file, folder and program a host is asked about, where the three
    asked apart start three (a program started costs a small host ~1 ms of CPU, and a
    no-op run asks all three of every host). {"files": FilesState's answer, "dirs":
    DirectoriesState's, "programs": {path: InstalledProgram's}}; `answer_for` hands each
    fact its own."""

    @staticmethod
    def gathers(cls, kwargs: dict) -> bool:
        """Can the fact `cls`, asked with `kwargs`, be answered from this one?"""
        if cls is InstalledProgram:
            return isinstance(kwargs.get("path"), str)
        return (cls in (FilesState, DirectoriesState)
                and isinstance(kwargs.get("paths"), list)
                and all(v is None for k, v in kwargs.items() if k != "paths"))

    @staticmethod
    def gather(records: list[dict]) -> dict:
        """This fact's arguments for the records it answers."""
        paths = {"FilesState": set(), "DirectoriesState": set(), "InstalledProgram": set()}
        for record in records:
            kwargs = record["kwargs"]
            if record["name"] == "InstalledProgram":
                paths["InstalledProgram"].add(kwargs["path"])
            else:
                paths[record["name"]].update(kwargs["paths"])
        return {"files": sorted(paths["FilesState"]), "dirs": sorted(paths["DirectoriesState"]),
                "programs": sorted(paths["InstalledProgram"])}

    @staticmethod
    def answer_for(state, record: dict):
        """The answer of the fact one record asked, out of this fact's answer."""
        kwargs = record["kwargs"]
        if record["name"] == "InstalledProgram":
            return state["programs"].get(kwargs["path"])
        if record["name"] == "FilesState":
            return FilesState.pick(state["files"], kwargs["paths"])
        return DirectoriesState.pick(state["dirs"], kwargs["paths"])

    def command(self, files=(), dirs=(), programs=()) -> str:
        def each(paths):
            return " ".join(shlex.quote(p) for p in paths)
        regular = "[ -f \"$p\" ] && [ ! -L \"$p\" ]"
        # "<kind> present|other|missing <path>" for each path asked, then one stat of the
        # present ones: "stat <user> <group> <mode> = <size> <ctime> <inode> <path>" (the
        # identity last but the path: a program's stamp is matched against its end)
        script = ("echo paths:; set --; "
                  f"for p in {each(files)}; do if {regular}; then set -- \"$@\" \"$p\"; "
                  "echo \"file present $p\"; elif [ -e \"$p\" ] || [ -L \"$p\" ]; then "
                  "echo \"file other $p\"; else echo \"file missing $p\"; fi; done; "
                  f"for p in {each(dirs)}; do "
                  "if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then set -- \"$@\" \"$p\"; "
                  "echo \"dir present $p\"; elif [ -e \"$p\" ] || [ -L \"$p\" ]; then "
                  "echo \"dir other $p\"; else echo \"dir missing $p\"; fi; done; "
                  f"for p in {each(programs)}; do if [ -e \"$p\" ]; then "
                  "set -- \"$@\" \"$p\"; echo \"program present $p\"; "
                  "else echo \"program missing $p\"; fi; done; "
                  "st=; if [ $# -gt 0 ]; then "
                  "st=$(stat -L -c 'stat %U %G %a = %s %.9Z %i %n' -- \"$@\"); "
                  "printf '%s\\n' \"$st\"; fi; ")
        if files:
            script += (f"set --; for p in {each(files)}; do if {regular}; then "
                       "set -- \"$@\" \"$p\"; fi; done; "
                       "if [ $# -gt 0 ]; then sha1sum -- \"$@\"; fi; ")
        for path in programs:
            q, stamp = shlex.quote(path), shlex.quote(program_stamp(path))
            hashed = f"echo \"sum $(sha1sum < {q} | cut -d' ' -f1) hashed \"{q}"
            # as InstalledProgram: the sha1 recorded at install, while the identity holds
            # (an empty one matches no line: stat prints no empty field)
            script += (f"if [ -e {q} ]; then k=; h=; "
                       f"[ -f {stamp} ] && {{ read -r k; read -r h; }} < {stamp}; "
                       f"case \"$st\n\" in *\" = $k \"{q}\"\n\"*) "
                       f"echo \"sum $h stamped \"{q};; *) {hashed};; esac; fi; ")
        return script + "true"

    def process(self, output):
        asked = {"file": {}, "dir": {}, "program": {}}
        stats, sha1s, sums = {}, {}, {}
        for kind, rest in tagged_lines(output):
            if kind in asked:
                found, _, path = rest.partition(" ")
                asked[kind][path] = found
            elif kind == "stat":
                user, group, mode, _, _size, _ctime, _inode, path = rest.split(" ", 7)
                stats[path] = {"user": user, "group": group, "mode": int(mode)}
            elif kind == "sum":
                sha1, _, rest = rest.partition(" ")
                how, _, path = rest.partition(" ")
                sums[path] = (sha1, how)
            elif len(kind) == 40 and rest.startswith(" "):
                sha1s[rest[1:]] = kind

        # each in the shape of the fact asking it alone (FilesState, DirectoriesState,
        # InstalledProgram): one gone before stat reached it is missing
        def file(path, found):
            if found == "present" and path in stats:
                return {**stats[path], "sha1": sha1s.get(path)}
            return "other" if found == "other" else None

        def folder(path, found):
            if found == "present" and path in stats:
                return dict(stats[path])
            return False if found == "other" else None

        def program(path, found):
            sha1, how = sums.get(path, ("", ""))
            if found != "present" or path not in stats or not sha1:
                return None
            return {**stats[path], "sha1": sha1, "stamped": how == "stamped"}

        return {"files": {"files": {p: file(p, f) for p, f in asked["file"].items()},
                          "present": []},
                "dirs": {p: folder(p, f) for p, f in asked["dir"].items()},
                "programs": {p: program(p, f) for p, f in asked["program"].items()}}
