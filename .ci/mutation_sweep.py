"""A quick sweep of mutmut's mutants: each applied in turn to a checkout, a few focused test files
run on it, killed or survived written down (docs/testing.md, "sweeps").

    make mutation-sweep NAMES=names.txt OUT=sweep.jsonl TESTS='tests/test_rules.py tests/policy'
    .venv/bin/python .ci/mutation_sweep.py CHECKOUT OUT.jsonl NAMES_FILE -- pytest args...

mutmut runs every test that reaches a function on each of its mutants: for the decision path,
hundreds, minutes per survivor. A sweep runs the test files named, stopping at the first
failure; what survives it is then read, and tried against wider tests, by hand. Generate the
mutants first (`make mutation MUTANTS=…`, which leaves them in mutants/).

NAMES_FILE: one mutant name per line (e.g. registry.audit.chain.x_seal__mutmut_3). The diff comes
from `mutmut show` in this repository. Each mutant is applied to CHECKOUT (a git worktree of its
own, so that a run never touches the working copy), `pytest -x -q -p no:xdist <args>` runs
there (at most 300 s), and the file is put back. Exit status 0: survived; 1: killed; anything
else is written down as it is (a collection error is not counted as a kill). Names already in
OUT.jsonl are skipped, so a stopped sweep picks up where it was.

With REGISTRY_TEST_SQLITE_TEMPLATE=/tmp/some.db in the environment, the tests' database is
migrated and seeded once into that file and copied by every run (tests/conftest.py): about 8 of
the 16 s a one-test run took here, 9 of 36 s for tests/usage, on a busy machine. Delete the file
when migrations or the demo change.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


def hunks(diff: str):
    """(path, [(tag, text), …]) per hunk of a unified diff; tag is " ", "-" or "+"."""
    path, cur = None, None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            path = line[4:].strip()
        elif line.startswith("--- "):
            continue
        elif line.startswith("@@"):
            cur = []
            yield path, cur
        elif cur is not None and line[:1] in (" ", "-", "+", ""):
            cur.append((line[:1] or " ", line[1:]))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def apply(wt: str, diff: str):
    """Apply ``diff`` to the checkout ``wt``. Each hunk's old lines must match exactly one place
    in the file, compared without their leading spaces: mutmut shows a method dedented to the
    module's level (but not the lines of its docstring), and numbers lines from the function, so
    GNU patch refuses its hunks. Added lines take the indentation the removed ones had in the
    file. Returns the file's path and its text before; ValueError when a hunk does not match."""
    found = list(hunks(diff))
    if not found:
        raise ValueError("no hunk")
    path = found[0][0]
    full = os.path.join(wt, path)
    original = Path(full).read_text()
    lines = original.split("\n")
    for _, hunk in found:
        old = [text.strip() for tag, text in hunk if tag in " -"]
        at = [i for i in range(len(lines) - len(old) + 1)
              if [line.strip() for line in lines[i:i + len(old)]] == old]
        if len(at) != 1:
            raise ValueError(f"hunk matches {len(at)} times")
        i, shift, out = at[0], 0, []
        for tag, text in hunk:
            if tag == "+":
                out.append(" " * max(0, _indent(text) + shift) + text.lstrip(" ") if text.strip() else text)
                continue
            shift = _indent(lines[i]) - _indent(text) if text.strip() else shift
            if tag == " ":
                out.append(lines[i])
            i += 1
        lines[at[0]:i] = out
    Path(full).write_text("\n".join(lines))
    return full, original


def main():
    wt, out, names_file = sys.argv[1:4]
    args = sys.argv[sys.argv.index("--") + 1:]
    done = set()
    if os.path.exists(out):
        done = {json.loads(l)["name"] for l in open(out) if l.strip()}
    names = [n.strip() for n in open(names_file) if n.strip() and n.strip() not in done]
    env = dict(os.environ, PYTHONPATH=wt)
    for name in names:
        shown = subprocess.run([str(BIN / "mutmut"), "show", name], cwd=ROOT,
                               capture_output=True, text=True).stdout
        diff = shown[shown.find("--- "):] if "--- " in shown else ""
        try:
            full, original = apply(wt, diff)
        except (ValueError, OSError) as exc:
            status = f"not-applied: {exc}"
        else:
            try:
                r = subprocess.run([str(BIN / "pytest"), "-x", "-q", "-p", "no:xdist",
                                    "-p", "no:cacheprovider", *args], cwd=wt, env=env,
                                   capture_output=True, text=True, timeout=300)
                status = "survived" if r.returncode == 0 else "killed" if r.returncode == 1 else f"exit{r.returncode}"
            except subprocess.TimeoutExpired:
                status = "timeout"
            finally:
                Path(full).write_text(original)
        with open(out, "a") as f:
            f.write(json.dumps({"name": name, "status": status}) + "\n")
        print(name, status, flush=True)


if __name__ == "__main__":
    main()
