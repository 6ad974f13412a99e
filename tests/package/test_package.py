"""The repository is a valid ament_python package: manifest, install layout, colcon build, launch
and parameter files, the README's commands, and a clean lint."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import re
import shutil
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


def test_parameter_file_is_valid_ros2_yaml(repo_root):
    params = yaml.safe_load((repo_root / "config" / "san.yaml").read_text())
    values = params["/**"]["ros__parameters"]
    assert {"model", "backend", "use_lidar", "lidar_extrinsic"} <= set(values)
    assert len(values["lidar_extrinsic"]) == 7


def test_launch_file_is_valid(repo_root):
    path = repo_root / "launch" / "san.launch.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    try:
        from launch import LaunchDescription  # noqa: F401
    except ImportError:
        pytest.skip("the ROS 'launch' package is not installed (not on PyPI): parsed only")
    spec = importlib.util.spec_from_file_location("san_launch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {a.name for a in description.entities if hasattr(a, "default_value")}
    assert {"namespace", "params_file", "model", "backend", "use_lidar"} <= names


@pytest.mark.slow
def test_colcon_build_installs_runnable_executables(repo_root, venv_bin, tmp_path):
    colcon = venv_bin / "colcon"
    if not colcon.exists():
        colcon = shutil.which("colcon")
    assert colcon, "colcon is part of the dev extra: run scripts/setup.sh"
    result = subprocess.run([str(colcon), "--log-base", str(tmp_path / "log"), "build", "--paths", str(repo_root),
                             "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = tmp_path / "install" / "depth_ros"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "depth_ros").is_file()
    assert (prefix / "share" / "depth_ros" / "launch" / "san.launch.py").is_file()
    assert (prefix / "share" / "depth_ros" / "config" / "san.yaml").is_file()
    assert (prefix / "share" / "depth_ros" / "package.xml").is_file()
    exe = prefix / "lib" / "depth_ros" / "depth-ros-sim"
    assert exe.is_file()
    # What `ros2 run depth_ros depth-ros-sim` does: source the workspace, run lib/depth_ros/<exe>.
    out = tmp_path / "bag"
    script = (f"source {tmp_path / 'install' / 'setup.bash'} && {exe} --out {out} --frames 1 --width 32 --height 24 "
              "--quiet && python -c 'import depth_ros; print(depth_ros.__file__)'")
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert str(prefix) in run.stdout, "the installed copy, not the source tree, was imported"
    assert (out / "metadata.yaml").is_file()


def _quick_start_commands(readme: str) -> list[str]:
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_quick_start_has_two_commands_and_ci_runs_the_second(repo_root):
    commands = _quick_start_commands((repo_root / "README.md").read_text())
    assert len(commands) == 2
    setup, tests = commands
    assert "scripts/setup.sh" in setup and "depth-ros-sim" in setup
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
