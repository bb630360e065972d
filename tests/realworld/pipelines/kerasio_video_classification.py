# Source: https://keras.io/examples/vision/video_classification/
#   (keras-team/keras-io examples/vision/video_classification.py, "Video Classification with a CNN-RNN
#   Architecture"; load_video and crop_center_square taken there from the TF Hub action-recognition tutorial).
# Original: load_video(path): cap = cv2.VideoCapture(path); ret, frame = cap.read(); crop_center_square;
#   cv2.resize(frame, (IMG_SIZE, IMG_SIZE)); frame = frame[:, :, [2, 1, 0]]; the frames go raw into
#   build_feature_extractor(): keras.Input -> keras.applications.inception_v3.preprocess_input ->
#   InceptionV3(weights="imagenet", include_top=False, pooling="avg").
# Bug: none (healthy). frame[:, :, [2, 1, 0]] turns OpenCV's BGR into RGB before the model's own
#   preprocess_input.
# Shrunk: UCF101 videos -> six 8-frame image sequences of scikit-learn's china.jpg (see _data.video_clips);
#   IMG_SIZE 75; shuffled batches of 8 frames with one-hot labels; weights=None (no download; marked pretrained by
#   stand_ins.pretrained, as the original's ImageNet weights). --model is the
#   feature extractor.
import numpy as np
from tensorflow import keras

from ._cv2 import cv2
from ._data import video_clips
from stand_ins import pretrained

BACKBONE = "inception_v3"
SOURCE = "train_frames"
MODEL = "build_feature_extractor"
IMAGE_SIZE = 75
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.channel_order_swapped", "input_range.raw_unpreprocessed",
                  "input_range.preprocessed_for_in_model"}

IMG_SIZE = 75


def crop_center_square(frame):
    y, x = frame.shape[0:2]
    min_dim = min(y, x)
    start_x = (x // 2) - (min_dim // 2)
    start_y = (y // 2) - (min_dim // 2)
    return frame[start_y : start_y + min_dim, start_x : start_x + min_dim]


def load_video(path, max_frames=0, resize=(IMG_SIZE, IMG_SIZE)):
    cap = cv2.VideoCapture(path)
    frames = []
    try:
        while True:
            ret, frame = cap.read()
            if not ret:
                break
            frame = crop_center_square(frame)
            frame = cv2.resize(frame, resize)
            frame = frame[:, :, [2, 1, 0]]
            frames.append(frame)

            if len(frames) == max_frames:
                break
    finally:
        cap.release()
    return np.array(frames)


def build_feature_extractor():
    feature_extractor = pretrained(keras.applications.InceptionV3(
        weights=None,
        include_top=False,
        pooling="avg",
        input_shape=(IMG_SIZE, IMG_SIZE, 3),
    ))
    preprocess_input = keras.applications.inception_v3.preprocess_input

    inputs = keras.Input((IMG_SIZE, IMG_SIZE, 3))
    preprocessed = preprocess_input(inputs)

    outputs = feature_extractor(preprocessed)
    return keras.Model(inputs, outputs, name="feature_extractor")


def train_frames(batch_size=8):
    clips = video_clips()
    frames = np.concatenate([load_video(path) for path, _ in clips]).astype("float32")
    labels = np.concatenate([[label] * len(load_video(path)) for path, label in clips])
    order = np.random.default_rng(0).permutation(len(frames))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield frames[idx], keras.utils.to_categorical(labels[idx], 2)
