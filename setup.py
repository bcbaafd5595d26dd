"""Packaging for trainlib: everything is read from settings.ini (nbdev 2 layout)."""
import platform
from configparser import ConfigParser
from pathlib import Path

import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).parent / "settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]

# TensorFlow: the CPU-only wheel on Linux x86_64 (small, no CUDA), the full wheel elsewhere.
# Pinned to 2.21: the version the tests run on, and TensorBoard must match it.
if platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64"):
    tensorflow = "tensorflow-cpu>=2.21,<2.22"
else:
    tensorflow = "tensorflow>=2.21,<2.22"
# tensorflow-cpu does not pull in TensorBoard, which the TensorBoard callback (and keras-tuner) need;
# it must match TensorFlow's minor version.
requirements = [tensorflow, "tensorboard>=2.21,<2.22", *cfg.get("requirements", "").split()]
dev_requirements = cfg.get("dev_requirements", "").split()

setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author=cfg["author"],
    author_email=cfg["author_email"],
    license="Apache-2.0",
    url=cfg["git_url"],
    python_requires=f">={cfg['min_python']}",
    packages=setuptools.find_packages(include=[cfg["lib_name"], cfg["lib_name"] + ".*"]),
    include_package_data=True,
    install_requires=requirements,
    extras_require={"dev": dev_requirements},
    entry_points={
        "console_scripts": cfg.get("console_scripts", "").split(),
        "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    zip_safe=False,
)
