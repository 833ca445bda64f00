"""The Dockerfile, read as Docker would (no Docker engine here, so the image itself is not built):
pinned slim bases, a numeric non-root user that matches the manifests, no build tools or curl|sh
in the final image, nothing written at run time, and the operator as the entrypoint."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from .manifests import ROOT, helm_render, one, pod_specs, rendered

DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Instruction:
    keyword: str
    value: str


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped, ARG defaults left unexpanded."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, value = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip()))
    assert not pending, "a continuation line ends the file"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def global_args(instructions: list[Instruction]) -> dict[str, str]:
    args = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG" and "=" in instruction.value:
            name, _, default = instruction.value.partition("=")
            args[name] = default
    return args


def base_image(stage: list[Instruction], args: dict[str, str]) -> str:
    image = stage[0].value.split()[0]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], image)


INSTRUCTIONS = parse(DOCKERFILE.read_text())
STAGES = stages(INSTRUCTIONS)
FINAL = STAGES[-1]


def test_multi_stage_on_pinned_slim_python_bases() -> None:
    args = global_args(INSTRUCTIONS)
    assert len(STAGES) >= 2
    for stage in STAGES:
        image = base_image(stage, args)
        name, _, tag = image.rpartition(":")
        assert name == "python", image
        assert tag and tag != "latest", f"{image}: pin a tag"
        assert re.fullmatch(r"3\.11\.\d+-slim-\w+", tag), f"{image}: a patch-pinned slim Python 3.11"


def test_final_image_runs_as_the_numeric_non_root_user_the_manifests_expect() -> None:
    users = [i.value for i in FINAL if i.keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, "a numeric uid, so that Kubernetes' runAsNonRoot can verify it"
    assert not gid or (gid.isdigit() and int(gid) > 0)
    for variant in ("cluster-wide", "namespaced"):
        (pod,) = pod_specs(rendered(variant))
        assert pod["securityContext"]["runAsUser"] == int(uid)
    assert next(pod_specs(helm_render()))["securityContext"]["runAsUser"] == int(uid)


def test_entrypoint_is_the_operator_in_exec_form() -> None:
    (entrypoint,) = [i.value for i in FINAL if i.keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["sagemaker-operator", "run"]  # exec form: SIGTERM reaches the operator


def test_no_build_tools_no_downloaded_scripts_and_nothing_written_at_run_time() -> None:
    for instruction in INSTRUCTIONS:
        assert instruction.keyword != "ADD", "ADD can fetch URLs and unpack archives; COPY says what it does"
        if instruction.keyword == "RUN":
            assert not re.search(r"(curl|wget)[^|;&]*\|\s*(ba)?sh", instruction.value), instruction.value
    for instruction in FINAL:
        if instruction.keyword == "RUN":
            words = set(shlex.split(instruction.value))
            assert not words & {"apt-get", "apk", "gcc", "make", "build-essential", "pip"}, instruction.value
    copies = [i.value for i in FINAL if i.keyword == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), "the final stage takes only the built venv"
    environment = " ".join(i.value for i in FINAL if i.keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in environment  # no .pyc written next to the read-only code
    assert "HOME=/tmp" in environment  # the only writable directory (emptyDir in the manifests)
    build = " ".join(i.value for i in STAGES[0] if i.keyword == "RUN")
    assert "--only-binary=:all:" in build and "compileall" in build


def test_the_health_port_is_the_one_the_probes_use() -> None:
    exposed = [i.value for i in FINAL if i.keyword == "EXPOSE"]
    (container,) = one(rendered("cluster-wide"), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert exposed == [str(container["ports"][0]["containerPort"])]


def test_dockerignore_keeps_the_build_context_to_the_package() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!sagemaker_operator/"} <= set(lines)
    copied = {
        source
        for stage in STAGES
        for i in stage
        if i.keyword == "COPY" and not i.value.startswith("--")
        for source in i.value.split()[:-1]  # the last word is the destination
    }
    for source in copied:
        assert f"!{source}" in lines or f"!{source}/" in lines, f"{source} is copied but excluded by .dockerignore"
