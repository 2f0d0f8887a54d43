"""``ant_gym_bridge``: any Gymnasium env as a ROS robot.

Observations go out as stamped ``sensor_msgs/JointState`` on ``joint_states`` (one joint per
observation component, its value in ``position``), with ``reward`` (std_msgs/Float32),
``episode_end`` (std_msgs/Bool: true = terminated, false = truncated, published before the
observation it belongs to) and ``/clock`` (simulated time, advancing by the env's ``dt`` per
step). Commands arrive on ``command``: std_msgs/Int32 for a Discrete action space,
std_msgs/Float64MultiArray for a Box. A continuous command outside the action space is clipped
to it; a discrete one outside it, or a non-finite one, is refused with a warning (the env does
not step).

Modes: ``lockstep`` steps the env when a command arrives (faster than real time, deterministic);
``realtime`` steps it every ``dt`` of wall time with the latest command; a command older than
``stale_timeout_s`` is stale and the idle action (zeros, or action 0) is used instead.
"""

from __future__ import annotations

import json
import sys
import time

import gymnasium as gym
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32, Float64MultiArray, Int32
from std_srvs.srv import Trigger

from ..conversions import seconds_to_stamp
from ..core.config import ConfigError
from ..tasks.direct_runner import env_step_seconds
from .spin import spin_nodes

MODES = ("lockstep", "realtime")
# readable joint names for the classic-control observations; others are obs_0, obs_1, ...
OBSERVATION_NAMES = {
    "CartPole-v1": ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"],
    "Pendulum-v1": ["cos_theta", "sin_theta", "theta_dot"],
    "Acrobot-v1": ["cos_theta1", "sin_theta1", "cos_theta2", "sin_theta2", "theta1_dot",
                   "theta2_dot"],
    "MountainCar-v0": ["position", "velocity"],
    "MountainCarContinuous-v0": ["position", "velocity"],
}


def observation_names(env_id: str, size: int) -> list[str]:
    names = OBSERVATION_NAMES.get(env_id)
    return names if names is not None and len(names) == size else [f"obs_{i}" for i in
                                                                    range(size)]


class GymBridgeNode(Node):
    """Steps a Gymnasium env and speaks ROS."""

    def __init__(self, node_name: str = "ant_gym_bridge", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        p = self.declare_parameter
        p("env_id", "CartPole-v1", ParameterDescriptor(description="Gymnasium env id",
                                                       read_only=True))
        p("env_kwargs", "{}", ParameterDescriptor(description="env keyword arguments (JSON)",
                                                  read_only=True))
        p("seed", 0, ParameterDescriptor(description="seed of the first reset", read_only=True))
        p("reset_seed", -1, ParameterDescriptor(
            description="seed for the next ~/reset (-1: continue the env's random stream)"))
        p("mode", "lockstep", ParameterDescriptor(description="lockstep or realtime",
                                                  read_only=True))
        p("stale_timeout_s", 0.2, ParameterDescriptor(
            description="realtime: a command older than this is replaced by the idle action"))
        p("publish_clock", True, ParameterDescriptor(description="publish /clock",
                                                     read_only=True))
        p("autostart", True, ParameterDescriptor(
            description="publish the first observation once joint_states has a subscriber",
            read_only=True))
        self.env_id = self.get_parameter("env_id").value
        self.mode = self.get_parameter("mode").value
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}")
        self.env = gym.make(self.env_id, **json.loads(self.get_parameter("env_kwargs").value))
        space = self.env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ConfigError(f"{self.env_id}: the bridge needs a flat Box observation space")
        self.names = observation_names(self.env_id, space.shape[0])
        self.dt = env_step_seconds(self.env)
        self.discrete = isinstance(self.env.action_space, gym.spaces.Discrete)
        self.steps = 0
        self.episode_return = 0.0
        self.episode_returns: list[float] = []
        self.episode_end_steps: list[int] = []
        self._latest: tuple[float, object] | None = None

        self.clock_pub = (self.create_publisher(Clock, "/clock", 10)
                          if self.get_parameter("publish_clock").value else None)
        self.obs_pub = self.create_publisher(JointState, "joint_states", 10)
        self.reward_pub = self.create_publisher(Float32, "reward", 10)
        self.end_pub = self.create_publisher(Bool, "episode_end", 10)
        if self.discrete:
            self.create_subscription(Int32, "command", self._on_command, 10)
        else:
            self.create_subscription(Float64MultiArray, "command", self._on_command, 10)
        self.create_service(Trigger, "~/reset", self._srv_reset)
        self.obs, _ = self.env.reset(seed=self.get_parameter("seed").value)
        self.env.action_space.seed(self.get_parameter("seed").value)
        self.started = False
        self._start_timer = (self.create_timer(0.05, self._autostart)
                             if self.get_parameter("autostart").value else None)

    def _autostart(self) -> None:
        if self.obs_pub.get_subscription_count() > 0:
            self.destroy_timer(self._start_timer)
            self.start()

    def start(self) -> None:
        """Publish the first observation (and, in realtime mode, start stepping)."""
        if self.started:
            return
        self.started = True
        self._publish_clock()
        self._publish_observation()
        if self.mode == "realtime":
            self.create_timer(self.dt, self._realtime_step)

    # -- commands ------------------------------------------------------------------------------

    def _action(self, msg):
        """The env action for a command message, or None if refused (with a warning)."""
        space = self.env.action_space
        if self.discrete:
            if not 0 <= msg.data < space.n:
                self.get_logger().warning(f"refused action {msg.data}: outside 0..{space.n - 1}",
                                          throttle_duration_sec=5.0)
                return None
            return int(msg.data)
        action = np.asarray(msg.data, dtype=np.float64)
        if action.shape != space.shape or not np.all(np.isfinite(action)):
            self.get_logger().warning(f"refused command {action.tolist()}: needs "
                                      f"{space.shape[0]} finite values", throttle_duration_sec=5.0)
            return None
        # clipped, not cast: the env gets the agent's float64 values, as the direct runner does
        return np.clip(action, space.low, space.high)

    def _on_command(self, msg) -> None:
        action = self._action(msg)
        if action is None or not self.started:
            return
        if self.mode == "lockstep":
            self.step(action)
        else:
            self._latest = (time.monotonic(), action)

    def _idle_action(self):
        return 0 if self.discrete else np.zeros(self.env.action_space.shape,
                                                self.env.action_space.dtype)

    def _realtime_step(self) -> None:
        latest = self._latest
        fresh = latest is not None and time.monotonic() - latest[0] <= self.get_parameter(
            "stale_timeout_s").value
        if latest is not None and not fresh:
            self.get_logger().warning("stale command: using the idle action",
                                      throttle_duration_sec=5.0)
        self.step(latest[1] if fresh else self._idle_action())

    # -- stepping ------------------------------------------------------------------------------

    def step(self, action) -> None:
        """Step the env once and publish the outcome (and the next episode's first observation)."""
        self.obs, reward, terminated, truncated, _ = self.env.step(action)
        self.steps += 1
        self.episode_return += float(reward)
        self._publish_clock()
        self.reward_pub.publish(Float32(data=float(reward)))
        if terminated or truncated:
            self.end_pub.publish(Bool(data=bool(terminated)))
            self._publish_observation()
            self.episode_returns.append(self.episode_return)
            self.episode_end_steps.append(self.steps)
            self.episode_return = 0.0
            self.obs, _ = self.env.reset()
        self._publish_observation()

    def _publish_clock(self) -> None:
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=seconds_to_stamp(self.steps * self.dt)))

    def _publish_observation(self) -> None:
        msg = JointState()
        msg.header.stamp = seconds_to_stamp(self.steps * self.dt)
        msg.header.frame_id = self.env_id
        msg.name = self.names
        msg.position = [float(v) for v in self.obs]
        self.obs_pub.publish(msg)

    def _srv_reset(self, request, response):
        seed = self.get_parameter("reset_seed").value
        self.end_pub.publish(Bool(data=False))  # the current episode ends (truncated) here
        self._publish_observation()
        self.obs, _ = self.env.reset(seed=None if seed < 0 else seed)
        self.episode_return = 0.0
        self._publish_observation()
        response.success, response.message = True, "env reset"
        return response

    def destroy_node(self) -> None:
        if hasattr(self, "env"):  # not when its start failed (refused parameters)
            self.env.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    spin_nodes(lambda: [GymBridgeNode()], args)


if __name__ == "__main__":
    main(sys.argv)
