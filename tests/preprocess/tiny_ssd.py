"""Writes a tiny SSD face-detector in Caffe's formats for the tests.

The network has the layer types of OpenCV's res10_300x300 face detector
(BatchNorm, Scale, Convolution, ReLU, ceil-mode Pooling, Eltwise, Normalize,
Permute, Flatten, PriorBox, Concat, Reshape, Softmax, DetectionOutput) with
few channels and seeded random weights, serialised with a small protobuf
encoder written here, so that `SsdFaceDetector` can be run end to end through
`cv2.dnn.readNetFromCaffe` without the real (undistributable here) weights.
"""

import numpy as np

PROTOTXT = """
name: "TinySSD"
input: "data"
input_shape { dim: 1 dim: 3 dim: 300 dim: 300 }
layer { name: "data_bn" type: "BatchNorm" bottom: "data" top: "data_bn"
        batch_norm_param { use_global_stats: true } }
layer { name: "data_scale" type: "Scale" bottom: "data_bn" top: "data_bn"
        scale_param { bias_term: true } }
layer { name: "conv1" type: "Convolution" bottom: "data_bn" top: "conv1"
        convolution_param { num_output: 8 pad: 3 kernel_size: 7 stride: 2 } }
layer { name: "conv1_bn" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "conv1_scale" type: "Scale" bottom: "conv1" top: "conv1"
        scale_param { bias_term: true } }
layer { name: "conv1_relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "conv2a" type: "Convolution" bottom: "pool1" top: "conv2a"
        convolution_param { num_output: 8 bias_term: false pad: 1 kernel_size: 3 } }
layer { name: "conv2a_relu" type: "ReLU" bottom: "conv2a" top: "conv2a" }
layer { name: "conv2b" type: "Convolution" bottom: "conv2a" top: "conv2b"
        convolution_param { num_output: 8 pad: 2 kernel_size: 3 dilation: 2 } }
layer { name: "res2" type: "Eltwise" bottom: "conv2b" bottom: "pool1" top: "res2" }
layer { name: "conv3" type: "Convolution" bottom: "res2" top: "conv3"
        convolution_param { num_output: 16 pad: 1 kernel_size: 3 stride: 2 } }
layer { name: "conv3_relu" type: "ReLU" bottom: "conv3" top: "conv3" }
layer { name: "conv4" type: "Convolution" bottom: "conv3" top: "conv4"
        convolution_param { num_output: 16 pad: 1 kernel_size: 3 stride: 2 group: 2 } }
layer { name: "conv4_relu" type: "ReLU" bottom: "conv4" top: "conv4" }
layer { name: "pool2" type: "Pooling" bottom: "conv4" top: "pool2"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "conv3_norm" type: "Normalize" bottom: "conv3" top: "conv3_norm"
        norm_param { across_spatial: false channel_shared: false } }
layer { name: "conv3_norm_mbox_loc" type: "Convolution" bottom: "conv3_norm"
        top: "conv3_norm_mbox_loc" convolution_param { num_output: 16 pad: 1 kernel_size: 3 } }
layer { name: "conv3_norm_mbox_loc_perm" type: "Permute" bottom: "conv3_norm_mbox_loc"
        top: "conv3_norm_mbox_loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conv3_norm_mbox_loc_flat" type: "Flatten" bottom: "conv3_norm_mbox_loc_perm"
        top: "conv3_norm_mbox_loc_flat" flatten_param { axis: 1 } }
layer { name: "conv3_norm_mbox_conf" type: "Convolution" bottom: "conv3_norm"
        top: "conv3_norm_mbox_conf" convolution_param { num_output: 8 pad: 1 kernel_size: 3 } }
layer { name: "conv3_norm_mbox_conf_perm" type: "Permute" bottom: "conv3_norm_mbox_conf"
        top: "conv3_norm_mbox_conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conv3_norm_mbox_conf_flat" type: "Flatten" bottom: "conv3_norm_mbox_conf_perm"
        top: "conv3_norm_mbox_conf_flat" flatten_param { axis: 1 } }
layer { name: "conv3_norm_mbox_priorbox" type: "PriorBox" bottom: "conv3_norm" bottom: "data"
        top: "conv3_norm_mbox_priorbox"
        prior_box_param { min_size: 30.0 max_size: 60.0 aspect_ratio: 2 flip: true
                          clip: false variance: 0.1 variance: 0.1 variance: 0.2
                          variance: 0.2 step: 8 offset: 0.5 } }
layer { name: "pool2_mbox_loc" type: "Convolution" bottom: "pool2" top: "pool2_mbox_loc"
        convolution_param { num_output: 24 pad: 1 kernel_size: 3 } }
layer { name: "pool2_mbox_loc_perm" type: "Permute" bottom: "pool2_mbox_loc"
        top: "pool2_mbox_loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "pool2_mbox_loc_flat" type: "Flatten" bottom: "pool2_mbox_loc_perm"
        top: "pool2_mbox_loc_flat" flatten_param { axis: 1 } }
layer { name: "pool2_mbox_conf" type: "Convolution" bottom: "pool2" top: "pool2_mbox_conf"
        convolution_param { num_output: 12 pad: 1 kernel_size: 3 } }
layer { name: "pool2_mbox_conf_perm" type: "Permute" bottom: "pool2_mbox_conf"
        top: "pool2_mbox_conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "pool2_mbox_conf_flat" type: "Flatten" bottom: "pool2_mbox_conf_perm"
        top: "pool2_mbox_conf_flat" flatten_param { axis: 1 } }
layer { name: "pool2_mbox_priorbox" type: "PriorBox" bottom: "pool2" bottom: "data"
        top: "pool2_mbox_priorbox"
        prior_box_param { min_size: 90.0 max_size: 200.0 aspect_ratio: 2 aspect_ratio: 3
                          flip: true clip: false variance: 0.1 variance: 0.1
                          variance: 0.2 variance: 0.2 step: 38 offset: 0.5 } }
layer { name: "mbox_loc" type: "Concat" bottom: "conv3_norm_mbox_loc_flat"
        bottom: "pool2_mbox_loc_flat" top: "mbox_loc" concat_param { axis: 1 } }
layer { name: "mbox_conf" type: "Concat" bottom: "conv3_norm_mbox_conf_flat"
        bottom: "pool2_mbox_conf_flat" top: "mbox_conf" concat_param { axis: 1 } }
layer { name: "mbox_priorbox" type: "Concat" bottom: "conv3_norm_mbox_priorbox"
        bottom: "pool2_mbox_priorbox" top: "mbox_priorbox" concat_param { axis: 2 } }
layer { name: "mbox_conf_reshape" type: "Reshape" bottom: "mbox_conf"
        top: "mbox_conf_reshape" reshape_param { shape { dim: 0 dim: -1 dim: 2 } } }
layer { name: "mbox_conf_softmax" type: "Softmax" bottom: "mbox_conf_reshape"
        top: "mbox_conf_softmax" softmax_param { axis: 2 } }
layer { name: "mbox_conf_flatten" type: "Flatten" bottom: "mbox_conf_softmax"
        top: "mbox_conf_flatten" flatten_param { axis: 1 } }
layer { name: "detection_out" type: "DetectionOutput" bottom: "mbox_loc"
        bottom: "mbox_conf_flatten" bottom: "mbox_priorbox" top: "detection_out"
        include { phase: TEST }
        detection_output_param { num_classes: 2 share_location: true
          background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 400 }
          code_type: CENTER_SIZE keep_top_k: 200 confidence_threshold: 0.01 } }
"""

# (layer name, shapes of its weight blobs)
WEIGHT_SHAPES = [
    ("data_bn", [(3,), (3,), (1,)]),
    ("data_scale", [(3,), (3,)]),
    ("conv1", [(8, 3, 7, 7), (8,)]),
    ("conv1_bn", [(8,), (8,), (1,)]),
    ("conv1_scale", [(8,), (8,)]),
    ("conv2a", [(8, 8, 3, 3)]),
    ("conv2b", [(8, 8, 3, 3), (8,)]),
    ("conv3", [(16, 8, 3, 3), (16,)]),
    ("conv4", [(16, 8, 3, 3), (16,)]),
    ("conv3_norm", [(16,)]),
    ("conv3_norm_mbox_loc", [(16, 16, 3, 3), (16,)]),
    ("conv3_norm_mbox_conf", [(8, 16, 3, 3), (8,)]),
    ("pool2_mbox_loc", [(24, 16, 3, 3), (24,)]),
    ("pool2_mbox_conf", [(12, 16, 3, 3), (12,)]),
]


def make_weights(seed=0):
    """Seeded weights: BatchNorm statistics near the data's, small convs."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shapes in WEIGHT_SHAPES:
        blobs = []
        for i, shape in enumerate(shapes):
            if name.endswith("_bn"):
                value = [rng.normal(0, 20, shape), rng.uniform(500, 3000, shape),
                         np.full(shape, 2.0)][i] if name == "data_bn" else \
                        [rng.normal(0, 0.3, shape), rng.uniform(0.5, 2, shape),
                         np.full(shape, 1.0)][i]
            elif name.endswith("_scale"):
                value = rng.uniform(0.5, 1.5, shape) if i == 0 else rng.normal(0, 0.1, shape)
            elif name == "conv3_norm":
                value = np.full(shape, 20.0) + rng.normal(0, 1, shape)
            else:
                fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
                # Small confidence logits keep the scores spread out (no ties).
                std = (0.15 if "conf" in name else 1.0) / np.sqrt(fan_in)
                value = rng.normal(0, std, shape)
            blobs.append(np.asarray(value, np.float32))
        weights[name] = blobs
    return weights


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, wire, payload):
    key = _varint((number << 3) | wire)
    if wire == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def encode_blob(array):
    """caffe.BlobProto: shape (field 7, a BlobShape) and float data (field 5)."""
    array = np.asarray(array, np.float32)
    packed = b"".join(_varint(d) for d in array.shape)
    head = _field(7, 2, _field(1, 2, packed))
    return head + _field(5, 2, array.astype("<f4").tobytes())


def encode_caffemodel(weights):
    """caffe.NetParameter with one LayerParameter (field 100) per entry."""
    out = bytearray(_field(1, 2, b"TinySSD"))
    for name, blobs in weights.items():
        body = _field(1, 2, name.encode()) + _field(2, 2, b"Layer") + b"".join(
            _field(7, 2, encode_blob(b)) for b in blobs)
        out += _field(100, 2, body)
    return bytes(out)


def write_tiny_ssd(folder, seed=0):
    """Writes deploy.prototxt and tiny.caffemodel; returns their paths."""
    prototxt = folder / "deploy.prototxt"
    caffemodel = folder / "tiny.caffemodel"
    prototxt.write_text(PROTOTXT)
    caffemodel.write_bytes(encode_caffemodel(make_weights(seed)))
    return prototxt, caffemodel


def astronaut_blob(image_rgb):
    """The SSD input of the landmark paper: bilinear 300x300, BGR, mean
    (104, 177, 123) subtracted, NCHW float32."""
    import cv2
    resized = cv2.resize(image_rgb, (300, 300), interpolation=cv2.INTER_LINEAR)
    bgr = resized[..., ::-1].astype(np.float32) - np.array([104.0, 177.0, 123.0], np.float32)
    return bgr.transpose(2, 0, 1)[None].copy()
