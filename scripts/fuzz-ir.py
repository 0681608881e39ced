#!/usr/bin/env python3
"""A mutation fuzzer for attn's IR: finds the inputs that crash or hang the
compiler.

It takes every `.mlir` file under examples/ and test/ that holds an `attn.`
op (split on `// -----`; cases with `expected-error` annotations and
test/Integration/GPU are left out) as seeds, mutates them and compiles each
mutant with a wall-clock limit. A mutant gets 1 to 4 mutations, each a
short note kept for the report:

  * a static dimension of a `tensor<...>` type set to an awkward or huge
    size (0, 1, 7, 65, 16384, 2^31, 2^63-1, ...) or to `?`, in one type, in
    every copy of that type, or in every tensor of that rank at that
    position (so that q, k, v and the result still agree);
  * an integer of a mask attribute (left, right, dilation, stride, block,
    summary, query_block, key_block, tokens) set to such a size, a negative
    or a value beyond int64;
  * a mask swapped for another kind, or nested in #attn.union or
    #attn.intersection with a random mask;
  * an optional clause (key_lengths, mask, scale, heads, kv_heads, ...)
    dropped, duplicated, swapped with another, added or given an odd value,
    or the attn.strategy attribute changed;
  * an element type flipped (f32, f16, bf16, f64, i32);
  * a random token or line deleted or duplicated.

Each mutant runs through every pipeline of --pipelines (default cpu):

  cpu             attn-opt --mlir-disable-threading --attn-lower-to-llvm-cpu
                      FILE -o /dev/null
  nvvm            attn-opt --mlir-disable-threading --attn-lower-to-nvvm
                      FILE -o /dev/null   (emits PTX only: needs no GPU)
  translate       attn-translate FILE -o OUT.so
  translate-cuda  attn-translate --target cuda FILE -o OUT.so

and its outcome is one of

  ok          exit 0
  diagnostic  non-zero exit with an `error:` and no crash signature
  crash       killed by a signal, or output with `LLVM ERROR`, a stack
              dump, a failed assertion, `terminate called` or a sanitizer
              report
  timeout     still running after --timeout seconds: it gets SIGQUIT (LLVM's
              handler then prints the stack: where it hangs), then its
              process group gets SIGKILL
  silent      non-zero exit without any `error:`
  upstream    a crash of MLIR itself on an op that is not attn's, which
              stock mlir-opt-22 shows too (KNOWN_UPSTREAM): counted, not a
              finding

Each compilation runs under an address-space limit (--memory-limit, 4 GiB):
a mutant that makes the compiler allocate without bound dies as a crash
("LLVM ERROR: out of memory") instead of taking the machine's memory.

crash, timeout and silent are findings. A crash or timeout of attn-opt is
compiled once more with MLIR's pass crash reproducer, which names the pass
that was running. A finding's signature is its message (LLVM ERROR,
assertion, sanitizer or signal, numbers replaced by N), the innermost frame
of the stack dump that says something, the innermost attn frame, and the
pass in brackets; for a timeout, only the last two. With --out DIR each
finding is written to DIR/<family>-<n>.mlir (family: outcome, pipeline and
signature; n: the mutant's number), behind a header naming the seed, the
mutations, the command and the signature, and followed by the start of the
tool's output. The summary counts the outcomes and the findings per
signature. The exit status is 1 if there was any finding, 2 if a pipeline
rejects a valid module (a broken build), else 0.

The mutants depend only on --seed, the seed files and their number: the same
seed and budget give the same mutants in the same order, whatever --jobs is,
and the report lists them in that order (--dry-run prints them). --first N
starts at mutant N of that sequence, so a long campaign can run in parts:
--budget 10000 interrupted after mutant M (Ctrl-C prints the summary so
far), then --first M+1 --budget 10000.

--log FILE appends a JSON line per compilation (for the slow but successful
ones, say); --avoid REGEX makes no mutant with a mutation note that matches
(to look past a family already known); --replay FILE... compiles given files
(a shrunk reproducer) and prints each outcome and signature.

Usage:
  scripts/fuzz-ir.py [--bin DIR] [--seed N] [--budget N] [--first N]
                     [--time-budget S]
                     [--timeout S] [--jobs J] [--pipelines cpu,nvvm,...]
                     [--target cpu|nvvm] [--tool opt|translate]
                     [--memory-limit MIB] [--out DIR] [--seeds-only]
                     [--avoid REGEX] [--log FILE] [--dry-run]
                     [--replay FILE...] [--quiet]

`make test` runs a small budget through the three CPU and GPU compilers
(ctest's fuzz/ir, test/CMakeLists.txt), and `make fuzz` the long campaign:

  scripts/fuzz-ir.py --bin build/bin --budget 200 --seed 0 \\
      --pipelines cpu,nvvm,translate --jobs N --quiet --out DIR
  scripts/fuzz-ir.py --bin build/bin --budget 10000 --seed 0 \\
      --pipelines cpu,nvvm,translate --jobs N --out build/fuzz-findings
"""

import argparse
import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import pathlib
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------
# Values the mutations insert.

# Sizes at the edges: empty, scalar-like, odd, just past a power of two (tile
# and vector tails), large enough to unroll or allocate too much, and at the
# limits of int32 and int64 (overflows in size arithmetic).
AWKWARD_SIZES = (0, 1, 2, 3, 7, 17, 63, 65, 127, 1000, 4096, 16384, 65536,
                 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1)
NEGATIVE_VALUES = (-1, -2, -17, -(2**31), -(2**63))
# Beyond int64: the attribute parser must reject them, not wrap them.
OUT_OF_RANGE_VALUES = (2**63, 2**64)
# The sizes of a random mask: mostly plausible, so that the mask itself
# verifies and the mutant reaches the lowering.
PLAUSIBLE_MASK_SIZES = (0, 1, 2, 3, 4, 7, 8, 16, 17, 31, 64, 127, 256)

ELEMENT_TYPES = ("f32", "f16", "bf16", "f64", "i32")
ALIGNMENTS = ("top_left", "bottom_right")
BLOCK_RELATIONS = ("lt", "le", "eq", "ge", "gt", "ne")
SCALES = ("0.0", "-1.0", "1.0e-300", "1.0e+300", "0x7FF0000000000000",
          "0x7FF8000000000000", "1")
STRATEGIES = ("flash", "materialized", "decode", "linear", "")

MUTATIONS_PER_MUTANT = (1, 1, 2, 2, 3, 4)

# ---------------------------------------------------------------------------
# Outcomes.

OUTCOMES = ("ok", "diagnostic", "crash", "timeout", "silent", "upstream")
FINDINGS = ("crash", "timeout", "silent")
CRASH_MARKERS = ("LLVM ERROR", "PLEASE submit a bug report", "Stack dump",
                 "Assertion", "terminate called", "AddressSanitizer",
                 "UndefinedBehaviorSanitizer", "runtime error:")
# Crashes of MLIR 22 itself on ops that are not attn's, which stock
# mlir-opt-22 shows too: counted as "upstream", not as findings of attn.
KNOWN_UPSTREAM = (
    # A permutation or dimension list with a dangling comma ("[1, ]"): the
    # parser emits "expected integer value", then dereferences the null
    # attribute it kept.
    "custom op parser 'linalg.transpose'",
    "custom op parser 'linalg.broadcast'",
)

# A hung process gets SIGQUIT first and this long to print its stack.
STACK_DUMP_GRACE_S = 10
# locate_pass's rerun of a hang gets SIGABRT, and this long to write the
# crash reproducer (the IR the pass was given) and name the pass.
REPRODUCER_GRACE_S = 60
# How much of a finding's output its file keeps.
OUTPUT_LINES = 30
# How long to wait for a binary that is being relinked.
MISSING_BINARY_RETRIES = 30  # one minute
MISSING_BINARY_WAIT_S = 2

# A module every pipeline compiles: checked first, so that a broken build
# reads as one error and not as thousands of "findings".
SANITY_MODULE = """\
func.func @sanity(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}
"""


# ---------------------------------------------------------------------------
# Seeds.

@dataclasses.dataclass(frozen=True)
class Seed:
    origin: str  # the file relative to the root, with "#case" when split
    text: str


def split_cases(text):
    return re.split(r"^// -----\s*$", text, flags=re.MULTILINE)


def strip_comment_lines(text):
    # RUN and CHECK lines mean nothing to the compiler, and without any
    # comment line the token and line mutations only ever hit code.
    lines = [line for line in text.splitlines()
             if not line.lstrip().startswith("//")]
    return "\n".join(lines).strip() + "\n"


def load_seeds(root):
    seeds = []
    paths = sorted(root.glob("examples/**/*.mlir")) + \
        sorted(root.glob("test/**/*.mlir"))
    for path in paths:
        relative = path.relative_to(root).as_posix()
        if relative.startswith("test/Integration/GPU/"):
            continue
        cases = split_cases(path.read_text(errors="replace"))
        for number, case in enumerate(cases):
            if "attn." not in case or "expected-error" in case:
                continue
            origin = relative if len(cases) == 1 else f"{relative}#{number}"
            seeds.append(Seed(origin, strip_comment_lines(case)))
    return seeds


# ---------------------------------------------------------------------------
# Mutations. Each takes the random generator and the module text, and
# returns (new text, note) or None where it does not apply.

# A ranked tensor type: its dimensions ("2x?x8x") and its element type.
TENSOR_TYPE = re.compile(r"tensor<((?:(?:\d+|\?)x)*)([A-Za-z_][\w.]*)>")
MASK_START = re.compile(r"#attn\.(\w+)<")
MASK_PARAM = re.compile(
    r"\b(left|right|dilation|stride|block|summary|query_block|key_block)"
    r"\s*=\s*(-?\d+)")
MASK_TOKENS = re.compile(r"\btokens\s*=\s*\[([^\]]*)\]")
ATTN_OP = re.compile(r"\battn\.(attention|multi_head|linear_attention|combine)\b")
CLAUSE = re.compile(
    r"\b(key_lengths|mask|scale|heads|kv_heads|source|state|feature_map|lse)"
    r"\s*\(")
STRATEGY_ATTR = re.compile(r'attn\.strategy\s*=\s*"[^"]*"')
TOKEN = re.compile(r"%[\w.$#-]+|#attn\.\w+|\d+(?:\.\d+)?(?:e[-+]?\d+)?"
                   r"|[A-Za-z_][\w.$]*|\S")


def replace_span(text, start, end, replacement):
    return text[:start] + replacement + text[end:]


def tensor_dims(match):
    return match.group(1).split("x")[:-1]


def format_tensor(dims, element_type):
    return "tensor<" + "".join(f"{d}x" for d in dims) + element_type + ">"


def awkward_size(rng):
    return str(rng.choice(AWKWARD_SIZES))


def awkward_parameter(rng):
    roll = rng.random()
    if roll < 0.70:
        return str(rng.choice(AWKWARD_SIZES))
    if roll < 0.95:
        return str(rng.choice(NEGATIVE_VALUES))
    return str(rng.choice(OUT_OF_RANGE_VALUES))


def mask_size(rng):
    if rng.random() < 0.8:
        return str(rng.choice(PLAUSIBLE_MASK_SIZES))
    return awkward_size(rng)


def random_mask(rng, depth=0):
    kinds = ["causal", "window", "global", "strided", "fixed", "blockwise"]
    if depth < 2:
        kinds += ["union", "intersection"]
    kind = rng.choice(kinds)
    flag = lambda name: f", {name} = true" if rng.random() < 0.3 else ""
    if kind == "causal":
        return f"#attn.causal<{rng.choice(ALIGNMENTS)}>"
    if kind == "window":
        dilation = f", dilation = {mask_size(rng)}" if rng.random() < 0.4 else ""
        return (f"#attn.window<left = {mask_size(rng)}, right = "
                f"{mask_size(rng)}, alignment = {rng.choice(ALIGNMENTS)}"
                f"{dilation}>")
    if kind == "global":
        tokens = sorted({int(mask_size(rng)) for _ in range(rng.randint(1, 3))})
        return f"#attn.global<tokens = [{', '.join(map(str, tokens))}]>"
    if kind == "strided":
        return (f"#attn.strided<stride = {mask_size(rng)}"
                f"{flag('bidirectional')}{flag('split_heads')}>")
    if kind == "fixed":
        return (f"#attn.fixed<block = {mask_size(rng)}, summary = "
                f"{mask_size(rng)}{flag('bidirectional')}"
                f"{flag('split_heads')}>")
    if kind == "blockwise":
        return (f"#attn.blockwise<query_block = {mask_size(rng)}, key_block = "
                f"{mask_size(rng)}, relation = {rng.choice(BLOCK_RELATIONS)}>")
    # Mostly two or three members; one is a diagnostic.
    count = rng.choice((1, 2, 2, 2, 3))
    members = [random_mask(rng, depth + 1) for _ in range(count)]
    return f"#attn.{kind}<[{', '.join(members)}]>"


def find_masks(text):
    """The outermost #attn mask attributes, as (start, end, kind)."""
    masks = []
    for match in MASK_START.finditer(text):
        if masks and match.start() < masks[-1][1]:
            continue  # a member of the previous union or intersection
        depth, position = 0, match.end() - 1
        while position < len(text):
            depth += {"<": 1, ">": -1}.get(text[position], 0)
            position += 1
            if depth == 0:
                masks.append((match.start(), position, match.group(1)))
                break
    return masks


def mutate_tensor_dim(rng, text):
    types = [m for m in TENSOR_TYPE.finditer(text) if tensor_dims(m)]
    if not types:
        return None
    chosen = rng.choice(types)
    dims = tensor_dims(chosen)
    index = rng.randrange(len(dims))
    old = dims[index]
    new = "?" if rng.random() < 0.1 else awkward_size(rng)
    if new == old:
        return None
    # Changing one type alone mostly gives a type mismatch in the parser.
    scope = rng.choice(("one", "type", "position", "position", "position"))

    def rewrite(match):
        match_dims = tensor_dims(match)
        if scope == "one":
            applies = match.start() == chosen.start()
        elif scope == "type":
            applies = match.group(0) == chosen.group(0)
        else:
            applies = (len(match_dims) == len(dims)
                       and match_dims[index] == old)
        if not applies:
            return match.group(0)
        match_dims[index] = new
        return format_tensor(match_dims, match.group(2))

    where = {"one": f"in one {chosen.group(0)}",
             "type": f"in every {chosen.group(0)}",
             "position": f"in every rank-{len(dims)} tensor"}[scope]
    return (TENSOR_TYPE.sub(rewrite, text),
            f"dim {index}: {old} -> {new} {where}")


def mutate_mask_param(rng, text):
    spans = [(start, end) for start, end, _ in find_masks(text)]
    inside = lambda m: any(s <= m.start() < e for s, e in spans)
    params = [m for m in MASK_PARAM.finditer(text) if inside(m)]
    token_lists = [m for m in MASK_TOKENS.finditer(text) if inside(m)]
    if not params and not token_lists:
        return None
    if params and (not token_lists or rng.random() < 0.8):
        param = rng.choice(params)
        new = awkward_parameter(rng)
        if new == param.group(2):
            return None
        return (replace_span(text, param.start(2), param.end(2), new),
                f"mask {param.group(1)}: {param.group(2)} -> {new}")
    tokens = rng.choice(token_lists)
    entries = [t.strip() for t in tokens.group(1).split(",") if t.strip()]
    action = rng.choice(("set", "set", "empty", "repeat", "reverse"))
    if action == "set" and entries:
        entries[rng.randrange(len(entries))] = awkward_parameter(rng)
    elif action == "repeat" and entries:
        entries.append(entries[0])
    elif action == "reverse":
        entries = entries[::-1] + [awkward_size(rng)]
    else:
        entries = []
    new = ", ".join(entries)
    return (replace_span(text, tokens.start(1), tokens.end(1), new),
            f"mask tokens: [{tokens.group(1)}] -> [{new}]")


def mutate_mask_kind(rng, text):
    masks = find_masks(text)
    if not masks:
        return None
    start, end, kind = rng.choice(masks)
    old = text[start:end]
    if rng.random() < 0.5:
        new = random_mask(rng)
        note = f"mask {kind} -> {new}"
    else:
        combinator = rng.choice(("union", "intersection"))
        members = [old, random_mask(rng, depth=1)]
        rng.shuffle(members)
        new = f"#attn.{combinator}<[{', '.join(members)}]>"
        note = f"mask {kind} nested in {new}"
    return replace_span(text, start, end, new), note


def find_clauses(text, start, end):
    """The clauses `name(...)` in text[start:end], as (start, end, name)."""
    clauses = []
    for match in CLAUSE.finditer(text, start, end):
        if clauses and match.start() < clauses[-1][1]:
            continue
        depth, position = 0, match.end() - 1
        while position < end:
            depth += {"(": 1, ")": -1}.get(text[position], 0)
            position += 1
            if depth == 0:
                clauses.append((match.start(), position, match.group(1)))
                break
    return clauses


def mutate_clause(rng, text):
    ops = list(ATTN_OP.finditer(text))
    if not ops:
        return None
    op = rng.choice(ops)
    # The clauses sit between the op's name and the colon of its type (no
    # clause holds a colon).
    region_end = text.find(":", op.end())
    if region_end < 0:
        return None
    clauses = find_clauses(text, op.end(), region_end)
    names = {name for _, _, name in clauses}
    actions = ["strategy"]
    if clauses:
        actions += ["drop", "duplicate", "set", "set"]
    if len(clauses) > 1:
        actions.append("swap")
    if "mask" not in names and op.group(1) in ("attention", "multi_head"):
        actions += ["add mask", "add mask"]
    if "scale" not in names and op.group(1) in ("attention", "multi_head"):
        actions.append("add scale")
    action = rng.choice(actions)
    opname = f"attn.{op.group(1)}"

    if action == "strategy":
        return set_strategy(rng, text, op.end(), region_end, opname)
    if action == "add mask":
        mask = random_mask(rng)
        return (replace_span(text, region_end, region_end, f"mask({mask}) "),
                f"{opname}: added mask({mask})")
    if action == "add scale":
        scale = rng.choice(SCALES)
        return (replace_span(text, region_end, region_end, f"scale({scale}) "),
                f"{opname}: added scale({scale})")
    start, end, name = rng.choice(clauses)
    clause = text[start:end]
    if action == "drop":
        return replace_span(text, start, end, ""), f"{opname}: dropped {clause}"
    if action == "duplicate":
        return (replace_span(text, end, end, " " + clause),
                f"{opname}: duplicated {clause}")
    if action == "swap":
        other_start, other_end, _ = rng.choice(
            [c for c in clauses if c[0] != start])
        first, second = sorted([(start, end), (other_start, other_end)])
        swapped = (text[:first[0]] + text[second[0]:second[1]]
                   + text[first[1]:second[0]] + text[first[0]:first[1]]
                   + text[second[1]:])
        return (swapped, f"{opname}: swapped {text[first[0]:first[1]]} and "
                f"{text[second[0]:second[1]]}")
    return set_clause_value(rng, text, start, end, name, opname)


def set_clause_value(rng, text, start, end, name, opname):
    if name == "scale":
        new = f"scale({rng.choice(SCALES)})"
    elif name in ("heads", "kv_heads"):
        new = f"{name}({awkward_parameter(rng)})"
    elif name == "mask":
        new = f"mask({random_mask(rng)})"
    elif name == "feature_map":
        new = f"feature_map({rng.choice(('relu', 'identity', 'elu_plus_one'))})"
    else:
        return None  # an operand: nothing to set
    return (replace_span(text, start, end, new),
            f"{opname}: {text[start:end]} -> {new}")


def set_strategy(rng, text, start, end, opname):
    strategy = rng.choice(STRATEGIES)
    attribute = f'attn.strategy = "{strategy}"'
    existing = STRATEGY_ATTR.search(text, start, end)
    if existing:
        return (replace_span(text, existing.start(), existing.end(), attribute),
                f"{opname}: {existing.group(0)} -> {attribute}")
    return (replace_span(text, end, end, "{" + attribute + "} "),
            f"{opname}: added {{{attribute}}}")


def mutate_element_type(rng, text):
    types = list(TENSOR_TYPE.finditer(text))
    if not types:
        return None
    chosen = rng.choice(types)
    old = chosen.group(2)
    new = rng.choice([t for t in ELEMENT_TYPES if t != old])
    scope = rng.choice(("one", "all", "all", "all"))

    def rewrite(match):
        if (match.start() == chosen.start() if scope == "one"
                else match.group(2) == old):
            return format_tensor(tensor_dims(match), new)
        return match.group(0)

    where = f"in one {chosen.group(0)}" if scope == "one" else "everywhere"
    return (TENSOR_TYPE.sub(rewrite, text),
            f"element type {old} -> {new} {where}")


def mutate_token(rng, text):
    tokens = list(TOKEN.finditer(text))
    if not tokens:
        return None
    token = rng.choice(tokens)
    if rng.random() < 0.5:
        return (replace_span(text, token.start(), token.end(), ""),
                f"deleted token {token.group(0)!r}")
    return (replace_span(text, token.end(), token.end(), " " + token.group(0)),
            f"duplicated token {token.group(0)!r}")


def mutate_line(rng, text):
    lines = text.splitlines(keepends=True)
    numbers = [n for n, line in enumerate(lines) if line.strip()]
    if not numbers:
        return None
    number = rng.choice(numbers)
    line = lines[number].strip()
    if rng.random() < 0.5:
        del lines[number]
        return "".join(lines), f"deleted line {line!r}"
    lines.insert(number, lines[number])
    return "".join(lines), f"duplicated line {line!r}"


# The weights favour the mutations that keep the module valid enough to
# reach the lowering; the token and line ones mostly exercise the parser.
MUTATORS = (
    (mutate_tensor_dim, 30),
    (mutate_mask_param, 20),
    (mutate_mask_kind, 12),
    (mutate_clause, 14),
    (mutate_element_type, 10),
    (mutate_token, 4),
    (mutate_line, 2),
)


# ---------------------------------------------------------------------------
# Mutants.

@dataclasses.dataclass(frozen=True)
class Mutant:
    number: int
    origin: str
    text: str
    notes: tuple

    @property
    def description(self):
        return "; ".join(self.notes)


def mutate(rng, seed, number):
    functions = [f for f, _ in MUTATORS]
    weights = [w for _, w in MUTATORS]
    text, notes = seed.text, []
    for _ in range(rng.choice(MUTATIONS_PER_MUTANT)):
        for _attempt in range(10):  # a mutator may not apply to this text
            mutator = rng.choices(functions, weights)[0]
            result = mutator(rng, text)
            if result and result[0] != text:
                text, note = result
                notes.append(" ".join(note.split()))  # one line
                break
    return Mutant(number, seed.origin, text, tuple(notes))


def generate_mutants(seeds, seed, budget, avoid=None, first=1):
    """The mutants of --seed, numbered from 1, each new and none with a
    mutation that avoid (a regex) matches: they depend on the generator
    alone, not on how many run at once or how long they take. Those before
    number `first` are generated (the sequence stays the same) and not
    yielded."""
    rng = random.Random(seed)
    seen = set()
    for number in range(1, budget + 1):
        for _attempt in range(20):  # after that, a repeat or avoided one
            mutant = mutate(rng, rng.choice(seeds), number)
            digest = hashlib.sha1(mutant.text.encode()).digest()
            avoided = avoid and any(avoid.search(n) for n in mutant.notes)
            if mutant.notes and digest not in seen and not avoided:
                break
        seen.add(digest)
        if number >= first:
            yield mutant


def unmutated(seeds):
    for number, seed in enumerate(seeds, start=1):
        yield Mutant(number, seed.origin, seed.text, ("unmutated",))


# ---------------------------------------------------------------------------
# Pipelines and running one case.

@dataclasses.dataclass(frozen=True)
class Pipeline:
    name: str
    tool: str
    arguments: tuple  # with {input} and {output} in place of the files
    # attn-opt can name the pass that crashed or hangs (see locate_pass).
    locates_passes: bool = False

    def command(self, bin_dir, input_path, output_stem):
        substitute = lambda a: a.format(input=input_path, output=output_stem)
        return [str(bin_dir / self.tool)] + [substitute(a) for a in self.arguments]


# attn-opt runs single-threaded: the stack dump of a crash or of a hang
# (SIGQUIT) then shows the thread doing the work, not the main thread
# waiting for it, and the --jobs processes share the cores.
PIPELINES = {
    "cpu": Pipeline("cpu", "attn-opt",
                    ("--mlir-disable-threading", "--attn-lower-to-llvm-cpu",
                     "{input}", "-o", "/dev/null"), locates_passes=True),
    "nvvm": Pipeline("nvvm", "attn-opt",
                     ("--mlir-disable-threading", "--attn-lower-to-nvvm",
                      "{input}", "-o", "/dev/null"), locates_passes=True),
    "translate": Pipeline("translate", "attn-translate",
                          ("{input}", "-o", "{output}.so")),
    "translate-cuda": Pipeline("translate-cuda", "attn-translate",
                               ("--target", "cuda", "{input}", "-o",
                                "{output}.so")),
}
# --target and --tool name one of them.
PIPELINE_OF = {("cpu", "opt"): "cpu", ("nvvm", "opt"): "nvvm",
               ("cpu", "translate"): "translate",
               ("nvvm", "translate"): "translate-cuda"}


@dataclasses.dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    seconds: float
    timed_out: bool


@dataclasses.dataclass(frozen=True)
class Result:
    outcome: str
    signature: str
    returncode: int
    seconds: float
    output: str


def start_process(command, memory_limit_mib):
    """Starts the tool in a process group of its own, waiting while its
    binary is missing or being written (it may be relinked under us)."""
    for attempt in range(MISSING_BINARY_RETRIES):
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True)
            break
        except OSError:  # ENOENT, ETXTBSY or ENOEXEC while it is relinked
            if attempt == MISSING_BINARY_RETRIES - 1:
                raise
            time.sleep(MISSING_BINARY_WAIT_S)
    if memory_limit_mib:
        limit = memory_limit_mib * 2**20
        try:
            resource.prlimit(process.pid, resource.RLIMIT_AS, (limit, limit))
        except (OSError, ValueError):
            pass  # it already exited
    return process


def run_command(command, timeout, memory_limit_mib, stop_signal=signal.SIGQUIT,
                grace=STACK_DUMP_GRACE_S):
    """Runs the command; past the timeout it gets stop_signal (by default
    SIGQUIT, on which LLVM's handler prints the stack: where it hangs) and
    grace seconds to die, then its whole process group gets SIGKILL."""
    started = time.monotonic()
    process = start_process(command, memory_limit_mib)
    timed_out = False
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        signal_group(process, stop_signal)
        try:
            output, _ = process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            output, _ = process.communicate()
    # The stack dump's symbolizer may outlive the tool.
    signal_group(process, signal.SIGKILL)
    # MLIR's parser ends its pretty stack entries with a NUL byte.
    text = output.decode(errors="replace").replace("\0", "")
    return Run(process.returncode, text, time.monotonic() - started, timed_out)


def signal_group(process, signal_number):
    try:
        os.killpg(process.pid, signal_number)
    except (ProcessLookupError, PermissionError):
        pass


FAILING_PASS = re.compile(r"Pipeline failed while executing `([^`]+)`")


def locate_pass(command, reproducer, timeout, memory_limit_mib):
    """The pass that crashes or hangs, or None. The stack dump cannot tell:
    upstream passes are unnamed in the stripped libMLIR. MLIR's crash
    reproducer can: it catches the crash signals (SIGABRT included, which a
    hang gets at the timeout) in the pass manager and names the pass."""
    run = run_command(
        command + [f"--mlir-pass-pipeline-crash-reproducer={reproducer}",
                   "--mlir-pass-pipeline-local-reproducer"],
        timeout, memory_limit_mib, stop_signal=signal.SIGABRT,
        grace=REPRODUCER_GRACE_S)
    match = FAILING_PASS.search(run.output)
    return match.group(1) if match else None


def run_case(bin_dir, pipeline, text, work_dir, name, timeout,
             memory_limit_mib):
    input_path = work_dir / f"{name}.mlir"
    input_path.write_text(text)
    command = pipeline.command(bin_dir, input_path, work_dir / name)
    try:
        run = run_command(command, timeout, memory_limit_mib)
        outcome = classify(run)
        failing_pass = None
        if outcome in ("crash", "timeout") and pipeline.locates_passes:
            failing_pass = locate_pass(
                command, work_dir / f"{name}.reproducer.mlir", timeout,
                memory_limit_mib)
    finally:
        for path in work_dir.glob(f"{name}.*"):
            path.unlink(missing_ok=True)
    return Result(outcome, signature(outcome, run, timeout, failing_pass),
                  run.returncode, run.seconds, run.output)


# ---------------------------------------------------------------------------
# Classification and signatures.

# A frame of LLVM's stack dump, symbolized:
#   " #12 0x000055d2 symbol(args) (module+0x1f)" or " #12 0x000055d2 (module+0x1f)"
# or not (no llvm-symbolizer):
#   "12 libMLIR.so.22.1 0x00007f59 symbol + 203" or "12 attn-opt 0x000055d5"
SYMBOLIZED_FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-fA-F]+ (.*)$", re.MULTILINE)
RAW_FRAME = re.compile(r"^\d+\s+(\S+)\s+0x[0-9a-fA-F]+ ?(.*)$", re.MULTILINE)
# Frames of the crash handler and the C library, above the real top.
HANDLER_FRAMES = ("llvm::sys::", "SignalHandler", "libc.so", "__restore_rt",
                  "pthread_kill", "raise", "abort", "CrashRecoveryContext",
                  "libLLVM.so.22.1+0x", "llvm::report_fatal_error",
                  "llvm::report_bad_alloc_error", "llvm::reportFatal",
                  "__cxa_throw", "std::terminate", "__assert_fail",
                  "__gnu_cxx::__verbose_terminate_handler")
# Containers and helpers: the frame that called them says more.
GENERIC_FRAMES = ("llvm::SmallVector", "llvm::function_ref", "llvm::DenseMap",
                  "std::", "operator new", "llvm::safe_", "llvm::allocate_")
# The pass manager's frame: the frame just inside it is the pass.
PASS_MANAGER_FRAME = "OpToOpPassAdaptor::run("
# LLVM's and MLIR's pretty stack entries under "Stack dump:", e.g.
# "2.\tRunning pass 'X86 DAG->DAG Instruction Selection' on function '@f'" or
# "3.\tMLIR Parser: custom op parser 'linalg.transpose'".
PRETTY_STACK_ENTRY = re.compile(r"^\d+\.\t(.*)$", re.MULTILINE)
# A frame without a symbol: "(/usr/lib/libMLIR.so.22.1+0x2cc6c0e)".
UNNAMED_FRAME = re.compile(r"^\([^()]*\+0x[0-9a-fA-F]+\)$")
# A dialect conversion pattern: the op it lowers names it.
CONVERSION_DISPATCH = re.compile(r"dispatchTo1To1<.*, mlir::([\w:]+)>\(")
# The message of a crash, first match first.
MESSAGES = (
    re.compile(r"LLVM ERROR: .*"),
    re.compile(r"Assertion `.*' failed"),
    re.compile(r"terminate called .*"),
    re.compile(r"ERROR: AddressSanitizer: [\w-]+"),
    re.compile(r"runtime error: .*"),
)


def classify(run):
    if run.timed_out:
        return "timeout"
    if run.returncode < 0 or any(m in run.output for m in CRASH_MARKERS):
        if any(known in run.output for known in KNOWN_UPSTREAM):
            return "upstream"
        return "crash"
    if run.returncode == 0:
        return "ok"
    return "diagnostic" if "error:" in run.output else "silent"


def signature(outcome, run, timeout, failing_pass):
    """What a finding's family is known by: the message, the innermost
    frame that says something, the innermost attn frame and the pass."""
    if outcome == "ok":
        return ""
    if outcome == "diagnostic":
        line = next(l for l in run.output.splitlines() if "error:" in l)
        return normalize(line.split("error:", 1)[1])
    if outcome == "silent":
        lines = [line for line in run.output.splitlines() if line.strip()]
        last = normalize(lines[-1]) if lines else "no output"
        return f"exit {run.returncode} without error: {last}"
    frames = stack_frames(run.output)
    named = [f for f in frames if not UNNAMED_FRAME.match(f)
             and not any(g in f for g in GENERIC_FRAMES)]
    top = describe_frame(named[0]) if named else None
    attn = next((describe_frame(f) for f in frames if "attn::" in f), None)
    where = failing_pass or pretty_stack_entry(run.output) or pass_frame(frames)
    if outcome == "timeout":
        # Where a hung compilation was at the SIGQUIT varies from one sample
        # to the next: only its attn frame and pass name the family.
        parts = [f"timeout > {timeout:g} s"]
    else:
        parts = [crash_message(run), f"in {top}" if top else None]
    if attn and attn != top:
        parts.append(f"via {attn}")
    if where:
        parts.append(f"[{where}]")
    return " ".join(p for p in parts if p)


def crash_message(run):
    for pattern in MESSAGES:
        match = pattern.search(run.output)
        if match:
            return normalize(match.group(0))
    if run.returncode < 0:
        return f"signal {signal_name(-run.returncode)}"
    return f"exit {run.returncode}"


def normalize(message):
    """Numbers vary with the mutant, the cause does not."""
    message = re.sub(r"0x[0-9a-fA-F]+", "0xN", message)
    message = re.sub(r"\d+", "N", message)
    return message.strip()[:160]


def describe_frame(frame):
    """'llvm::LogicalResult mlir::attn::(anonymous namespace)::Foo::run(int)
    const (lib+0x10)' -> 'attn::Foo::run'; an unnamed frame
    '(/path/lib.so+0x10)' -> 'lib.so+0x10'; a conversion pattern -> the op
    it lowers."""
    if UNNAMED_FRAME.match(frame):
        return frame.strip("()").rsplit("/", 1)[-1]
    dispatch = CONVERSION_DISPATCH.search(frame)
    if dispatch:
        return f"the lowering of {dispatch.group(1)}"
    frame = frame.replace("(anonymous namespace)::", "")
    frame = frame.replace("operator()", "operator<call>")
    frame = re.sub(r"\(lambda at [^)]*\)", "lambda", frame)
    frame = re.sub(r" \+ \d+$", "", frame)  # the raw format's offset
    frame = re.sub(r" \S+:\d+:\d+$", "", frame)  # a symbolized file:line:col
    while True:  # drop template arguments, innermost first
        shorter = re.sub(r"<[^<>]*>", "", frame)
        if shorter == frame:
            break
        frame = shorter
    name = frame.split("(")[0].split()  # [return type,] qualified name
    return name[-1].removeprefix("mlir::") if name else frame


def stack_frames(output):
    """The frames of the first stack dump, innermost first, without the
    crash handler's."""
    frames = SYMBOLIZED_FRAME.findall(output)
    if not frames:
        frames = [symbol or f"({module})"
                  for module, symbol in RAW_FRAME.findall(output)]
    frames = [frame.strip() for frame in frames]
    if frames and frames.count(frames[0]) > 1:  # printed by two handlers
        frames = frames[:frames.index(frames[0], 1)]
    while frames and any(h in frames[0] for h in HANDLER_FRAMES):
        frames.pop(0)
    return frames


def pretty_stack_entry(output):
    """The innermost entry of the pretty stack (an LLVM pass, the MLIR
    parser's op), without the function or op it was working on."""
    entries = [e for e in PRETTY_STACK_ENTRY.findall(output)
               if not e.startswith("Program arguments")]
    if not entries:
        return None
    entry = re.sub(r" on (function|module|basic block) .*", "", entries[-1])
    return entry.replace("Running pass ", "").strip()


def pass_frame(frames):
    """The frame of the pass the pass manager runs (unnamed for upstream
    passes: libMLIR.so+offset), or None."""
    for inner, outer in zip(frames, frames[1:]):
        if PASS_MANAGER_FRAME in outer:
            name = describe_frame(inner)
            # The pass manager verifies the IR after each pass.
            return "the verifier" if name == "verify" else f"pass {name}"
    return None


def signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


# ---------------------------------------------------------------------------
# Findings and the summary.

def family_name(outcome, pipeline, signature):
    slug = re.sub(r"[^a-z0-9]+", "-", signature.lower()).strip("-")[:60]
    return f"{outcome}-{pipeline}-{slug.rstrip('-')}"


def write_finding(out_dir, bin_dir, mutant, pipeline, result):
    family = family_name(result.outcome, pipeline.name, result.signature)
    path = out_dir / f"{family}-{mutant.number}.mlir"
    command = " ".join(pipeline.command(bin_dir, path, path.with_suffix("")))
    header = [
        f"// fuzz-ir {result.outcome}: {result.signature}",
        f"// seed: {mutant.origin}",
        f"// mutant: {mutant.number}",
        *[f"// mutation: {note}" for note in mutant.notes],
        f"// command: {command}",
        f"// exit: {result.returncode}, {result.seconds:.1f} s",
    ]
    output = [f"// {line}" for line in result.output.splitlines()[:OUTPUT_LINES]]
    path.write_text("\n".join(header) + "\n\n" + mutant.text + "\n"
                    + f"// output (first {OUTPUT_LINES} lines):\n"
                    + "\n".join(output) + "\n")
    return path


class Summary:
    def __init__(self):
        self.outcomes = collections.Counter()
        self.diagnostics = collections.Counter()
        # (outcome, pipeline, signature) -> [count, first file or mutant]
        self.findings = {}
        self.mutants = 0

    def add(self, mutant, pipeline, result, path):
        self.outcomes[result.outcome] += 1
        if result.outcome == "diagnostic":
            self.diagnostics[result.signature] += 1
        if result.outcome in FINDINGS:
            key = (result.outcome, pipeline.name, result.signature)
            entry = self.findings.setdefault(
                key, [0, str(path) if path else f"mutant {mutant.number}"])
            entry[0] += 1

    @property
    def found_anything(self):
        return bool(self.findings)

    def print(self, pipelines, seconds, quiet):
        names = ",".join(p.name for p in pipelines)
        print(f"fuzz-ir: {self.mutants} mutants x {len(pipelines)} "
              f"pipeline(s) ({names}) in {seconds:.0f} s")
        for outcome in OUTCOMES:
            print(f"  {outcome:<11}{self.outcomes[outcome]:>7}")
        if self.findings:
            print("findings per signature:")
            ordered = sorted(self.findings.items(),
                             key=lambda item: (-item[1][0], item[0]))
            for (outcome, pipeline, signature), (count, first) in ordered:
                print(f"  {count:>5}  {outcome:<8}{pipeline:<6} {signature}")
                print(f"{'':>16}first: {first}")
        if not quiet and self.diagnostics:
            print("most frequent diagnostics:")
            for signature, count in self.diagnostics.most_common(10):
                print(f"  {count:>5}  {signature}")


# ---------------------------------------------------------------------------
# Driver.

def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description="Mutation fuzzer for attn's IR (see the docstring).")
    parser.add_argument("--bin", type=pathlib.Path, default=ROOT / "build/bin",
                        help="directory of attn-opt and attn-translate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=200,
                        help="number of mutants (default 200)")
    parser.add_argument("--first", type=int, default=1,
                        help="start at this mutant of the sequence (to run a "
                        "long campaign in parts)")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="stop starting mutants after this many seconds")
    parser.add_argument("--timeout", type=float, default=20,
                        help="wall-clock limit of one compilation (s)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--pipelines", default=None,
                        help="comma-separated, of: " + ", ".join(PIPELINES))
    parser.add_argument("--target", choices=("cpu", "nvvm"), default="cpu")
    parser.add_argument("--tool", choices=("opt", "translate"), default="opt")
    parser.add_argument("--memory-limit", type=int, default=4096,
                        metavar="MIB", help="address-space limit of a "
                        "compilation (0: none); past it the tool dies: a crash")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="write each crash, timeout and silent mutant here")
    parser.add_argument("--log", type=pathlib.Path, default=None,
                        help="append one JSON line per case (mutant, "
                        "mutations, outcome, signature, seconds) to this file")
    parser.add_argument("--avoid", type=re.compile, default=None,
                        metavar="REGEX", help="make no mutant with a mutation "
                        "note that matches REGEX (to look past a known "
                        "family), e.g. 'dim 3: .* -> [0-9]{5,}'")
    parser.add_argument("--seeds-only", action="store_true",
                        help="run the unmutated seeds instead of mutants")
    parser.add_argument("--replay", type=pathlib.Path, nargs="+",
                        metavar="FILE", help="compile these files instead of "
                        "mutants and print each outcome (to check a reproducer)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the mutants instead of compiling them")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the summary")
    arguments = parser.parse_args(argv)
    names = (arguments.pipelines.split(",") if arguments.pipelines
             else [PIPELINE_OF[(arguments.target, arguments.tool)]])
    unknown = [n for n in names if n not in PIPELINES]
    if unknown:
        parser.error(f"unknown pipeline(s) {', '.join(unknown)}")
    arguments.pipelines = [PIPELINES[n] for n in names]
    return arguments


def check_pipelines(arguments, work_dir):
    """Exits with 2 unless every pipeline compiles SANITY_MODULE."""
    for pipeline in arguments.pipelines:
        result = run_case(arguments.bin, pipeline, SANITY_MODULE, work_dir,
                          f"sanity-{pipeline.name}", max(arguments.timeout, 60),
                          arguments.memory_limit)
        if result.outcome != "ok":
            print(f"fuzz-ir: the {pipeline.name} pipeline does not compile a "
                  f"valid module ({result.outcome}):\n{result.output}",
                  file=sys.stderr)
            sys.exit(2)


def report_finding(mutant, pipeline, result, path):
    where = f" -> {path}" if path else ""
    print(f"[{mutant.number:>5}] {result.outcome:<8}{pipeline.name:<6} "
          f"{result.signature} ({result.seconds:.1f} s){where}\n"
          f"        {mutant.origin}: {mutant.description}", flush=True)


def fuzz(arguments, mutants, work_dir, summary, log):
    deadline = (time.monotonic() + arguments.time_budget
                if arguments.time_budget else None)

    def cases():
        for mutant in mutants:
            if deadline and time.monotonic() > deadline:
                return
            summary.mutants += 1
            for pipeline in arguments.pipelines:
                yield mutant, pipeline

    def run(mutant, pipeline):
        return run_case(arguments.bin, pipeline, mutant.text, work_dir,
                        f"m{mutant.number}-{pipeline.name}", arguments.timeout,
                        arguments.memory_limit)

    # At most 2 * jobs cases in flight, reported in the order they were
    # made, so that the report does not depend on --jobs.
    with concurrent.futures.ThreadPoolExecutor(arguments.jobs) as pool:
        in_flight = collections.deque()
        pending = cases()
        while True:
            while len(in_flight) < 2 * arguments.jobs:
                case = next(pending, None)
                if case is None:
                    break
                in_flight.append((*case, pool.submit(run, *case)))
            if not in_flight:
                break
            mutant, pipeline, future = in_flight.popleft()
            record(arguments, summary, mutant, pipeline, future.result(), log)


def record(arguments, summary, mutant, pipeline, result, log):
    path = None
    if result.outcome in FINDINGS:
        if arguments.out:
            path = write_finding(arguments.out, arguments.bin, mutant,
                                 pipeline, result)
        if not arguments.quiet:
            report_finding(mutant, pipeline, result, path)
    summary.add(mutant, pipeline, result, path)
    if log:
        log.write(json.dumps({
            "mutant": mutant.number, "seed": mutant.origin,
            "mutations": mutant.notes, "pipeline": pipeline.name,
            "outcome": result.outcome, "signature": result.signature,
            "seconds": round(result.seconds, 2)}) + "\n")
        log.flush()
    done = summary.outcomes.total()
    if not arguments.quiet and done % 100 == 0:
        print(f"... {done} cases, {summary.mutants} mutants", file=sys.stderr,
              flush=True)


def replay(arguments, work_dir):
    """Compiles the given files and prints each outcome: 1 if any is a
    finding."""
    found = False
    for number, path in enumerate(arguments.replay, start=1):
        for pipeline in arguments.pipelines:
            result = run_case(arguments.bin, pipeline, path.read_text(),
                              work_dir, f"r{number}-{pipeline.name}",
                              arguments.timeout, arguments.memory_limit)
            found |= result.outcome in FINDINGS
            print(f"{path}: {pipeline.name}: {result.outcome} "
                  f"({result.seconds:.1f} s) {result.signature}", flush=True)
            if not arguments.quiet and result.outcome != "ok":
                print("\n".join(result.output.splitlines()[:OUTPUT_LINES]))
    return 1 if found else 0


def main(argv):
    arguments = parse_arguments(argv)
    arguments.bin = arguments.bin.resolve()
    if arguments.replay:
        with tempfile.TemporaryDirectory(prefix="fuzz-ir-") as work_dir:
            return replay(arguments, pathlib.Path(work_dir))
    if arguments.out:
        arguments.out.mkdir(parents=True, exist_ok=True)
    seeds = load_seeds(ROOT)
    if not seeds:
        sys.exit("fuzz-ir: no seeds under examples/ and test/")
    if not arguments.quiet:
        print(f"fuzz-ir: {len(seeds)} seeds, seed {arguments.seed}, budget "
              f"{arguments.budget}, timeout {arguments.timeout:g} s", flush=True)
    mutants = (unmutated(seeds) if arguments.seeds_only
               else generate_mutants(seeds, arguments.seed, arguments.budget,
                                     arguments.avoid, arguments.first))
    if arguments.dry_run:
        for mutant in mutants:
            print(f"// ----- mutant {mutant.number}, {mutant.origin}: "
                  f"{mutant.description}\n{mutant.text}")
        return 0
    summary = Summary()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-ir-") as work_dir:
        work_dir = pathlib.Path(work_dir)
        log = arguments.log.open("a") if arguments.log else None
        try:
            check_pipelines(arguments, work_dir)
            fuzz(arguments, mutants, work_dir, summary, log)
        except KeyboardInterrupt:
            print("fuzz-ir: interrupted", file=sys.stderr)
        except OSError as error:  # a tool still missing after the retries
            print(f"fuzz-ir: cannot run a tool: {error}", file=sys.stderr)
            return 2
        finally:
            if log:
                log.close()
    summary.print(arguments.pipelines, time.monotonic() - started,
                  arguments.quiet)
    return 1 if summary.found_anything else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
