#!/usr/bin/env python3
"""The images are built from what CI tested, or this fails.

CI tests with `cargo test --workspace` (.ci/run) on the machine's toolchain, in the dev profile;
the Dockerfile builds release binaries. The profile differs on purpose. What must not differ,
and what each check below holds:

  toolchain  the Dockerfile's `FROM rust:<version>` is the `rustc --version` CI tests with;
  features   the feature flags of the Dockerfile's `cargo build` are those of every cargo
             command in .ci/run (today: none on either side, i.e. the default features);
  lockfile   the Dockerfile builds with --locked, and Cargo.lock is current (`cargo metadata
             --locked`), so CI's unlocked `cargo test` resolved the same versions the image
             build will be held to;
  packages   `cargo build -p ...` names exactly the packages under services/, and each has its
             image stage: `FROM runtime AS <name>`, its binary copied from the builder, an
             exec-form ENTRYPOINT and a HEALTHCHECK running `<name> healthcheck`;
  cache      `cargo chef cook` has the very flags of `cargo build` (minus --recipe-path), or the
             cached dependency layer is built for another profile or package set and wasted;
  compose    every `build.target` in docker-compose.yml is one of those stages.

Run by scripts/validate-deploy.sh; prints what it compared, exits 1 on any difference.
"""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEATURE_FLAGS = ("--features", "-F", "--all-features", "--no-default-features", "--target")

failures = []


def fail(message):
    failures.append(message)
    print(f"  FAIL {message}")


def ok(message):
    print(f"  ok   {message}")


def dockerfile_runs(text):
    """The Dockerfile's instructions, with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    return lines


def cargo_args(command, subcommand):
    """The arguments after `cargo <subcommand>` in a shell command line, or None."""
    words = shlex.split(command)
    for i in range(len(words) - len(subcommand)):
        if words[i] == "cargo" and words[i + 1 : i + 1 + len(subcommand)] == subcommand:
            return words[i + 1 + len(subcommand) :]
    return None


def feature_flags(args):
    """The flags that change what gets compiled, with their values."""
    found, i = [], 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if name in FEATURE_FLAGS:
            if "=" in arg or name in ("--all-features", "--no-default-features"):
                found.append(arg)
            else:
                found.append(f"{arg}={args[i + 1] if i + 1 < len(args) else ''}")
                i += 1
        i += 1
    return sorted(found)


def packages(args):
    found, i = [], 0
    while i < len(args):
        if args[i] in ("-p", "--package") and i + 1 < len(args):
            found.append(args[i + 1])
            i += 1
        elif args[i].startswith("--package="):
            found.append(args[i].split("=", 1)[1])
        i += 1
    return found


def main():
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = dockerfile_runs(dockerfile)
    runs = [i[len("RUN ") :] for i in instructions if i.startswith("RUN ")]

    builds = [a for a in (cargo_args(r, ["build"]) for r in runs) if a is not None]
    cooks = [a for a in (cargo_args(r, ["chef", "cook"]) for r in runs) if a is not None]
    if len(builds) != 1 or len(cooks) != 1:
        fail(f"expected one `cargo build` and one `cargo chef cook` in the Dockerfile, found {len(builds)} and {len(cooks)}")
        return
    build, cook = builds[0], cooks[0]
    print(f"Dockerfile: cargo build {' '.join(build)}")

    # toolchain
    image = re.search(r"^FROM\s+rust:(\d+\.\d+\.\d+)\S*", dockerfile, re.M)
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, cwd=ROOT)
    ci_version = re.search(r"rustc (\d+\.\d+\.\d+)", rustc.stdout)
    if not image:
        fail("the builder is not `FROM rust:<x.y.z>...`: its toolchain is not pinned")
    elif not ci_version:
        fail(f"could not read CI's toolchain from `rustc --version`: {rustc.stdout or rustc.stderr}")
    elif image.group(1) != ci_version.group(1):
        fail(f"toolchain: the Dockerfile builds with rust:{image.group(1)}, CI tests with rustc {ci_version.group(1)}")
    else:
        ok(f"toolchain: rust:{image.group(1)} in the Dockerfile = rustc {ci_version.group(1)} in CI")

    # cache: cook must build what build builds
    cook_flags = []
    skip = False
    for arg in cook:
        if skip:
            skip = False
            continue
        if arg == "--recipe-path":
            skip = True
            continue
        if arg.startswith("--recipe-path="):
            continue
        cook_flags.append(arg)
    if cook_flags != build:
        fail(f"cache: `cargo chef cook {' '.join(cook_flags)}` differs from `cargo build {' '.join(build)}`")
    else:
        ok("cache: `cargo chef cook` has the flags of `cargo build`")

    # release and lockfile
    for flag in ("--release", "--locked"):
        if flag in build:
            ok(f"the Dockerfile's cargo build has {flag}")
        else:
            fail(f"the Dockerfile's cargo build lacks {flag}")
    lock = subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if lock.returncode != 0:
        last = lock.stderr.strip().splitlines()[-1:] or [""]
        fail(f"lockfile: `cargo metadata --locked` fails, so the image's `cargo build --locked` would: {last[0]}")
    else:
        ok("lockfile: Cargo.lock is current (`cargo metadata --locked`)")

    # features, against every cargo command CI runs
    ci_commands = []
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        for sub in (["test"], ["build"], ["nextest", "run"]):
            args = cargo_args(stripped, sub) if "cargo" in stripped else None
            if args is not None:
                ci_commands.append((" ".join(["cargo", *sub, *args]), args))
    if not ci_commands:
        fail("no cargo test/build command found in .ci/run")
    wanted = feature_flags(build)
    for text, args in ci_commands:
        if feature_flags(args) != wanted:
            fail(f"features: .ci/run's `{text}` compiles with {feature_flags(args) or 'default features'}, "
                 f"the Dockerfile with {wanted or 'default features'}")
        else:
            ok(f"features: `{text}` (CI) and the Dockerfile both use {wanted or 'the default features'}")

    # packages, and a stage per package
    metadata = json.loads(lock.stdout) if lock.returncode == 0 else {"packages": [], "workspace_members": []}
    members = set(metadata.get("workspace_members", []))
    services = sorted(
        p["name"]
        for p in metadata["packages"]
        if p["id"] in members and Path(p["manifest_path"]).parent.parent == ROOT / "services"
    )
    built = sorted(packages(build))
    if built != services:
        fail(f"packages: the Dockerfile builds {built}, services/ holds {services}")
    else:
        ok(f"packages: the Dockerfile builds every service: {', '.join(built)}")
    stages, current = {}, None
    for instruction in instructions:
        header = re.match(r"^FROM\s+\S+\s+AS\s+(\S+)$", instruction, re.I)
        if instruction.upper().startswith("FROM "):
            current = header.group(1) if header else None
            stages[current] = []
        elif current is not None:
            stages[current].append(instruction)
    for name in built:
        binary = f"/usr/local/bin/{name}"
        if not any(re.match(rf"^FROM runtime AS {re.escape(name)}$", i) for i in instructions):
            fail(f"stage {name}: no `FROM runtime AS {name}`")
            continue
        needed = {
            f"COPY --from=builder /app/target/release/{name}": rf"^COPY --from=builder /app/target/release/{re.escape(name)} {re.escape(binary)}$",
            f'ENTRYPOINT ["{binary}"]': rf'^ENTRYPOINT \["{re.escape(binary)}"\]$',
            f'HEALTHCHECK ... CMD ["{binary}", "healthcheck"]': rf'^HEALTHCHECK .*CMD \["{re.escape(binary)}", "healthcheck"\]$',
        }
        missing = [k for k, pattern in needed.items() if not any(re.match(pattern, i) for i in stages[name])]
        if missing:
            fail(f"stage {name}: missing {'; '.join(missing)}")
        else:
            ok(f"stage {name}: binary, exec-form ENTRYPOINT, HEALTHCHECK `{name} healthcheck`")

    try:
        import yaml  # PyYAML, in the venv with yamllint
    except ImportError:
        fail("compose: PyYAML is missing; run under target/deploy-venv/bin/python")
        return
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service, spec in sorted(compose.get("services", {}).items()):
        build_spec = spec.get("build")
        if build_spec is None:
            continue
        target = build_spec.get("target") if isinstance(build_spec, dict) else None
        if target not in built:
            fail(f"compose: service {service} builds target {target!r}, not one of the Dockerfile's service stages")
        else:
            ok(f"compose: {service} builds the Dockerfile's {target} stage")


if __name__ == "__main__":
    main()
    if failures:
        print(f"check-build-cmd: {len(failures)} finding(s)")
        sys.exit(1)
