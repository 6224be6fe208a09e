"""Property-based tests over the public inputs (issue 8, item 3).

Every input either works or ends in a one-line ``InputError``: never another exception type, a hang,
or a modified results file. Suites, hyperparameter values, landscape dimensions and boxes, and
damaged results files are generated with hypothesis.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import landscapes
import optimizers
from bench.core.targets import COCO_TARGETS
from bench.run.results import SCHEMA, RESULTS_FILE, ResultsDir, read_results
from bench.run.suites import Suite, parse_suite
from landscapes.core import MAX_DIM
from landscapes.errors import InputError

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LANDSCAPE_NAMES = sorted(landscapes.LANDSCAPES)
ND_NAMES = sorted(n for n, l in landscapes.LANDSCAPES.items() if l.dim is None)
FAMILY_SCHEDULES = [(f, s) for f in sorted(optimizers.FAMILIES) for s in sorted(optimizers.SCHEDULES)]


def _one_line_input_error(error: BaseException) -> None:
    assert isinstance(error, InputError), f"{type(error).__name__}: {error}"
    assert "\n" not in str(error) and str(error).strip(), repr(str(error))


def _toml(value) -> str:
    """A Python value as TOML (floats keep their exact value; nan/inf spelled TOML's way)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


# ------------------------------------------------------------------------------------------------
# 1. Suite TOML documents
# ------------------------------------------------------------------------------------------------

def _inside(valid: optimizers.Range) -> st.SearchStrategy[float]:
    """Values inside ``valid`` (finite, whole numbers where it asks for them)."""
    high = valid.high if math.isfinite(valid.high) else max(valid.low, 0.0) + 1e4
    high_excl = not valid.high_inclusive and math.isfinite(valid.high)
    if valid.integer:
        lo = math.ceil(valid.low) + (1 if not valid.low_inclusive and float(valid.low).is_integer() else 0)
        hi = math.floor(high) - (1 if high_excl and float(high).is_integer() else 0)
        return st.integers(lo, hi).map(float)
    return st.floats(valid.low, high, exclude_min=not valid.low_inclusive, exclude_max=high_excl,
                     allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def landscape_entries(draw, name=None):
    name = name or draw(st.sampled_from(LANDSCAPE_NAMES))
    kind = draw(st.sampled_from(["plain", "table", "dim"]))
    if kind == "plain":
        return _toml(name)
    entry = {"name": name}
    if kind == "dim" and landscapes.LANDSCAPES[name].dim is None:
        entry["dim"] = draw(st.integers(2, 6))
    if draw(st.booleans()):
        # A landscape with its own instances (COCO's) numbers them from 1; the others from 0.
        first = 1 if landscapes.LANDSCAPES[name].instance_data is not None else 0
        entry["instances"] = draw(st.lists(st.integers(first, first + 3), min_size=1, max_size=3,
                                           unique=True))
    return _toml(entry)


@st.composite
def optimizer_tables(draw, label="opt"):
    family, schedule = draw(st.sampled_from(FAMILY_SCHEDULES))
    ranges = optimizers.config_ranges(family, schedule)
    search = draw(st.sampled_from(["grid", "random"]))
    lines = ["[[optimizer]]", f'family = "{family}"', f'schedule = "{schedule}"', f'search = "{search}"',
             f'label = "{label}"']  # labels are unique in a suite
    if search == "random":
        lines.append(f"trials = {draw(st.integers(1, 20))}")
        lines.append(f"seed = {draw(st.integers(0, 2**31))}")
    if draw(st.integers(0, 4)) == 0:
        return "\n".join(lines)  # the default space
    lines.append("[optimizer.space]")
    names = draw(st.lists(st.sampled_from(sorted(ranges)), unique=True, max_size=4))
    for name in names:
        how = draw(st.sampled_from(["fixed", "list", "dist"]))
        if how == "fixed":
            value = draw(_inside(ranges[name]))
        elif how == "list":
            value = draw(st.lists(_inside(ranges[name]), min_size=1, max_size=3))
        elif name == "learning_rate":
            low = draw(st.floats(1e-6, 1.0))
            dist = {"log_uniform": [low, low * draw(st.floats(1.0, 100.0))]}
            if search == "grid":
                dist["num"] = draw(st.integers(1, 5))
            value = dist
        else:
            value = draw(_inside(ranges[name]))
        lines.append(f"{name} = {_toml(value)}")
    return "\n".join(lines)


@st.composite
def suite_texts(draw):
    steps = draw(st.integers(1, 5000))
    top = [f'name = "{draw(st.sampled_from(["a", "mine", "x-y.2"]))}"', f"steps = {steps}"]
    targets = list(COCO_TARGETS)
    if draw(st.booleans()):
        targets = draw(st.lists(st.floats(1e-12, 1e3), min_size=1, max_size=8, unique=True))
        top.append(f"targets = {_toml(targets)}")
    if draw(st.booleans()) or 1e-6 not in targets:  # success is counted at one of the targets
        top.append(f"success_target = {_toml(draw(st.sampled_from(targets)))}")
    top.append(f'dtype = "{draw(st.sampled_from(["float32", "float64"]))}"')
    top.append(f"seeds = {_toml(draw(st.lists(st.integers(0, 2**32 - 2), min_size=1, max_size=3, unique=True)))}")
    top.append(f"test_seeds = [{2**32 - 1}]")  # fresh: never a tuning seed
    top.append(f"starts = {draw(st.integers(1, 64))}")
    top.append(f"trajectory_every = {draw(st.integers(0, steps))}")
    names = draw(st.lists(st.sampled_from(LANDSCAPE_NAMES), min_size=1, max_size=4, unique=True))
    top.append("landscapes = [" + ", ".join(draw(landscape_entries(n)) for n in names) + "]")
    tables = [draw(optimizer_tables(f"opt{i}")) for i in range(draw(st.integers(1, 3)))]
    return "\n".join(top) + "\n\n" + "\n\n".join(tables) + "\n"


@SETTINGS
@given(suite_texts())
def test_valid_suites_parse(text):
    suite = parse_suite(text)
    assert isinstance(suite, Suite)
    for entry in suite.optimizers:
        configs = entry.configs()
        sizes = {np.shape(v) for v in configs.values()}
        assert len(sizes) == 1 and len(next(iter(sizes))) == 1, sizes
        assert set(configs) == set(optimizers.config_defaults(entry.family, entry.schedule))
    for land in suite.landscapes:
        assert land.dim == landscapes.LANDSCAPES[land.name].resolve_dim(land.dim)


WRONG_VALUES = ['"text"', '""', "true", "false", "-1", "-0.5", "0", "0.0", "99999999999999999999",
                "1" + "0" * 400, "1e308", "-1e308", "nan", "inf", "-inf", "[]", "{}", "[[1]]", '["a"]',
                "[nan]", "[inf]", "[true]", "[-1]", "[1, 1]", "{ a = 1 }", "{ log_uniform = [0, 1], num = 3 }",
                "{ uniform = [-1e308, 1e308], num = 3 }", "{ uniform = [-1e308, 1e308] }",
                "{ log_uniform = [1e-4, 1e-1], num = 100000000000 }",
                "{ log_uniform = [1e-300, 1e300], num = 2 }", "[1e300, 2e300]", "4294967296",
                "2.5", "[0.1, 0.2]", '"float64"', '"random"', "1979-05-27", '{ name = "beale", dim = 3 }']
JUNK_CHARS = list('"[]{}=,.\n#-+0159eE\\ \'x')


@st.composite
def mutated_suites(draw):
    text = draw(suite_texts())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "duplicate", "replace", "value", "value", "table"]))
        if op == "value":
            lines = text.split("\n")
            with_values = [i for i, line in enumerate(lines) if " = " in line]
            i = draw(st.sampled_from(with_values))
            key, _, _ = lines[i].partition(" = ")
            lines[i] = f"{key} = {draw(st.sampled_from(WRONG_VALUES))}"
            text = "\n".join(lines)
            continue
        if op == "table":
            text += draw(st.sampled_from(["\n[optimizer]\nfamily = \"sgd\"\n", "\n[landscapes]\nx = 1\n",
                                          "\n[[optimizer]]\n", "\n[optimizer.space.inner]\na = 1\n",
                                          "\n[mnist]\nepochs = -1\n", "\n[[mnist]]\n[[mnist]]\n"]))
            continue
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        span = draw(st.integers(1, 8))
        if op == "delete":
            text = text[:at] + text[at + span:]
        elif op == "duplicate":
            text = text[:at] + text[at:at + span] + text[at:]
        else:
            text = text[:at] + "".join(draw(st.lists(st.sampled_from(JUNK_CHARS), min_size=1,
                                                     max_size=span))) + text[at + span:]
    return text


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_suites())
def test_mutated_suites_parse_or_input_error(text):
    try:
        suite = parse_suite(text)
    except Exception as error:  # noqa: BLE001 - the property is about the exception type
        _one_line_input_error(error)
        return
    for entry in suite.optimizers:
        configs = entry.configs()
        assert len({np.shape(v) for v in configs.values()}) == 1


@pytest.mark.parametrize("value", WRONG_VALUES)
@pytest.mark.parametrize("key", ["steps", "targets", "success_target", "dtype", "seeds", "test_seeds",
                                 "starts", "instances", "trajectory_every", "unroll", "chunk_size"])
def test_wrong_top_level_values_name_the_key(key, value):
    text = (f"{key} = {value}\nlandscapes = [\"beale\"]\n"
            "[[optimizer]]\nfamily = \"sgd\"\n[optimizer.space]\nlearning_rate = 0.01\n")
    try:
        parse_suite(text)
    except Exception as error:  # noqa: BLE001
        _one_line_input_error(error)
        if "malformed TOML" not in str(error):
            assert key in str(error)


@pytest.mark.parametrize("value", WRONG_VALUES)
@pytest.mark.parametrize("key", ["learning_rate", "momentum", "trials", "seed", "dim"])
def test_wrong_optimizer_and_landscape_values(key, value):
    if key == "dim":
        text = f'landscapes = [{{ name = "rosenbrock", dim = {value} }}]\n[[optimizer]]\nfamily = "sgd"\n'
    elif key in ("trials", "seed"):
        text = (f'landscapes = ["beale"]\n[[optimizer]]\nfamily = "sgd"\nsearch = "random"\n'
                f"{key} = {value}\n")
    else:
        text = (f'landscapes = ["beale"]\n[[optimizer]]\nfamily = "momentum"\nsearch = "grid"\n'
                f"[optimizer.space]\n{key} = {value}\n")
    for search in ("grid", "random"):
        trials = "\ntrials = 3" if search == "random" else ""  # trials belong to random search only
        try:
            parse_suite(text.replace('search = "grid"', f'search = "{search}"{trials}'))
        except Exception as error:  # noqa: BLE001
            _one_line_input_error(error)
            if "malformed TOML" not in str(error):
                assert key in str(error)


# ------------------------------------------------------------------------------------------------
# 2. Hyperparameter values at and beyond their ranges
# ------------------------------------------------------------------------------------------------

def _valid(valid: optimizers.Range, x: float) -> bool:
    if not math.isfinite(x):
        return False
    low_ok = x >= valid.low if valid.low_inclusive else x > valid.low
    high_ok = x <= valid.high if valid.high_inclusive else x < valid.high
    return low_ok and high_ok and (not valid.integer or float(x).is_integer())


def _near(valid: optimizers.Range) -> st.SearchStrategy[float]:
    edges = [valid.low, valid.high]
    special = [e for e in edges if math.isfinite(e)]
    special += [np.nextafter(e, d) for e in special for d in (-math.inf, math.inf)]
    special += [e + d for e in edges if math.isfinite(e) for d in (-1.0, 1.0, 0.5, -0.5)]
    special += [0.0, -0.0, -1.0, 1.0, math.nan, math.inf, -math.inf, 1e308, -1e-308, 5e-324]
    return st.one_of(st.sampled_from(special), st.floats(allow_nan=True, allow_infinity=True),
                     _inside(valid))


@FAST
@given(st.data())
def test_validate_config_matches_the_ranges(data):
    family, schedule = data.draw(st.sampled_from(FAMILY_SCHEDULES))
    ranges = optimizers.config_ranges(family, schedule)
    names = data.draw(st.lists(st.sampled_from(sorted(ranges)), unique=True, min_size=1, max_size=4))
    batched = data.draw(st.booleans())
    config, bad = {}, []
    for name in names:
        if batched:
            values = data.draw(st.lists(_near(ranges[name]), min_size=1, max_size=3))
            n = len(values) if not config else len(next(iter(config.values())))
            values = (values * n)[:n]
            config[name] = np.asarray(values, np.float64)
            good = all(_valid(ranges[name], v) for v in values)
        else:
            value = data.draw(_near(ranges[name]))
            config[name] = value
            good = _valid(ranges[name], value)
        if not good:
            bad.append(name)
    if not bad:
        optimizers.validate_config(family, schedule, config)
        return
    with pytest.raises(InputError) as info:
        optimizers.validate_config(family, schedule, config)
    _one_line_input_error(info.value)
    assert str(info.value).startswith(bad[0]) or any(name in str(info.value) for name in bad)


@pytest.mark.parametrize("family, schedule", FAMILY_SCHEDULES)
def test_range_boundaries_exactly(family, schedule):
    for name, valid in optimizers.config_ranges(family, schedule).items():
        for edge, inclusive in ((valid.low, valid.low_inclusive), (valid.high, valid.high_inclusive)):
            expect = _valid(valid, edge)
            assert expect == (inclusive and math.isfinite(edge) and (not valid.integer or edge.is_integer()))
            if expect:
                optimizers.validate_config(family, schedule, {name: edge})
            else:
                with pytest.raises(InputError, match=name):
                    optimizers.validate_config(family, schedule, {name: edge})


# ------------------------------------------------------------------------------------------------
# 3. Landscape dimensions; 4. boxes
# ------------------------------------------------------------------------------------------------

DIMS = st.one_of(st.none(), st.integers(-10, 10), st.integers(), st.booleans(),
                 st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([2.0, 3.0, 2.5]),
                 st.text(max_size=5), st.sampled_from(["2", "3", "a\nb", ""]), st.just(np.int64(3)))


@FAST
@given(st.sampled_from(LANDSCAPE_NAMES), DIMS)
def test_resolve_dim_is_an_int_or_input_error(name, dim):
    landscape = landscapes.LANDSCAPES[name]
    try:
        got = landscape.resolve_dim(dim)
    except Exception as error:  # noqa: BLE001
        _one_line_input_error(error)
        if landscape.dim is None:
            assert not (isinstance(dim, (int, np.integer)) and not isinstance(dim, bool)
                        and 2 <= dim <= MAX_DIM)
        return
    assert type(got) is int
    if landscape.dim is not None:
        assert got == landscape.dim
    elif dim is None:
        assert got == landscape.default_dim
    else:
        assert got == dim and not isinstance(dim, (bool, float, str))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ND_NAMES), st.integers(2, 6))
def test_nd_boxes(name, dim):
    landscape = landscapes.LANDSCAPES[name]
    for box in (landscape.box(dim), landscape.start_box(dim)):
        assert box.shape == (dim, 2)
        assert np.isfinite(box).all() and (box[:, 0] < box[:, 1]).all()


@pytest.mark.parametrize("name", LANDSCAPE_NAMES)
def test_fixed_boxes(name):
    landscape = landscapes.LANDSCAPES[name]
    dim = landscape.resolve_dim(None)
    for box in (landscape.box(), landscape.start_box()):
        assert box.shape == (dim, 2)
        assert np.isfinite(box).all() and (box[:, 0] < box[:, 1]).all()


# ------------------------------------------------------------------------------------------------
# 5. Damaged results files
# ------------------------------------------------------------------------------------------------

def _records(n: int) -> list[dict]:
    return [{"schema": SCHEMA, "record_id": f"r{i}", "phase": "tune",
             "runs": {"final_gap": [float("nan"), 1.5 * i, 1e-8], "reached": [True, False]}}
            for i in range(n)]


def _expected_ok(damaged: bytes) -> bool:
    """Whether every complete line of ``damaged`` is a record of this version (blank lines allowed)."""
    for line in damaged.split(b"\n")[:-1]:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except Exception:  # noqa: BLE001 - the oracle: anything json refuses
            return False
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            return False
        if record.get("kind") == "job_end":
            if not isinstance(record.get("job"), str) or not isinstance(record.get("records"), int):
                return False
            continue
        if not isinstance(record.get("record_id"), str) or not isinstance(record.get("runs"), dict) \
                or not isinstance(record.get("job"), (str, type(None))) \
                or not isinstance(record.get("identity"), (dict, type(None))):
            return False
    return True


def _check_damaged(directory: Path, damaged: bytes, original: bytes | None) -> None:
    file = directory / RESULTS_FILE
    file.write_bytes(damaged)
    try:
        read = read_results(directory)
    except Exception as error:  # noqa: BLE001
        _one_line_input_error(error)
        read = None
    assert file.read_bytes() == damaged  # reading never writes
    results = ResultsDir(directory)
    try:
        results.open_for_writing()
    except Exception as error:  # noqa: BLE001
        _one_line_input_error(error)
        assert file.read_bytes() == damaged, "an InputError must leave the file as it was"
        assert not _expected_ok(damaged)
        assert read is None
        return
    finally:
        results.close()
    kept = damaged[:damaged.rfind(b"\n") + 1]
    assert _expected_ok(damaged)
    assert file.read_bytes() == damaged  # opening checks; it writes nothing
    if original is not None:  # only cut off: what remains is the original's complete-lines prefix
        assert original.startswith(kept)
    assert read is not None
    assert {r["record_id"] for r in read} == results.record_ids()
    shown = len(read)
    fresh = dict(_records(1)[0], record_id="written-after-the-check")
    with ResultsDir(directory) as again:  # the first write drops the cut tail, then appends
        again.append([fresh])
    assert file.read_bytes().startswith(kept) and file.read_bytes().endswith(b"\n")
    assert len(read_results(directory)) == shown + 1


def _written(directory: Path, n: int) -> tuple[Path, bytes]:
    """A results directory holding ``n`` records, and its file's bytes."""
    ResultsDir(directory).append(_records(n))
    return directory, (directory / RESULTS_FILE).read_bytes()


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.data())
def test_truncated_results_are_repaired(n, data):
    with tempfile.TemporaryDirectory() as tmp:
        directory, original = _written(Path(tmp), n)
        cut = data.draw(st.integers(0, len(original)))
        _check_damaged(directory, original[:cut], original)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.data())
def test_corrupted_results_are_refused_untouched(n, data):
    with tempfile.TemporaryDirectory() as tmp:
        directory, original = _written(Path(tmp), n)
        start = data.draw(st.integers(0, len(original) - 1))
        junk = data.draw(st.one_of(st.binary(min_size=1, max_size=12),
                                   st.lists(st.sampled_from([b"\n", b"{", b"}", b'"', b"\xff", b"0",
                                                             b" ", b",", b"\x00", b"[", b"9" * 5000]),
                                            min_size=1, max_size=4).map(b"".join)))
        damaged = original[:start] + junk + original[start + len(junk):]
        if data.draw(st.booleans()):
            damaged = damaged[:data.draw(st.integers(0, len(damaged)))]
        _check_damaged(directory, damaged, None)


@pytest.mark.parametrize("damaged", [
    b"not json\n" + b'{"schema": "x"',                     # corrupt line and a cut-off tail
    b'{"schema": "' + SCHEMA.encode() + b'"}\n',           # a record without its record_id
    b"[" * 100000 + b"\n",                                 # nesting json cannot parse
    b"9" * 5000 + b"\n",                                   # an int past Python's digit limit
    b"\xff\xfe\x00\n",
    b"\n\n\n",
])
def test_specific_damage(damaged):
    with tempfile.TemporaryDirectory() as tmp:
        _check_damaged(Path(tmp), damaged, None)
