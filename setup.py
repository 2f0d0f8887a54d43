"""ament_python package ant_ros; also installs with plain pip (``pip install -e .``)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ant_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/worlds", glob("worlds/*.sdf")),
    ],
    package_data={"ant_ros.tasks.worlds": ["*.yaml"]},
    include_package_data=True,
    install_requires=["setuptools", "numpy", "numba", "gymnasium", "PyYAML", "matplotlib",
                      "ir-sim"],
    # ant-ros sweep --ray-address: optional, imported only there
    # ant-ros bench continual's ppo system: optional, imported only there (on a CPU-only machine
    # install torch's CPU build first: pip install torch --index-url .../whl/cpu)
    extras_require={"ray": ["ray[default]>=2.9"], "sb3": ["stable-baselines3>=2.3,<3"]},
    zip_safe=False,
    maintainer="ant_ros maintainers",
    maintainer_email="maintainers@ant-ros.dev",
    description="Online learning on the robot with an asynchronous event-driven neural network.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "ant-ros = ant_ros.cli:main",
            "ant_encoder = ant_ros.nodes.encoder_node:main",
            "ant_learner = ant_ros.nodes.learner_node:main",
            "ant_managed_learner = ant_ros.nodes.learner_node:main_managed",
            "ant_managed_encoder = ant_ros.nodes.encoder_node:main_managed",
            "ant_gym_bridge = ant_ros.nodes.bridge_node:main",
            "ant_irsim_robot = ant_ros.nodes.irsim_node:main",
            "ant_nav_reward = ant_ros.nodes.nav_reward_node:main",
            "ant_goal_source = ant_ros.nodes.goal_source_node:main",
        ],
    },
)
