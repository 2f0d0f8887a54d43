"""QoS profiles of the package's own topics (sensor topics use rclpy's sensor-data profile)."""

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

# Spike packets carry deltas: they are delivered reliably (unlike the raw sensor topics, which use
# the sensor-data QoS). A packet lost all the same (history overflow under backlog, a late join)
# shows as a gap in the packets' sequence numbers, and the next keyframe repairs it.
SPIKES_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
# the encoder's channel layout (std_msgs/String, JSON): latched, so a learner that starts later
# still gets it
LAYOUT_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
