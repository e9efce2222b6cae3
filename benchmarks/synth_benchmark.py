#!/usr/bin/env python3
"""Synthesis benchmark: prints its figures; no thresholds are asserted here or in the tests.

Measures, in one run and each in a fresh process (cold):
  * `python main.py synth --no-extensions` of the example organization, and of generated
    organizations with 100 and 1,000 development environments, through each engine installed
    (cdktf: CDK for Terraform; cdktn: CDK Terrain);
  * the baseline: the same workspaces synthesized through cdktf with typed
    `cdktf_cdktf_provider_aws` constructs (AwsProvider, DataTerraformRemoteStateS3, ...);
and prints wall time, peak memory (the largest process: Python or cdktf's Node.js runtime) and
ratios against the baseline. For the largest organization it also prints the parse floor (python-hcl2
parsing the same files alone, in a fresh process) with synth's ratio to it, and the top entries of a
cProfile of one cold synth (cumulative time). Targets (from the issue): example >= 10x faster than the baseline;
1,000 environments < 10 s and < 300 MB; time linear in the number of environments.

    .venv/bin/python benchmarks/synth_benchmark.py [--sizes 100,1000] [--engines cdktf,cdktn] [--skip-baseline]
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


def generated_organization(folder: Path, development_environments: int) -> Path:
    """The example organization plus N short-lived API environments in the shared development account."""
    environments = folder / "environments"
    shutil.copytree(ROOT / "environments", environments)
    lines = []
    for index in range(development_environments):
        lines.append(f'''environment "feature-{index:04d}" {{
  account = "dev"
  uses    = "dev"
  ttl     = "7d"
  module "api" {{
    source = "api"
    inputs = {{
      table_name  = uses.infra.table_name
      bucket_name = uses.infra.bucket_name
    }}
  }}
}}
''')
    (environments / "generated-features.hcl").write_text("\n".join(lines))
    return environments


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


def parse_floor(environments: Path, env: dict[str, str]) -> tuple[float, float]:
    """What parsing the organization's files with python-hcl2 alone costs (cold, like synth)."""
    return measure([PYTHON, "-c", PARSE_FLOOR, str(environments)], env)


PROFILED = r"generators/|hcl2/|lark/|jsii/|json/"


def profile_top(environments: Path, outdir: Path, engine: str, env: dict[str, str], top: int = 12) -> str:
    """The top entries (cumulative time) of a cProfile of one cold synth, run in a fresh process: this
    project's functions and the libraries doing its work (the CLI framework's wrappers left out)."""
    stats_file = outdir.with_suffix(".prof")
    command = [PYTHON, "-m", "cProfile", "-o", str(stats_file), str(ROOT / "main.py"), "--environments",
               str(environments), "synth", "--no-extensions", "--engine", engine, "--out", str(outdir)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout}{result.stderr}")
    stream = io.StringIO()
    pstats.Stats(str(stats_file), stream=stream).sort_stats("cumulative").print_stats(PROFILED, top)
    return stream.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="development environment counts to generate")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the typed-constructs baseline")
    parser.add_argument("--engines", default=None, help="engines to measure (default: every one installed)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from generators.config import load_organization
    from generators.engine import installed_engines

    engines = args.engines.split(",") if args.engines else list(installed_engines())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    cases = [("example", 0)] + [(f"{n} dev envs", n) for n in map(int, args.sizes.split(","))]
    rows = []
    floor = profile = None
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
            for engine in engines:
                ours = measure([PYTHON, str(ROOT / "main.py"), "--environments", str(environments), "synth",
                                "--no-extensions", "--engine", engine, "--out", str(folder / f"ours-{engine}")], env)
                rows.append((label, count, engine, ours, baseline))
            if size and size == max(map(int, args.sizes.split(","))):
                floor = (label, parse_floor(environments, env))
                profile = profile_top(environments, folder / "profiled", engines[0], env)
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

    if floor:
        label, (parse_seconds, parse_megabytes) = floor
        for case, _, engine, (seconds, _), _ in rows:
            if case == label:
                print(f"{label}, {engine}: synth {seconds:.2f} s, parse floor (python-hcl2 alone) {parse_seconds:.2f} s "
                      f"({parse_megabytes:.0f} MB); synth/parse {seconds / parse_seconds:.1f}x")
    if profile:
        print(f"profile of one cold synth ({floor[0] if floor else ''}, {engines[0]}), top entries by cumulative time:")
        print(profile)


if __name__ == "__main__":
    main()
