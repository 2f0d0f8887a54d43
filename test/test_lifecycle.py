"""The managed (lifecycle) learner and encoder, driven through the real lifecycle services."""

import numpy as np
import pytest
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Float32MultiArray, Int32
from std_srvs.srv import Trigger

from ant_ros.conversions import make_spike_packet
from ant_ros.nodes.encoder_node import ManagedEncoderNode
from ant_ros.nodes.learner_node import ManagedLearnerNode
from ant_ros.qos import SPIKES_QOS

from ros_harness import RosHarness


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


class Lifecycle:
    """A client of one node's lifecycle services (as nav2's lifecycle manager uses them)."""

    def __init__(self, ros, node_name: str) -> None:
        self.ros = ros
        self.change = ros.probe.create_client(ChangeState, f"/{node_name}/change_state")
        self.get = ros.probe.create_client(GetState, f"/{node_name}/get_state")

    def state(self) -> int:
        return self.ros.call(self.get, GetState.Request()).current_state.id

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.ros.call(self.change, request).success


def test_the_managed_learner_follows_its_lifecycle(ros, tmp_path):
    path = str(tmp_path / "agent.npz")
    node = ros.add(ManagedLearnerNode(context=ros.context, parameter_overrides=[
        Parameter("network.n_inputs", value=2), Parameter("network.n_hidden", value=16),
        Parameter("command_type", value="int32"), Parameter("idle_action", value=1),
        Parameter("watchdog_timeout_s", value=0.0), Parameter("checkpoint_path", value=path)]))
    life = Lifecycle(ros, "ant_learner")
    pub = ros.probe.create_publisher(PointCloud2, "spikes", SPIKES_QOS)
    commands = ros.collect(Int32, "command")
    rng = np.random.default_rng(0)

    def send():
        pub.publish(make_spike_packet(ros.probe.get_clock().now().to_msg(), "base_link",
                                      np.array([0, 1]), np.zeros(2), rng.normal(0, 1, 2)))

    assert life.state() == State.PRIMARY_STATE_UNCONFIGURED and node.learner is None
    assert node.has_parameter("network.n_hidden")  # declared at construction
    assert life.transition(Transition.TRANSITION_CONFIGURE)
    assert life.state() == State.PRIMARY_STATE_INACTIVE
    assert node.learner is not None and node.learner.net.n_hidden == 16
    assert pub.get_subscription_count() == 0  # no topics while inactive
    ros.spin_for(0.3, each=send)
    assert node.steps == 0 and commands == []

    assert life.transition(Transition.TRANSITION_ACTIVATE)
    assert life.state() == State.PRIMARY_STATE_ACTIVE
    assert ros.spin_until(lambda: len(commands) >= 10, each=send)
    learned = node.learner.net.readout.copy()

    count = len(commands)
    assert life.transition(Transition.TRANSITION_DEACTIVATE)
    ros.spin_for(0.3)
    assert len(commands) > count and commands[-1].data == 1  # the stop (the idle action)
    steps, count = node.steps, len(commands)
    ros.spin_for(0.3, each=send)
    assert node.steps == steps and len(commands) == count  # nothing learned, nothing sent
    reset = ros.probe.create_client(Trigger, "/ant_learner/reset_episode")
    assert not ros.call(reset, Trigger.Request()).success and node.steps == steps
    np.testing.assert_array_equal(node.learner.net.readout, learned)

    assert life.transition(Transition.TRANSITION_ACTIVATE)  # and back
    assert ros.spin_until(lambda: node.steps > steps, each=send)
    assert life.transition(Transition.TRANSITION_DEACTIVATE)
    assert life.transition(Transition.TRANSITION_CLEANUP)
    assert life.state() == State.PRIMARY_STATE_UNCONFIGURED and node.learner is None
    assert life.transition(Transition.TRANSITION_CONFIGURE)  # configured afresh
    assert life.transition(Transition.TRANSITION_ACTIVATE)
    assert life.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert life.state() == State.PRIMARY_STATE_FINALIZED
    assert (tmp_path / "agent.npz").exists()  # shutdown saved the checkpoint
    assert commands[-1].data == 1


def test_an_unconfigured_learner_refuses_what_its_learner_cannot_run(ros):
    node = ros.add(ManagedLearnerNode(context=ros.context, parameter_overrides=[
        Parameter("network.n_inputs", value=2), Parameter("network.n_hidden", value=16)]))
    assert node.learner is None
    [refused] = node.set_parameters([Parameter("learning.eprop_feedback", value="backprop")])
    assert not refused.successful and "synchronous twin only" in refused.reason
    assert node.get_parameter("learning.eprop_feedback").value == "random"
    assert Lifecycle(ros, "ant_learner").transition(Transition.TRANSITION_CONFIGURE)


def test_a_managed_learner_refuses_to_configure_from_a_bad_checkpoint(ros, tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a checkpoint")
    ros.add(ManagedLearnerNode(context=ros.context, parameter_overrides=[
        Parameter("network.n_inputs", value=2), Parameter("network.n_hidden", value=16),
        Parameter("checkpoint_path", value=str(path)), Parameter("resume", value=True)]))
    life = Lifecycle(ros, "ant_learner")
    # a checkpoint that does not load is reported and not used; the network starts fresh
    assert life.transition(Transition.TRANSITION_CONFIGURE)
    assert life.state() == State.PRIMARY_STATE_INACTIVE


def test_the_managed_encoder_publishes_only_while_active(ros):
    node = ros.add(ManagedEncoderNode(context=ros.context, parameter_overrides=[
        Parameter("encoders", value=["features"]), Parameter("features.size", value=3),
        Parameter("features.threshold", value=0.0)]))
    life = Lifecycle(ros, "ant_encoder")
    sensor = ros.probe.create_publisher(Float32MultiArray, "features", qos_profile_sensor_data)
    packets = ros.collect(PointCloud2, "spikes", SPIKES_QOS)
    value = [0.0]

    def publish():
        value[0] += 1.0
        sensor.publish(Float32MultiArray(data=[value[0]] * 3))

    assert life.transition(Transition.TRANSITION_CONFIGURE)
    assert node.n_channels == 3 and sensor.get_subscription_count() == 0
    assert life.transition(Transition.TRANSITION_ACTIVATE)
    assert ros.spin_until(lambda: len(packets) >= 5, each=publish)
    assert life.transition(Transition.TRANSITION_DEACTIVATE)
    ros.spin_for(0.2)
    count = len(packets)
    ros.spin_for(0.3, each=publish)
    assert len(packets) == count and sensor.get_subscription_count() == 0
    assert life.transition(Transition.TRANSITION_CLEANUP)
    assert life.state() == State.PRIMARY_STATE_UNCONFIGURED
