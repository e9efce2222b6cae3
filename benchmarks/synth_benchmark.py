#!/usr/bin/env python3
"""Synthesis benchmark: prints its figures; no thresholds are asserted here or in the tests.

Measures, in one run and each in a fresh process:
  * cold `python main.py synth --no-extensions` (empty cache) of the example organization, and of
    generated organizations with 100 and 1,000 development environments (one file each), through each
    engine installed (cdktf: CDK for Terraform; cdktn: CDK Terrain);
  * incremental synth of the generated organizations: again with nothing changed, after one
    environment file is edited, after one is added (for the largest, each --repeat times, another
    file each time, and the median kept); then checks the output equals a cold synth's;
  * the baseline: the same workspaces synthesized through cdktf with typed
    `cdktf_cdktf_provider_aws` constructs (AwsProvider, DataTerraformRemoteStateS3, ...);
and prints wall time, peak memory (the largest process: Python, its forked parser, or cdktf's Node.js
runtime) and ratios against the baseline. For the largest organization the cold synth is measured
--repeat times, each run next to a run of the parse floor (python-hcl2 parsing the same files alone,
in a fresh process), and the median of the ratios is printed with their range; it also prints the
first synth on a machine (a fresh user cache: the signing key and the provider mirror's checksums are
made once) and the top entries of a cProfile of one cold synth and of one after an edit (cumulative
time). Targets (from the issues): example >= 10x faster than the baseline; 1,000 environments cold
< 5 s, < 300 MB and within 3x of the parse floor; < 1.5 s after one file changed; time linear in the
number of environments.

    .venv/bin/python benchmarks/synth_benchmark.py [--sizes 100,1000] [--engines cdktf,cdktn] [--skip-baseline]
                                                   [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def feature_environment(index: int, table_name: str = "uses.infra.table_name") -> str:
    return f'''environment "feature-{index:04d}" {{
  account = "dev"
  uses    = "dev"
  ttl     = "7d"
  module "api" {{
    source = "api"
    inputs = {{
      table_name  = {table_name}
      bucket_name = uses.infra.bucket_name
    }}
  }}
}}
'''


def generated_organization(folder: Path, development_environments: int) -> Path:
    """The example organization plus N short-lived API environments in the shared development account,
    one file each, as `env create` writes them."""
    environments = folder / "environments"
    shutil.copytree(ROOT / "environments", environments)
    for index in range(development_environments):
        (environments / f"feature-{index:04d}.hcl").write_text(feature_environment(index))
    return environments


def change_one_environment(environments: Path, size: int, attempt: int = 0) -> None:
    """What a developer does between two runs: one environment file edited (an input changed); each
    attempt edits another file."""
    index = size // 2 + attempt
    (environments / f"feature-{index:04d}.hcl").write_text(feature_environment(index, f'"renamed-table-{attempt}"'))


def add_one_environment(environments: Path, index: int) -> None:
    """... or one environment added (`env create` writes one new file)."""
    (environments / f"feature-{index:04d}.hcl").write_text(feature_environment(index))


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of the largest process the command started (run in a child)."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "result = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "elapsed = time.perf_counter() - start\n"
        "if result.returncode != 0:\n"
        "    sys.stderr.write(result.stdout + result.stderr); sys.exit(result.returncode)\n"
        "print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    output = subprocess.run([PYTHON, "-c", probe, *command], env=env, capture_output=True, text=True, cwd=ROOT)
    if output.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{output.stderr}")
    seconds, megabytes = output.stdout.split()
    return float(seconds), float(megabytes)


PARSE_FLOOR = (
    "import sys\nfrom pathlib import Path\nimport hcl2\n"
    "for path in sorted(Path(sys.argv[1]).glob('*.hcl')):\n    hcl2.loads(path.read_text())\n"
)


def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The run of median time (its own peak memory with it)."""
    return sorted(runs)[len(runs) // 2]


def parse_floor(environments: Path, env: dict[str, str]) -> tuple[float, float]:
    """What parsing the organization's files with python-hcl2 alone costs (cold, like synth)."""
    return measure([PYTHON, "-c", PARSE_FLOOR, str(environments)], env)


PROFILED = r"generators/|hcl2/|lark/|jsii/|json/|pickle"


def synth_command(environments: Path, outdir: Path, engine: str, *extra: str) -> list[str]:
    return [PYTHON, str(ROOT / "main.py"), "--environments", str(environments), "synth", "--no-extensions",
            "--engine", engine, "--out", str(outdir), *extra]


def with_cache(env: dict[str, str], cache: Path) -> dict[str, str]:
    return {**env, "AWS_ORG_WORKSPACES_CACHE": str(cache)}


def profile_top(command: list[str], stats_file: Path, env: dict[str, str], top: int = 12) -> str:
    """The top entries (cumulative time) of a cProfile of ``command`` (a synth), run in a fresh process:
    this project's functions and the libraries doing its work (the CLI framework's wrappers left out)."""
    result = subprocess.run([PYTHON, "-m", "cProfile", "-o", str(stats_file), *command[1:]], env=env,
                            capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout}{result.stderr}")
    stream = io.StringIO()
    pstats.Stats(str(stats_file), stream=stream).sort_stats("cumulative").print_stats(PROFILED, top)
    return stream.getvalue()


def incremental(environments: Path, size: int, folder: Path, engine: str, env: dict[str, str], repeats: int):
    """Synth after a cold run (empty cache): with nothing changed, one environment file edited, one added;
    each kind ``repeats`` times in a row (another file each time), its median run kept with the range of
    the times. Returns the rows, whether the output then equals a cold synth's byte for byte, and the
    profile of a run after an edit."""
    copy = folder / f"incremental-{engine}"
    shutil.copytree(environments, copy / "environments")
    environments = copy / "environments"
    env = with_cache(env, copy / "cache")
    out = copy / "out"
    command = synth_command(environments, out, engine)
    cold = measure(command, env)
    rows = [("cold, empty cache", cold, [cold[0]])]
    steps = [("nothing changed", lambda attempt: None),
             ("one file edited", lambda attempt: change_one_environment(environments, size, attempt)),
             ("one file added", lambda attempt: add_one_environment(environments, size + attempt))]
    for run, step in steps:
        runs = []
        for attempt in range(repeats):
            step(attempt)
            runs.append(measure(command, env))
        rows.append((run, median(runs), sorted(seconds for seconds, _ in runs)))
    change_one_environment(environments, size, repeats)  # edited again, for the profile
    profile = profile_top(command, copy / "edit.prof", env)
    cold_out = copy / "cold"
    measure(synth_command(environments, cold_out, engine, "--no-cache"), env)
    identical = read_tree(out) == read_tree(cold_out)
    return rows, identical, profile


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="development environment counts to generate")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the typed-constructs baseline")
    parser.add_argument("--engines", default=None, help="engines to measure (default: every one installed)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="for the largest size: cold synths and parse floors measured alternately, and each kind "
                             "of incremental run (median)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from generators.config.organization import load_organization
    from generators.synth.engine import installed_engines

    engines = args.engines.split(",") if args.engines else list(installed_engines())
    # The package runs from its bytecode, as it does once Python has imported it: compiled here in case
    # this shell sets PYTHONDONTWRITEBYTECODE, which would have every run compile it (0.15 s) while the
    # libraries, compiled when installed, do not.
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "generators"), str(ROOT / "main.py")], check=True)
    sizes = [int(n) for n in args.sizes.split(",")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    cases = [("example", 0)] + [(f"{n} dev envs", n) for n in sizes]
    rows, incremental_rows = [], []
    floor = profile = first_on_machine = None
    pairs: dict[str, list[tuple[float, float]]] = {}  # engine -> (cold synth s, parse floor s) measured side by side
    with tempfile.TemporaryDirectory() as scratch:
        for label, size in cases:
            folder = Path(scratch) / label.replace(" ", "-")
            folder.mkdir(parents=True)
            environments = generated_organization(folder, size) if size else ROOT / "environments"
            count = len(load_organization(environments, ROOT / "modules").environments)
            baseline = None
            if not args.skip_baseline:
                baseline = measure([PYTHON, str(ROOT / "benchmarks" / "typed_baseline.py"), str(environments),
                                    str(folder / "baseline")], env)
            largest = bool(size) and size == max(sizes)
            repeats = args.repeat if largest else 1
            floors = []
            if largest:
                # the first synth on a machine also makes the signing key and hashes the provider mirror,
                # once (both are kept in the user's cache folder, not the project's): measured apart
                first_on_machine = measure(synth_command(environments, folder / "first", engines[0]),
                                           {**with_cache(env, folder / "cache-first"),
                                            "XDG_CACHE_HOME": str(folder / "user-cache")})
            for engine in engines:
                # cold: an empty cache (--no-cache would also skip writing it, which a first run pays). For
                # the largest organization, the median of several runs, each next to a run of the parse
                # floor, so that the ratio holds while the machine's speed drifts.
                colds = []
                for attempt in range(repeats):
                    colds.append(measure(synth_command(environments, folder / f"ours-{engine}-{attempt}", engine),
                                         with_cache(env, folder / f"cache-{engine}-{attempt}")))
                    if largest:
                        floors.append(parse_floor(environments, env))
                        pairs.setdefault(engine, []).append((colds[-1][0], floors[-1][0]))
                rows.append((label, count, engine, median(colds), baseline))
                if size:
                    incremental_rows.append((label, count, engine, *incremental(environments, size, folder, engine,
                                                                                env, repeats)))
            if largest:
                floor = (label, median(floors))
                profile = profile_top(synth_command(environments, folder / "profiled", engines[0], "--no-cache"),
                                      folder / "profiled.prof", env)
    print(f"{'case':<16}{'envs':>6}{'engine':>8}{'synth s':>10}{'peak MB':>10}{'baseline s':>12}{'peak MB':>10}"
          f"{'speed-up':>10}")
    for label, count, engine, (seconds, megabytes), baseline in rows:
        base = f"{baseline[0]:>12.2f}{baseline[1]:>10.0f}{baseline[0] / seconds:>9.1f}x" if baseline else ""
        print(f"{label:<16}{count:>6}{engine:>8}{seconds:>10.2f}{megabytes:>10.0f}{base}")
    for engine in engines:
        mine = [(count, seconds) for _, count, e, (seconds, _), _ in rows if e == engine]
        if len(mine) >= 3:
            (small_n, small_s), (large_n, large_s) = mine[-2], mine[-1]
            marginal = (large_s - small_s) / (large_n - small_n)
            print(f"{engine}: {small_s / small_n * 1000:.1f} ms per environment at {small_n}, "
                  f"{large_s / large_n * 1000:.1f} ms at {large_n}; marginal cost {marginal * 1000:.1f} ms per added "
                  "environment (linear: constant marginal cost, falling average)")

    print("\nincremental synth (the cache in .cache/synth), each run in a fresh process after the one above it;"
          f"\nfor the largest organization each kind of run {args.repeat} times in a row, another file each time "
          "(median, and the range):")
    print(f"{'case':<16}{'envs':>6}{'engine':>8}  {'run':<20}{'synth s':>9}{'peak MB':>9}{'vs cold':>9}  range s")
    for label, count, engine, runs, identical, _ in incremental_rows:
        cold = runs[0][1][0]
        for run, (seconds, megabytes), times in runs:
            spread = f"  {times[0]:.2f}-{times[-1]:.2f}" if len(times) > 1 else ""
            print(f"{label:<16}{count:>6}{engine:>8}  {run:<20}{seconds:>9.2f}{megabytes:>9.0f}"
                  f"{cold / seconds:>8.1f}x{spread}")
        print(f"{'':<30}  output identical to a cold synth (--no-cache): {'yes' if identical else 'NO'}")
    if floor:
        label, (parse_seconds, parse_megabytes) = floor
        print(f"\n{label}: parse floor (python-hcl2 alone) {parse_seconds:.2f} s, {parse_megabytes:.0f} MB "
              f"(median of {len(floors)})")
        for engine, measured in pairs.items():
            ratios = sorted(cold / parse for cold, parse in measured)
            print(f"{label}, {engine}: cold synth / parse floor, each pair measured side by side: median "
                  f"{ratios[len(ratios) // 2]:.2f}x (from {ratios[0]:.2f}x to {ratios[-1]:.2f}x over {len(ratios)} "
                  "pairs)")
        for case, _, engine, runs, _, _ in incremental_rows:
            if case == label:
                edited = {run: measured for run, measured, _ in runs}["one file edited"][0]
                print(f"{label}, {engine}: after one file edited {edited:.2f} s (median); synth/parse "
                      f"{edited / parse_seconds:.2f}x")
        if first_on_machine:
            print(f"{label}, {engines[0]}: first synth on a machine (also makes the signing key and hashes the "
                  f"provider mirror, once) {first_on_machine[0]:.2f} s")
    if profile:
        print(f"\nprofile of one cold synth ({floor[0] if floor else ''}, {engines[0]}, --no-cache), top entries by "
              "cumulative time:")
        print(profile)
    for case, _, engine, _, _, edit_profile in incremental_rows:
        if floor and case == floor[0] and engine == engines[0]:
            print(f"profile of synth after one file edited ({case}, {engine}), top entries by cumulative time:")
            print(edit_profile)


if __name__ == "__main__":
    main()
