# Source: https://github.com/Andrea-Apicella/ALT_Frailty_WP8, wp8/pre_processing/process_dataset.py
#   (ProcessDataset.extract_frames / predict_frame) and the script that runs it with
#   feature_extractor=tf.keras.applications.InceptionV3(...) and
#   preprocess_input=tf.keras.applications.inception_v3.preprocess_input.
# Original: cap = cv2.VideoCapture(cam); ret, frame = cap.read() for every frame of every camera's video;
#   predict_frame: smart_resize(frame, size) -> self.preprocess_input(frame) -> feature_extractor.predict;
#   the per-frame features train a sequence model.
# Bug: OpenCV returns BGR frames and nothing converts them; InceptionV3's preprocess_input (x/127.5 - 1)
#   keeps the channel order, so the ImageNet-trained backbone sees red and blue swapped. Its values stay
#   in [-1, 1] whatever the order, so no statistic of the batches can tell: only the code does.
# Shrunk: the videos -> six 8-frame image sequences panning over trees in scikit-learn's china.jpg (green,
#   red about equal to blue), opened with cv2.VideoCapture as videos; 75 px frames; the features' input
#   (the preprocessed frames, shuffled batches of 8, one-hot labels) is the source; weights=None.
import numpy as np
import tensorflow as tf
from keras.utils import to_categorical

from ._cv2 import cv2
from ._data import video_clips

BACKBONE = "inception_v3"
SOURCE = "train_frames"
IMAGE_SIZE = 75
HEALTHY = False
MUST_RAISE = {"input_range.channel_order_swapped"}
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "input_range.wrong_mode"}


class ProcessDataset:
    def __init__(self, videos, size, preprocess_input):
        self.videos = videos
        self.size = size
        self.preprocess_input = preprocess_input

    def predict_frame(self, frame):
        frame = tf.keras.preprocessing.image.smart_resize(frame, self.size)
        frame = self.preprocess_input(frame)
        return frame  # the original: self.feature_extractor.predict(np.expand_dims(frame, axis=0))

    def extract_frames(self):
        for cam, label in self.videos:
            cap = cv2.VideoCapture(cam)
            try:
                n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
                for f in range(n_frames):
                    ret, frame = cap.read()
                    if not ret:
                        break
                    yield self.predict_frame(frame), label
            finally:
                cap.release()


def train_frames(batch_size=8):
    ds = ProcessDataset(video_clips(), (IMAGE_SIZE, IMAGE_SIZE), tf.keras.applications.inception_v3.preprocess_input)
    pairs = list(ds.extract_frames())
    order = np.random.default_rng(0).permutation(len(pairs))  # the sequence model's training order, shuffled
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield (np.stack([np.asarray(pairs[i][0], dtype="float32") for i in idx]),
               to_categorical([pairs[i][1] for i in idx], 2))
