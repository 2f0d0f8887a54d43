"""A ROS robot (the Gymnasium bridge running CartPole or Pendulum) as a Gymnasium env."""

import threading

import gymnasium as gym
import numpy as np
import pytest
import rclpy
from gymnasium.utils.env_checker import check_env
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

import ant_ros.gym  # noqa: F401  (registers ant_ros/RosRobot-v0)
from ant_ros.nodes.bridge_node import GymBridgeNode


class BridgeThread:
    """The bridge node spinning in its own context and thread, like a separate robot."""

    def __init__(self, env_id: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = GymBridgeNode(context=self.context, parameter_overrides=[
            Parameter("env_id", value=env_id)])
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        while rclpy.ok(context=self.context):
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # shutting down
                break

    def close(self) -> None:
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def cartpole_robot():
    robot = BridgeThread("CartPole-v1")
    yield robot
    robot.close()


def test_ros_robot_env_passes_the_gymnasium_checker(cartpole_robot):
    env = gym.make("ant_ros/RosRobot-v0", observation_size=4, n_actions=2)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_ros_robot_env_plays_episodes_like_the_env_itself(cartpole_robot):
    env = gym.make("ant_ros/RosRobot-v0", observation_size=4, n_actions=2)
    local = gym.make("CartPole-v1")
    try:
        obs, _ = env.reset(seed=7)
        expected, _ = local.reset(seed=7)
        np.testing.assert_allclose(obs, expected, rtol=1e-6)
        for step in range(300):
            action = step % 2 if step % 7 else 1
            obs, reward, terminated, truncated, _ = env.step(action)
            expected, r, t_term, t_trunc, _ = local.step(action)
            np.testing.assert_allclose(obs, expected, rtol=1e-5, atol=1e-6)
            assert (reward, terminated, truncated) == (r, t_term, t_trunc)
            if terminated or truncated:
                break
        assert terminated
    finally:
        env.close()


def test_continuous_ros_robot_env():
    robot = BridgeThread("Pendulum-v1")
    env = gym.make("ant_ros/RosRobot-v0", observation_size=3, action_low=[-2.0],
                   action_high=[2.0])
    try:
        obs, _ = env.reset(seed=1)
        assert obs.shape == (3,) and env.observation_space.contains(obs)
        for _ in range(5):
            obs, reward, terminated, truncated, _ = env.step(np.array([1.5], np.float32))
            assert reward < 0 and not terminated
    finally:
        env.close()
        robot.close()


def test_stable_baselines3_learns_through_the_ros_env(cartpole_robot):
    """Runs where Stable-Baselines3 is installed (it needs torch, which the suite does not)."""
    sb3 = pytest.importorskip("stable_baselines3")
    env = gym.make("ant_ros/RosRobot-v0", observation_size=4, n_actions=2)
    try:
        model = sb3.PPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=0, verbose=0)
        model.learn(total_timesteps=512)
        obs, _ = env.reset(seed=0)
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(int(action))
    finally:
        env.close()
