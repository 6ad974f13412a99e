"""Pairing a frame's messages: nearest stamps, camera_info matching and its fallback, the zero-stamp
fallback, and a bag's topic check."""

from __future__ import annotations

import numpy as np
import pytest

from depth_core.geometry import CameraIntrinsics
from depth_ros.bag import BagError
from depth_ros.conversions import camera_info_to_msg, image_to_msg, make_header, rosbags_types
from depth_ros.sync import CameraInfoBuffer, check_topics, image_stamp, nearest_stamp

TYPES = rosbags_types()
CAM = CameraIntrinsics(200.0, 200.0, 160.0, 48.0, 320, 96)


def _info(stamp: int, frame: str = "cam", cam: CameraIntrinsics = CAM, zero_k: bool = False):
    msg = camera_info_to_msg(TYPES, cam, make_header(TYPES, stamp, frame))
    if zero_k:   # an uncalibrated camera: K and P all zeros
        msg.k, msg.p = np.zeros(9), np.zeros(12)
    return msg


def test_nearest_stamp_with_and_without_a_tolerance():
    stamps = [100, 200, 300, 400]
    assert nearest_stamp(stamps, 260) == 2 and nearest_stamp(stamps, 250) == 1   # a tie: the first listed
    assert nearest_stamp(stamps, 1000, tolerance_ns=50) is None
    assert nearest_stamp(stamps, 1000) == 3 and nearest_stamp([], 5) is None
    for stamp in (0, 99, 151, 250, 399, 1000):   # bisection on sorted stamps finds the same one
        assert nearest_stamp(stamps, stamp, ordered=True) == nearest_stamp(stamps, stamp)
    assert nearest_stamp([400, 100, 300], 290) == 2                                  # any order


def test_camera_info_by_stamp_else_the_newest():
    infos = CameraInfoBuffer()
    assert infos.match(5) is None
    first, second = _info(10), _info(20)
    infos.add(first)
    infos.add(second)
    assert infos.match(10).msg is first
    newest = infos.match(15)
    assert not newest.fallback and newest.msg is second and infos.has(20) and not infos.has(15)


def test_a_broken_camera_info_falls_back_to_the_last_valid_one_of_its_frame_and_size():
    infos = CameraInfoBuffer()
    good = _info(10)
    infos.add(good)
    infos.add(_info(11, frame="other", cam=CameraIntrinsics(100.0, 100.0, 80.0, 24.0, 160, 48)))
    infos.add(_info(20, zero_k=True))
    match = infos.match(20)
    assert match.fallback and match.msg is good and "zero" in match.reason
    # A broken one without a frame or size: the image's frame and size name the fallback.
    empty = _info(30, frame="", zero_k=True)
    empty.width = empty.height = 0
    infos.add(empty)
    image = image_to_msg(TYPES, np.zeros((96, 320, 3), np.uint8), "rgb8", make_header(TYPES, 30, "cam"))
    assert infos.match(30, image).msg is good and not infos.match(30).fallback
    # No valid one of that frame and size: the broken one is returned, and the pipeline reports it.
    alone = CameraInfoBuffer()
    alone.add(_info(11, frame="other"))
    alone.add(_info(20, zero_k=True))
    assert not alone.match(20).fallback and not np.any(alone.match(20).msg.k)


def test_which_camera_info_is_broken_follows_the_matrix_read_from_it():
    """With camera_matrix k, a camera_info whose K is zero is broken even though its P is set: the
    image falls back to the last one with a K (with auto, P is read and nothing is broken)."""
    good, k_zero = _info(10), _info(20)
    k_zero.k = np.zeros(9)
    for matrix, fallback in (("k", True), ("auto", False)):
        infos = CameraInfoBuffer(camera_matrix=matrix)
        infos.add(good)
        infos.add(k_zero)
        match = infos.match(20)
        assert match.fallback is fallback and (match.msg is good) is fallback


def test_a_zero_stamp_takes_the_fallback_time():
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert image_stamp(image_to_msg(TYPES, rgb, "rgb8", make_header(TYPES, 0, "cam")), 123) == (123, True)
    assert image_stamp(image_to_msg(TYPES, rgb, "rgb8", make_header(TYPES, 7, "cam")), 123) == (7, False)


def test_check_topics_names_the_argument(sim_bag):
    topics = check_topics(sim_bag, {"--image-topic": "/camera/image_raw", "--lidar-topic": None})
    assert topics["/camera/image_raw"].count == 6
    with pytest.raises(BagError, match="--lidar-topic /velodyne is not in the bag"):
        check_topics(sim_bag, {"--image-topic": "/camera/image_raw", "--lidar-topic": "/velodyne"})


def test_missed_input_frames_are_counted_from_gaps_in_the_stream():
    from depth_ros.sync import StreamGaps

    gaps = StreamGaps()
    period = 100_000_000                                   # 10 Hz
    stamps = [k * period for k in range(8)] + [10 * period, 11 * period, 15 * period]   # 2 lost, then 3
    assert [gaps.add(s) for s in stamps][-3:] == [2, 0, 3]
    assert gaps.missed == 5
    gaps.add(0)                                            # a looping bag starts again: nothing counted
    assert gaps.add(period) == 0 and gaps.missed == 5
