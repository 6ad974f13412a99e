"""The repository is a valid ament_python package: manifest, install layout, colcon build, launch
and parameter files, the README's commands, and a clean lint."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml

EXEC_DEPENDS = {"rclpy", "sensor_msgs", "std_msgs", "geometry_msgs", "diagnostic_msgs", "tf2_ros",
                "python3-numpy", "python3-opencv", "python3-torch"}


def test_package_xml_is_format_3_ament_python_with_the_runtime_dependencies(repo_root):
    root = ET.parse(repo_root / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "depth_ros"
    assert root.find("export/build_type").text == "ament_python"
    assert {e.text for e in root.findall("exec_depend")} >= EXEC_DEPENDS


def test_setup_cfg_puts_scripts_where_ros2_run_looks(repo_root):
    cfg = configparser.ConfigParser()
    cfg.read(repo_root / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/depth_ros"
    assert cfg["install"]["install_scripts"] == "$base/lib/depth_ros"
    assert (repo_root / "resource" / "depth_ros").is_file()


def _launch_arguments(path) -> dict:
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions, path
    assign = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS")
    return ast.literal_eval(assign.value)


@pytest.mark.parametrize("name", ["san.launch.py", "image_only.launch.py"])
def test_launch_files_parse_and_name_what_exists(repo_root, name):
    path = repo_root / "launch" / name
    args = _launch_arguments(path)
    assert {"namespace", "params_file", "model", "backend", "image", "camera_info"} <= set(args)
    # Empty by default: a params_file's model and backend stand unless given on the command line.
    assert args["model"][0] == args["backend"][0] == ""
    if name == "san.launch.py":
        assert {"use_lidar", "lidar", "odom", "use_sim_time"} <= set(args) and args["use_lidar"][0] == ""
        assert "parameter_overrides(" in path.read_text()
        executable = args["executable"][0]
        assert f"{executable} = depth_ros.nodes.san_node:main" in (repo_root / "setup.py").read_text()
        assert "config\", \"san.yaml" in path.read_text().replace("'", "\"")
    try:
        from launch import LaunchDescription  # noqa: F401
    except ImportError:
        pytest.skip("the ROS 'launch' package is not installed (not on PyPI): parsed only")
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {a.name for a in description.entities if hasattr(a, "default_value")}
    assert set(args) <= declared


def test_parameter_file_and_docs_cover_every_node_parameter(repo_root):
    from depth_ros.nodes.san_node import PARAMETERS

    values = yaml.safe_load((repo_root / "config" / "san.yaml").read_text())["/**"]["ros__parameters"]
    assert set(values) == set(PARAMETERS)
    for name, value in values.items():
        assert type(value) is type(PARAMETERS[name][0]), name
    docs = (repo_root / "docs" / "components.md").read_text()
    for name in PARAMETERS:
        assert f"`{name}`" in docs, name
    for topic in ("`image`", "`camera_info`", "`lidar_points`", "`depth/image`", "`depth/camera_info`",
                  "`depth/confidence`", "`pseudo_lidar/points`"):
        assert topic in docs


def test_the_images_alignment_is_on_by_default_wherever_sweeps_are_merged(repo_root):
    from depth_ros.nodes.san_node import PARAMETERS
    from depth_ros.pipeline import PipelineConfig

    assert PARAMETERS["lidar_align_images"][0] is True                  # what the node declares
    values = yaml.safe_load((repo_root / "config" / "san.yaml").read_text())["/**"]["ros__parameters"]
    assert values["lidar_align_images"] is True
    assert PipelineConfig().lidar_align_images is True


@pytest.mark.slow
def test_colcon_build_installs_runnable_executables(colcon_install, tmp_path):
    prefix = colcon_install / "depth_ros"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "depth_ros").is_file()
    for name in ("launch/san.launch.py", "launch/image_only.launch.py", "config/san.yaml", "package.xml"):
        assert (prefix / "share" / "depth_ros" / name).is_file(), name
    for exe in ("san_node", "depth-ros-sim", "depth-ros-play", "depth-ros-dataset", "depth-core"):
        assert (prefix / "lib" / "depth_ros" / exe).is_file(), exe
    # What `ros2 run depth_ros depth-ros-sim` does: source the workspace, run lib/depth_ros/<exe>.
    out = tmp_path / "bag"
    exe = prefix / "lib" / "depth_ros" / "depth-ros-sim"
    script = (f"source {colcon_install / 'setup.bash'} && {exe} --out {out} --frames 1 --width 32 --height 24 "
              "--quiet && python -c 'import depth_ros; print(depth_ros.__file__)'")
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert str(prefix) in run.stdout, "the installed copy, not the source tree, was imported"
    assert (out / "metadata.yaml").is_file()
    shipped = next(prefix.glob("lib/python3*/site-packages/depth_core/models/weights"))
    for name in ("san_efficientnet_lite0", "san_efficientnet_lite0_conf", "san_efficientnet_lite0_sel",
                 "san_efficientnet_lite0_selg", "san_efficientnet_lite0_selm", "san_efficientnet_lite0_selp",
                 "san_efficientnet_lite0_spn",
                 "san_resnet18"):   # every shipped model
        assert (shipped / f"{name}.safetensors").is_file() and (shipped / f"{name}.json").is_file()


def _quick_start_commands(readme: str) -> list[str]:
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_quick_start_has_two_commands_and_ci_runs_the_second(repo_root):
    commands = _quick_start_commands((repo_root / "README.md").read_text())
    assert len(commands) == 2
    setup, tests = commands
    assert "scripts/setup.sh" in setup and "scripts/demo.sh" in setup
    demo = (repo_root / "scripts" / "demo.sh").read_text()
    assert "depth-ros-sim" in demo and "depth-ros-eval" in demo and "--model default" in demo
    ci = (repo_root / ".ci" / "run").read_text()
    assert setup in ci and tests in ci


def test_ruff_is_clean(repo_root, venv_bin):
    ruff = venv_bin / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is part of the dev extra: run scripts/setup.sh")
    result = subprocess.run([str(ruff), "check", "."], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_depth_core_never_imports_ros(repo_root):
    pattern = re.compile(r"^\s*(import|from)\s+(rclpy|sensor_msgs|std_msgs|geometry_msgs|cv_bridge|rosbags|tf2_ros)\b",
                         re.M)
    offenders = [str(p.relative_to(repo_root)) for p in (repo_root / "depth_core").rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []


@pytest.mark.slow
def test_tensorrt_is_an_optional_extra_never_installed_by_setup(repo_root, venv_bin):
    call = next(node for node in ast.walk(ast.parse((repo_root / "setup.py").read_text()))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup")
    keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords
                if k.arg in ("install_requires", "extras_require")}
    names = {req.split(">")[0].split("=")[0].split("<")[0].strip() for req in keywords["install_requires"]}
    assert not names & {"tensorrt", "pycuda", "onnxruntime-gpu"}
    extras = keywords["extras_require"]
    assert extras["tensorrt"] == ["tensorrt>=10,<11"]
    assert set(extras["tensorrt-pycuda"]) == {"tensorrt>=10,<11", "pycuda>=2024.1"}
    assert "tensorrt" not in (repo_root / "scripts" / "setup.sh").read_text()
    # and the package imports without them: TensorRT is imported only when asked for
    run = subprocess.run([str(venv_bin / "python"), "-c", "import sys, depth_core.inference, depth_core.cli; "
                          "print(sorted(m for m in ('tensorrt', 'pycuda') if m in sys.modules))"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stderr


def test_launch_arguments_override_the_parameter_file_only_where_given():
    from depth_ros.nodes.launch_overrides import parameter_overrides

    assert parameter_overrides({"model": "", "backend": "", "use_lidar": ""}) == {}
    assert parameter_overrides({"model": "runs/mine/model.safetensors", "backend": " ", "use_lidar": "False"}) == \
        {"model": "runs/mine/model.safetensors", "use_lidar": False}
    assert parameter_overrides({"backend": "torch", "use_lidar": "1"}) == {"backend": "torch", "use_lidar": True}
    with pytest.raises(ValueError, match="use_lidar:=maybe: expected true or false"):
        parameter_overrides({"use_lidar": "maybe"})
    # Replaying a bag with --clock: the node's own use_sim_time.
    assert parameter_overrides({"use_sim_time": "true", "model": ""}) == {"use_sim_time": True}
    with pytest.raises(ValueError, match="use_sim_time:=sometimes: expected true or false"):
        parameter_overrides({"use_sim_time": "sometimes"})
