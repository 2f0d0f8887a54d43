"""A ROS robot as a Gymnasium env (``ant_ros/RosRobot-v0``).

``step`` publishes a command and waits for the next observation (the next stamped JointState on
``joint_states``, so it works under simulated time); the reward is the sum of the ``reward``
messages received since the previous step, and ``episode_end`` (true: terminated, false:
truncated) ends the episode. ``reset`` calls the robot's reset service (std_srvs/Trigger,
``ant_gym_bridge/reset`` by default), after setting its ``reset_seed`` parameter when a seed is
given, and returns the first observation of the new episode. Works with any agent that speaks
Gymnasium, e.g. Stable-Baselines3.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import rclpy
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32, Float64MultiArray, Int32
from std_srvs.srv import Trigger

from ..nodes.spin import spin_until


class RosRobotEnv(gym.Env):
    """Gymnasium env over ROS topics: JointState observations, Int32 or Float64MultiArray
    commands, Float32 rewards, Bool episode boundaries and a Trigger reset service."""

    metadata = {"render_modes": []}

    def __init__(self, observation_size: int, n_actions: int | None = None,
                 action_low: list[float] | None = None, action_high: list[float] | None = None,
                 robot_node: str = "ant_gym_bridge", observation_topic: str = "joint_states",
                 command_topic: str = "command", reward_topic: str = "reward",
                 episode_end_topic: str = "episode_end", timeout_s: float = 10.0) -> None:
        if (n_actions is None) == (action_low is None):
            raise ValueError("give either n_actions (discrete) or action_low/high (continuous)")
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (observation_size,), np.float32)
        if n_actions is not None:
            self.action_space = gym.spaces.Discrete(n_actions)
        else:
            self.action_space = gym.spaces.Box(np.asarray(action_low, np.float32),
                                               np.asarray(action_high, np.float32))
        self.timeout_s = timeout_s
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("ant_ros_gym_env", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._observations: list[np.ndarray] = []
        self._reward = 0.0
        self._end: bool | None = None
        self.node.create_subscription(Float32, reward_topic, self._on_reward, 100)
        self.node.create_subscription(Bool, episode_end_topic, self._on_end, 100)
        self.node.create_subscription(JointState, observation_topic, self._on_observation, 100)
        discrete = isinstance(self.action_space, gym.spaces.Discrete)
        self.command_pub = self.node.create_publisher(
            Int32 if discrete else Float64MultiArray, command_topic, 10)
        self.reset_client = self.node.create_client(Trigger, f"/{robot_node}/reset")
        self.param_client = self.node.create_client(SetParameters,
                                                    f"/{robot_node}/set_parameters")
        # let a first observation arrive (the bridge sends one once it has a subscriber), so it
        # cannot be mistaken later for the first observation of an episode that reset() starts
        spin_until(self.executor, lambda: bool(self._observations), min(2.0, timeout_s))

    # -- callbacks -----------------------------------------------------------------------------

    def _on_observation(self, msg: JointState) -> None:
        self._observations.append(np.asarray(msg.position, dtype=np.float32))

    def _on_reward(self, msg: Float32) -> None:
        self._reward += float(msg.data)

    def _on_end(self, msg: Bool) -> None:
        self._end = bool(msg.data)

    def _spin_until(self, condition, what: str) -> None:
        if not spin_until(self.executor, condition, self.timeout_s, 0.01):
            raise TimeoutError(f"RosRobotEnv: no {what} within {self.timeout_s} s")

    def _call(self, client, request):
        self._spin_until(lambda: client.service_is_ready(), f"service {client.srv_name}")
        future = client.call_async(request)
        self._spin_until(future.done, f"answer from {client.srv_name}")
        return future.result()

    # -- Gymnasium API -------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        value = ParameterValue(type=ParameterType.PARAMETER_INTEGER,
                               integer_value=-1 if seed is None else int(seed))
        result = self._call(self.param_client, SetParameters.Request(
            parameters=[ParameterMsg(name="reset_seed", value=value)]))
        if not result.results[0].successful:
            raise RuntimeError(f"could not seed the robot: {result.results[0].reason}")
        count = len(self._observations)
        if not self._call(self.reset_client, Trigger.Request()).success:
            raise RuntimeError("the robot refused to reset")
        # the robot ends the current episode (its last observation), then sends the new first one
        self._spin_until(lambda: len(self._observations) >= count + 2, "observation after reset")
        self._reward, self._end = 0.0, None
        return self._observations[-1].copy(), {}

    def step(self, action):
        count = len(self._observations)
        self._reward, self._end = 0.0, None
        # a command published before the robot's subscription is matched is lost (volatile
        # durability), and the step would wait for an observation that never comes
        self._spin_until(lambda: self.command_pub.get_subscription_count() > 0,
                         f"subscriber of {self.command_pub.topic_name}")
        if isinstance(self.action_space, gym.spaces.Discrete):
            self.command_pub.publish(Int32(data=int(action)))
        else:
            self.command_pub.publish(Float64MultiArray(
                data=np.asarray(action, np.float64).ravel().tolist()))
        self._spin_until(lambda: len(self._observations) > count, "observation after a command")
        observation = self._observations[count].copy()
        end = self._end
        reward = self._reward
        if end is not None:  # the robot also sent the next episode's first observation
            self._spin_until(lambda: len(self._observations) > count + 1, "next episode start")
        del self._observations[:-1]
        return observation, reward, end is True, end is False, {}

    def close(self) -> None:
        if rclpy.ok(context=self.context):
            self.executor.shutdown()
            self.node.destroy_node()
            rclpy.try_shutdown(context=self.context)
