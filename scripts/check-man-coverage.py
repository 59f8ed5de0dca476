#!/usr/bin/env python3
"""Checks that the man pages in docs/man/ describe everything the programs have.

Nothing is listed by hand here: each list comes from the programs or their source.

- e3xctl.1: every subcommand, nested ones included (`e3xctl --help`, then `e3xctl CMD --help`
  for each, recursively), is a tagged paragraph (.TP) under COMMANDS whose tag starts with its
  command words ("inbox read ID ..."), and every option a subcommand's --help lists appears in
  that paragraph; the global options are described under OPTIONS, environment variables from
  the help under ENVIRONMENT, and every exit code of the `Exit` enum in daemon/e3xctl_main.cpp
  is a tag under EXIT STATUS.
- e3xd.8: every option of `e3xd --help` under OPTIONS, every kExit* code of daemon/host/host.hpp
  under EXIT STATUS.
- e3xd.toml.5: every configuration key e3xd accepts is a tag in a section whose heading names
  its table ("TOP-LEVEL KEYS", "... [udp] ...", "... [[peer]] ..."). The keys are found by
  asking e3xd itself: `e3xd --check-config` on a file with an unknown key answers with the list
  of allowed keys of that table (config/config.cpp, check_keys), and each table in a list is
  probed the same way.

usage: check-man-coverage.py E3XD E3XCTL
"""

import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAN = ROOT / "docs" / "man"
PROBE_KEY = "zz_man_coverage_probe"

problems = []


def problem(text):
    problems.append(text)


# ---- A small reader for the roff these pages use ----

ESCAPES = [
    (r"\-", "-"), (r"\(aq", "'"), (r"\(ti", "~"), (r"\(lq", '"'), (r"\(rq", '"'),
    (r"\(em", "--"), (r"\(en", "-"), (r"\&", ""), (r"\ ", " "), (r"\e", "\\"),
]


def plain(text):
    """Roff text without font changes and with the escapes used here resolved."""
    text = re.sub(r"\\f[BIRP]", "", text)
    for escape, replacement in ESCAPES:
        text = text.replace(escape, replacement)
    return text


def macro_args(rest):
    """The arguments of a macro line: words, or "quoted strings" with "" for a quote."""
    args = []
    for match in re.finditer(r'"((?:[^"]|"")*)"|(\S+)', rest):
        args.append(match.group(1).replace('""', '"') if match.group(1) is not None
                    else match.group(2))
    return args


def text_of_line(line):
    """What a line of roff puts on the page (None for a request that prints nothing)."""
    if not line.startswith((".", "'")):
        return plain(line)
    match = re.match(r"[.']\s*(\S+)\s*(.*)", line)
    if not match:
        return None
    name, rest = match.groups()
    if name in ("B", "I", "SM", "SB"):
        return plain(" ".join(macro_args(rest)))
    if name in ("BR", "RB", "BI", "IB", "IR", "RI"):
        return plain("".join(macro_args(rest)))
    return None


class Item:
    def __init__(self, section, tag):
        self.section = section
        self.tag = tag
        self.body = []

    def text(self):
        return " ".join([self.tag] + self.body)


def read_page(path):
    """The page as (sections: heading -> list of text lines, items: tagged paragraphs)."""
    lines = []
    for raw in path.read_text().splitlines():
        if raw.startswith('.\\"'):
            continue
        if lines and lines[-1].endswith("\\") and not lines[-1].endswith("\\\\"):
            lines[-1] = lines[-1][:-1] + raw
        else:
            lines.append(raw)
    sections = {}
    items = []
    heading = ""
    item = None
    expect_tag = False
    for line in lines:
        match = re.match(r"\.(SH|SS)\s*(.*)", line)
        if match:
            heading = plain(" ".join(macro_args(match.group(2))))
            if match.group(1) == "SH":
                sections.setdefault(heading, [])
            item = None
            continue
        if re.match(r"\.(TP)\b", line):
            expect_tag = True
            continue
        if re.match(r"\.(PP|LP|P|IP)\b", line):
            item = None
            continue
        text = text_of_line(line)
        if text is None:
            continue
        if expect_tag:
            item = Item(heading, text.strip())
            items.append(item)
            expect_tag = False
        elif item is not None:
            item.body.append(text)
        sections.setdefault(heading, []).append(text)
    return sections, items


def words_of(text):
    return set(re.findall(r"[-\w.]+", text))


# ---- The programs' own lists ----

def run(*command):
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    return result.returncode, result.stdout + result.stderr


def help_of(program, path=()):
    """(options, env vars, subcommands) that `program PATH... --help` lists."""
    code, out = run(program, *path, "--help")
    if code != 0:
        problem(f"{' '.join([program, *path])} --help failed ({code}): {out}")
        return set(), set(), []
    options, env, subcommands = set(), set(), []
    in_subcommands = False
    for line in out.splitlines():
        if re.match(r"^\S", line) or line.strip().startswith("[Option Group"):
            in_subcommands = line.startswith("Subcommands:")
            continue
        match = re.match(r"^\s+(-[-\w]+(?:,\s*-[-\w]+)*)", line)
        if match and not in_subcommands:
            options.update(o.strip() for o in match.group(1).split(","))
        env.update(re.findall(r"\(Env:(\w+)\)", line))
        match = re.match(r"^  ([a-z][-\w]*)\s", line)
        if in_subcommands and match:
            subcommands.append(match.group(1))
    return options - {"-h", "--help"}, env, subcommands


def exit_codes(source, pattern):
    text = (ROOT / source).read_text()
    codes = sorted({int(code) for code in re.findall(pattern, text)})
    if not codes:
        problem(f"no exit codes found in {source} (pattern {pattern}); update this script")
    return codes


def probe_keys(e3xd, path):
    """Keys of the table at `path` (a list of (name, is_array)); [] is the top level."""
    headers = []
    for depth, (name, is_array) in enumerate(path):
        dotted = ".".join(n for n, _ in path[: depth + 1])
        if is_array:
            headers.append(f"[[{dotted}]]")
        elif depth == len(path) - 1:
            headers.append(f"[{dotted}]")
    text = "\n".join(headers + [f"{PROBE_KEY} = 1", ""])
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as file:
        file.write(text)
        file.flush()
        code, out = run(e3xd, "--check-config", file.name)
    match = re.search(r"unknown key '" + PROBE_KEY + r"'.*?; allowed (?:top-level keys|keys in "
                      r"\S+): (.*)$", out, re.M)
    if code == 0 or not match:
        problem(f"could not list the configuration keys of {headers or 'the top level'}: "
                f"e3xd --check-config on\n{text}said ({code}): {out.strip()}\n"
                "(this script reads the 'allowed keys' list of e3xd's unknown-key error)")
        return []
    keys = []
    for shown in match.group(1).split(", "):
        shown = shown.strip()
        if shown.startswith("[[") and shown.endswith("]]"):
            keys.append((shown[2:-2].split(".")[-1], True, shown))
        elif shown.startswith("[") and shown.endswith("]"):
            keys.append((shown[1:-1].split(".")[-1], False, shown))
        else:
            keys.append((shown, None, shown))
    return keys


# ---- The checks ----

def check_config_keys(e3xd):
    sections, items = read_page(MAN / "e3xd.toml.5")
    count = 0

    def walk(path, shown_table):
        nonlocal count
        if path:
            places = [h for h in sections if shown_table.lower() in h.lower()]
            where = f"a section whose heading names {shown_table}"
        else:
            places = [h for h in sections if "TOP-LEVEL" in h.upper()]
            where = "the TOP-LEVEL KEYS section"
        if not places:
            problem(f"e3xd.toml.5: no {where}")
        for name, is_array, shown in probe_keys(e3xd, path):
            count += 1
            dotted = ".".join([n for n, _ in path] + [name])
            tagged = [i for i in items if i.section in places and i.tag.split()[:1] == [name]]
            if not tagged:
                problem(f"e3xd.toml.5: the key {dotted} ({shown}) is not described: add a .TP "
                        f"paragraph starting with '{name}' in {where}")
            if is_array is not None:
                walk(path + [(name, is_array)], shown)

    walk([], None)
    print(f"check-man-coverage: {count} configuration keys")


def check_e3xctl(e3xctl):
    sections, items = read_page(MAN / "e3xctl.1")
    options, env, subcommands = help_of(e3xctl)
    options_text = " ".join(sections.get("OPTIONS", []))
    for option in sorted(options):
        if option not in words_of(options_text):
            problem(f"e3xctl.1: the option {option} is not described under OPTIONS")
    env_text = " ".join(sections.get("ENVIRONMENT", []))
    for name in sorted(env):
        if name not in words_of(env_text):
            problem(f"e3xctl.1: the environment variable {name} is not under ENVIRONMENT")

    commands = []
    pending = [(name,) for name in subcommands]
    while pending:
        path = pending.pop(0)
        commands.append(path)
        sub_options, _, nested = help_of(e3xctl, path)
        pending.extend(path + (name,) for name in nested)
        paragraphs = []
        for item in items:
            if item.section != "COMMANDS":
                continue
            words = []
            for token in item.tag.split():
                if not re.fullmatch(r"[a-z][-a-z0-9]*", token):
                    break
                words.append(token)
            if tuple(words) == path:
                paragraphs.append(item)
        name = " ".join(path)
        if not paragraphs:
            problem(f"e3xctl.1: the command '{name}' is not described: add a .TP paragraph "
                    f"under COMMANDS whose tag starts with '{name}'")
            continue
        text = words_of(" ".join(p.text() for p in paragraphs))
        for option in sorted(sub_options):
            if option not in text:
                problem(f"e3xctl.1: the option {option} of '{name}' is not in its paragraph")

    status = [i.tag for i in items if i.section == "EXIT STATUS"]
    for code in exit_codes("daemon/e3xctl_main.cpp", r"kExit\w+\s*=\s*(\d+)\s*,"):
        if str(code) not in status:
            problem(f"e3xctl.1: exit status {code} is not under EXIT STATUS")
    print(f"check-man-coverage: {len(commands)} e3xctl commands: "
          + ", ".join(" ".join(c) for c in commands))


def check_e3xd(e3xd):
    sections, items = read_page(MAN / "e3xd.8")
    options, _, _ = help_of(e3xd)
    options_text = " ".join(sections.get("OPTIONS", []))
    for option in sorted(options):
        if option not in words_of(options_text):
            problem(f"e3xd.8: the option {option} is not described under OPTIONS")
    status = [i.tag for i in items if i.section == "EXIT STATUS"]
    for code in exit_codes("daemon/host/host.hpp", r"constexpr int kExit\w+\s*=\s*(\d+);"):
        if str(code) not in status:
            problem(f"e3xd.8: exit status {code} is not under EXIT STATUS")
    print(f"check-man-coverage: e3xd options {', '.join(sorted(options))}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    e3xd, e3xctl = sys.argv[1:]
    check_e3xd(e3xd)
    check_e3xctl(e3xctl)
    check_config_keys(e3xd)
    if problems:
        for text in problems:
            print("check-man-coverage: " + text, file=sys.stderr)
        sys.exit(1)
    print("check-man-coverage: the man pages cover every command, option, key and exit code")


if __name__ == "__main__":
    main()
