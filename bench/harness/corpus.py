# SPDX-License-Identifier: Apache-2.0
"""The benchmark corpus, generated here (never downloaded) and cached under the build directory.

- tree: a source-like tree (C++/C/Python/JS/docs/JSON) with log-normal file sizes and a few lines
  that the grep cases must find, at known places.
- bigdir: one directory holding many empty files (the ls case).
- the text stream is not stored: cases produce it on the fly with `yes | head -c N`.

A finished corpus leaves a manifest (its parameters and what it holds); a directory without one
(an interrupted run) is removed and made again. Generation is seeded: the same parameters give the
same files on every machine.
"""
import json
import math
import os
import random
import shutil

# Bump when the generator changes what it writes, so cached corpora are rebuilt.
GENERATOR_VERSION = 2

# What the grep cases look for. The filler vocabulary never contains "needle", so these lines
# are the only matches.
LITERAL = "TODO(bench-needle): drop this workaround"
REGEX = r"needle_[a-z]+_[0-9]{3}\("

_WORDS = (
    "auto const int size_t std string vector map return if else for while struct class public "
    "private static void bool true false nullptr template typename namespace include define "
    "buffer result status error config value index count offset length path entry stream "
    "request response handler session sandbox plugin workspace command output input token "
    "parse serialize read write open close flush lock mutex thread worker queue event step "
    "import from def self async await yield lambda dict list tuple none export function let "
    "var module require object array number label format message debug info warn trace"
).split()
_PUNCT = ["(", ")", "{", "}", ";", ",", " = ", " == ", " + ", "->", "::", ".", "[", "]", ": "]

# Extension, share of files. Sizes come from one log-normal for all (median ~3 KiB).
_KINDS = [(".cpp", 26), (".hpp", 12), (".h", 6), (".c", 8), (".py", 12), (".js", 10),
          (".md", 6), (".txt", 6), (".json", 8), (".rs", 6)]
_TOP = ["src", "include", "lib", "tests", "docs", "tools", "third_party", "examples", "bench",
        "scripts", "plugins", "sdk"]


def _line_pool(rng, n=4000):
    pool = []
    for _ in range(n):
        indent = "    " * rng.randint(0, 3)
        parts = []
        for _ in range(rng.randint(0, 12)):
            parts.append(rng.choice(_WORDS))
            if rng.random() < 0.5:
                parts.append(rng.choice(_PUNCT))
            else:
                parts.append(" ")
        pool.append((indent + "".join(parts)).rstrip() + "\n")
    return pool


def _cached(base, params, what, log, make):
    """The manifest of the corpus in `base` when it was finished with these parameters; else
    `base` is emptied and make(root, rng) fills `base`/data and returns what goes in the manifest
    (beside the data, not in it, so no tool searching the data sees it)."""
    try:
        with open(os.path.join(base, ".manifest.json")) as f:
            m = json.load(f)
        if m.get("params") == params and m.get("version") == GENERATOR_VERSION:
            return m
    except (OSError, ValueError):
        pass
    root = os.path.join(base, "data")
    log("corpus: generating %s under %s" % (what, root))
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(root)
    m = dict(make(root, random.Random(16)), root=root, params=params, version=GENERATOR_VERSION)
    with open(os.path.join(base, ".manifest.json"), "w") as f:
        json.dump(m, f, indent=1)
    return m


def tree(cache_dir, files, log=print):
    """A source-like tree of `files` files. Returns its manifest: root, counts, expected matches."""
    return _cached(os.path.join(cache_dir, "tree-%d" % files), {"files": files},
                   "a tree of %d files" % files, log, lambda root, rng: _make_tree(root, rng, files))


def _make_tree(root, rng, files):
    pool = _line_pool(rng)
    exts = [e for e, _ in _KINDS]
    weights = [w for _, w in _KINDS]
    per_dir = 30
    dirs = []
    for i in range(max(1, files // per_dir)):
        depth = rng.randint(1, 4)
        d = [rng.choice(_TOP)] + ["%s_%d" % (rng.choice(_WORDS), rng.randint(0, 40))
                                  for _ in range(depth - 1)]
        dirs.append(os.path.join(*d, "m%d" % i))
    counts = {e: 0 for e in exts}
    total_bytes = 0
    paths = []
    for i in range(files):
        d = dirs[i % len(dirs)]
        ext = rng.choices(exts, weights)[0]
        counts[ext] += 1
        size = int(min(400_000, max(40, rng.lognormvariate(math.log(3000), 1.0))))
        lines = rng.choices(pool, k=max(1, size // 36))
        paths.append((os.path.join(d, "%s_%d%s" % (rng.choice(_WORDS), i, ext)), lines))
    # The needles: a literal in a dozen files, a regex on about thirty lines, at seeded places.
    literal_at = rng.sample(range(files), min(12, files))
    regex_at = rng.sample(range(files), min(31, files))
    for i in literal_at:
        lines = paths[i][1]
        lines.insert(rng.randrange(len(lines) + 1), "    // " + LITERAL + "\n")
    regex_lines = 0
    for i in regex_at:
        lines = paths[i][1]
        word = rng.choice(["alpha", "beta", "gamma", "delta"])
        lines.insert(rng.randrange(len(lines) + 1),
                     "    needle_%s_%03d(ctx);\n" % (word, rng.randrange(1000)))
        regex_lines += 1
    made = set()
    for rel, lines in paths:
        full = os.path.join(root, rel)
        parent = os.path.dirname(full)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        data = "".join(lines).encode()
        total_bytes += len(data)
        with open(full, "wb") as f:
            f.write(data)
    return {"files": files, "dirs": len(made), "bytes": total_bytes, "by_extension": counts,
            "literal": LITERAL, "literal_matches": len(literal_at), "regex": REGEX,
            "regex_matches": regex_lines}


def bigdir(cache_dir, entries, log=print):
    """One directory with `entries` empty files. Returns its manifest."""
    def make(root, _rng):
        for i in range(entries):
            os.close(os.open(os.path.join(root, "entry_%06d.txt" % i),
                             os.O_CREAT | os.O_WRONLY, 0o644))
        return {"entries": entries}
    return _cached(os.path.join(cache_dir, "bigdir-%d" % entries), {"entries": entries},
                   "a directory of %d entries" % entries, log, make)


# One line of the text stream: a build-log line of typical length (81 bytes with its newline).
STREAM_LINE = "[ 42%] Building CXX object host/CMakeFiles/core.dir/config.cpp.o # ok 0123456789"


def stream_command(nbytes, nul=False):
    """A shell pipeline that writes `nbytes` of text to stdout.

    The NUL variant is the same line with every space a NUL byte (8 a line, 10% of the bytes,
    each escaped by JSON), written by perl (perl-base is essential in Debian) in 160 KiB blocks:
    as cheap a producer as `yes`, so the baseline measures the same kind of pipeline. (`tr` would
    triple the baseline's time and hide what the candidate adds.)"""
    if not nul:
        return "yes '%s' | head -c %d" % (STREAM_LINE, nbytes)
    perl = ('$b = q{%s} . "\\n"; $b =~ tr/ /\\0/; $b x= 2048; 1 while syswrite STDOUT, $b'
            % STREAM_LINE)
    return "perl -e '%s' | head -c %d" % (perl, nbytes)
