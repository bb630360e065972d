"""input_range.channel_order_swapped from the source code: OpenCV's BGR reads that reach the model unconverted.

Each case is a tiny input pipeline written to its own module (the validator reads the user's files), with
OpenCV from the corpus's ``_cv2`` (the real module when installed). Bugs: BGR reads through a caffe
``preprocess_input`` on green video frames whose colours cannot tell the order (the pixels alone stay
silent, asserted), a ``VideoCapture`` in a helper, a ``PyDataset`` method, ``imdecode``. Healthy twins:
each way of converting (``cvtColor``, ``[..., ::-1]``, ``[..., [2, 1, 0]]``, in a helper of another
module, ``tf.gather`` with ``[2, 1, 0]``, in the ``--model``'s own code), grayscale and ``IMREAD_COLOR_RGB``
reads, reads used only for their size or written back with ``imwrite``, a hand-written BGR mean
subtraction for caffe, and an OpenCV read the source never reaches. Each twin fails without the rule
that keeps it silent (checked by disabling each rule in turn). ``RULES``: patterns met in public OpenCV
loaders (experiencor/keras-yolo2, clecocel/face-rating, keiohtani/facial_recognition, an Analytics
Vidhya video tutorial, a tf.unstack predict script): reorderings to see, and gray/display-only
conversions, debug ``imwrite`` calls, pandas columns and ``cv2.flip`` that must not silence the check.
"""

from __future__ import annotations

import itertools
import sys
import textwrap

import numpy as np
import pytest

from pipecheck.validators.findings import Severity
from pipecheck.validators.runners.validate import ValidateOptions, run_validate

_counter = itertools.count()

HEAD = """
import numpy as np
from realworld.pipelines._cv2 import cv2
from realworld.pipelines._data import video_clips, files_and_labels

def frames():
    for pattern, label in video_clips():
        cap = cv2.VideoCapture(pattern)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame, label
"""


@pytest.fixture
def pipeline(tmp_path, monkeypatch, pipeline_photos):
    """Write ``body`` (after HEAD) as a fresh module and return ``module:fn`` for --source."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(body: str, fn: str = "batches", extra: dict[str, str] | None = None) -> str:
        for name, text in (extra or {}).items():
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
        name = f"order_case_{next(_counter)}"
        (tmp_path / f"{name}.py").write_text(HEAD + textwrap.dedent(body))
        return f"{name}:{fn}"

    yield make
    for name in [m for m in sys.modules if m.startswith("order_case_")]:
        sys.modules.pop(name, None)


def order_findings(spec: str, backbone: str, size: int = 32, model: str | None = None):
    report = run_validate(ValidateOptions(source=spec, backbone=backbone, image_size=size, batches=6, model=model))
    return [f for f in report.findings if f.check == "input_range.channel_order_swapped"]


@pytest.fixture(scope="module")
def pipeline_photos(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("order_source_data")
    before = os.environ.get("PIPECHECK_REALWORLD_DATA")
    os.environ["PIPECHECK_REALWORLD_DATA"] = str(root)
    yield root
    if before is None:
        os.environ.pop("PIPECHECK_REALWORLD_DATA", None)
    else:
        os.environ["PIPECHECK_REALWORLD_DATA"] = before


# -- the bug: found in the code ------------------------------------------------------------------------
CAFFE_GREEN_FRAMES = """
from keras.applications.resnet50 import preprocess_input

def batches(batch_size=8):
    batch, labels = [], []
    for frame, label in frames():
        batch.append(cv2.resize(frame, (32, 32)).astype("float32"))
        labels.append(label)
        if len(batch) == batch_size:
            yield preprocess_input(np.stack(batch)), np.eye(2)[labels]
            batch, labels = [], []
"""


def test_bgr_green_frames_through_caffe_preprocess_input_are_found_in_the_code(pipeline):
    from keras.applications.resnet50 import preprocess_input
    from realworld.pipelines._cv2 import cv2
    from realworld.pipelines._data import video_clips

    from pipecheck.validators.input_range import check_input_range

    # The pixels cannot tell: R is about B in these tree frames, in either order.
    frames = []
    for pattern, _ in video_clips():
        cap = cv2.VideoCapture(pattern)
        ok, frame = cap.read()
        while ok:
            frames.append(cv2.resize(frame, (32, 32)))
            ok, frame = cap.read()
    bgr = np.stack(frames).astype("float32")
    mean = bgr.reshape(-1, 3).mean(0)
    assert abs(mean[2] - mean[0]) < 15 and mean[1] >= max(mean[0], mean[2]) - 2  # green-dominated, R ~ B
    for x in (bgr, bgr[..., ::-1]):
        got = check_input_range([(b, None) for b in np.split(preprocess_input(x.copy()), 6)], "resnet50", image_size=32)
        assert [f.check for f in got] == []

    (f,) = order_findings(pipeline(CAFFE_GREEN_FRAMES), "resnet50")
    assert f.severity is Severity.WARNING and f.evidence["evidence"] == "source"
    assert "cap.read()" in f.evidence["reads"][0] and f.evidence["preprocess_input"]
    assert "keras.applications.resnet50.preprocess_input" in f.message
    assert "cv2.cvtColor(img, cv2.COLOR_BGR2RGB)" in f.hint and "flips RGB to BGR itself" in f.hint


@pytest.mark.parametrize(
    "backbone,body",
    [
        pytest.param(
            "mobilenet_v2",
            """
            import tensorflow as tf
            from keras.applications.mobilenet_v2 import preprocess_input

            def load(path):
                img = cv2.imread(path)
                return cv2.resize(img, (32, 32)).astype("float32")

            def batches():
                paths, labels, _ = files_and_labels("two")
                ds = tf.data.Dataset.from_tensor_slices((paths, labels)).batch(8)
                for p, y in ds.as_numpy_iterator():
                    yield preprocess_input(np.stack([load(s.decode()) for s in p])), y
            """,
            id="imread-in-a-helper-tf-mode",
        ),
        pytest.param(
            "efficientnetb0",
            """
            import keras

            class Frames(keras.utils.PyDataset):
                def __init__(self, paths, labels, **kw):
                    super().__init__(**kw)
                    self.paths, self.labels = paths, labels

                def __len__(self):
                    return len(self.paths) // 8

                def read(self, path):
                    with open(path, "rb") as fh:
                        buf = np.frombuffer(fh.read(), np.uint8)
                    return cv2.imdecode(buf, cv2.IMREAD_COLOR)

                def __getitem__(self, i):
                    idx = range(i * 8, (i + 1) * 8)
                    x = np.stack([cv2.resize(self.read(self.paths[k]), (32, 32)) for k in idx]).astype("float32")
                    return x, np.array([self.labels[k] for k in idx])

            def batches():
                paths, labels, _ = files_and_labels("two")
                order = np.random.default_rng(0).permutation(len(paths))
                return Frames([paths[k] for k in order], [labels[k] for k in order])
            """,
            id="imdecode-in-a-pydataset-in-model-backbone",
        ),
    ],
)
def test_bgr_reads_reaching_other_backbones_are_found(pipeline, backbone, body):
    (f,) = order_findings(pipeline(body), backbone)
    assert f.severity is Severity.WARNING and f.evidence["evidence"] == "source"
    assert "OpenCV's BGR order" in f.message and "the backbone expects RGB" in f.hint


def test_pixel_evidence_and_code_evidence_make_one_finding(pipeline):
    # Warm photos read by OpenCV: the colours already say "swapped"; the code's reads join that finding.
    body = """
    from keras.applications.vgg16 import preprocess_input

    def batches():
        paths, labels, _ = files_and_labels("six")
        order = np.random.default_rng(3).permutation(len(paths))
        for start in range(0, len(order), 8):
            idx = order[start:start + 8]
            x = np.array([cv2.resize(cv2.imread(paths[i]), (32, 32)) for i in idx], dtype="float32")
            yield preprocess_input(x), np.eye(6)[[labels[i] for i in idx]]
    """
    (f,) = order_findings(pipeline(body), "vgg16")
    assert f.evidence["evidence"] == "colour" and f.evidence["source_reads"]
    assert "never converts them" in f.message


# -- healthy twins: silent -----------------------------------------------------------------------------
HEALTHY = {
    "cvtColor": """
        from keras.applications.resnet50 import preprocess_input

        def batches():
            batch = [cv2.cvtColor(cv2.resize(f, (32, 32)), cv2.COLOR_BGR2RGB) for f, _ in frames()]
            for k in range(0, 48, 8):
                yield preprocess_input(np.stack(batch[k:k + 8]).astype("float32")), np.zeros(8)
        """,
    "reversed-last-axis": """
        from keras.applications.resnet50 import preprocess_input

        def batches():
            x = np.stack([cv2.resize(f, (32, 32)) for f, _ in frames()]).astype("float32")
            x = x[..., ::-1]
            for k in range(0, 48, 8):
                yield preprocess_input(x[k:k + 8].copy()), np.zeros(8)
        """,
    "index-list-keras-io": """
        from keras.applications.resnet50 import preprocess_input

        def batches():
            x = np.stack([cv2.resize(f, (32, 32))[:, :, [2, 1, 0]] for f, _ in frames()]).astype("float32")
            for k in range(0, 48, 8):
                yield preprocess_input(x[k:k + 8]), np.zeros(8)
        """,
    "converted-in-another-module": """
        from keras.applications.resnet50 import preprocess_input
        from order_helpers import to_rgb

        def batches():
            x = np.stack([to_rgb(cv2.resize(f, (32, 32))) for f, _ in frames()]).astype("float32")
            for k in range(0, 48, 8):
                yield preprocess_input(x[k:k + 8]), np.zeros(8)
        """,
    "grayscale-reads": """
        from keras.applications.resnet50 import preprocess_input

        def batches():
            paths, _, _ = files_and_labels("two")
            gray = [cv2.resize(cv2.imread(p, cv2.IMREAD_GRAYSCALE), (32, 32)) for p in paths[:16]]
            x = np.stack([np.stack([g] * 3, axis=-1) for g in gray]).astype("float32")
            for k in range(0, 16, 8):
                yield preprocess_input(x[k:k + 8]), np.zeros(8)
        """,
    "caffe-means-by-hand-on-bgr": """
        def batches():
            # the old Caffe recipe: BGR as read, minus the BGR means; correct for a caffe backbone
            x = np.stack([cv2.resize(f, (32, 32)) for f, _ in frames()]).astype("float32")
            x -= np.array([103.939, 116.779, 123.68], dtype="float32")
            for k in range(0, 48, 8):
                yield x[k:k + 8], np.zeros(8)
        """,
    "size-only-reads": """
        from keras.applications.resnet50 import preprocess_input
        from keras.utils import img_to_array, load_img

        def big_enough(path):
            img = cv2.imread(path)
            if img is None:
                return False
            return min(img.shape[:2]) >= 32 and cv2.imread(path).shape[-1] == 3

        def batches():
            paths, _, _ = files_and_labels("two")
            keep = [p for p in paths[:16] if big_enough(p)]
            x = np.stack([img_to_array(load_img(p, target_size=(32, 32))) for p in keep])
            for k in range(0, 16, 8):
                yield preprocess_input(x[k:k + 8]), np.zeros(8)
        """,
    "resized-copies-written-back-with-imwrite": """
        import os
        import tempfile

        import tensorflow as tf
        from keras.applications.resnet50 import preprocess_input

        def shrink(paths, out):
            for i, path in enumerate(paths):
                img = cv2.imread(path)
                cv2.imwrite(os.path.join(out, f"{i}.png"), cv2.resize(img, (32, 32)))

        def batches():
            paths, _, _ = files_and_labels("two")
            out = tempfile.mkdtemp()
            shrink(paths[:16], out)
            files = sorted(os.listdir(out))
            x = np.stack([tf.io.decode_png(tf.io.read_file(os.path.join(out, f)), 3).numpy() for f in files])
            for k in range(0, 16, 8):
                yield preprocess_input(x[k:k + 8].astype("float32")), np.zeros(8)
        """,
    "tf-gather-channel-list": """
        import tensorflow as tf
        from keras.applications.resnet50 import preprocess_input

        def batches():
            x = np.stack([cv2.resize(f, (32, 32)) for f, _ in frames()]).astype("float32")
            x = tf.gather(x, [2, 1, 0], axis=-1).numpy()
            for k in range(0, 48, 8):
                yield preprocess_input(x[k:k + 8]), np.zeros(8)
        """,
    "opencv-only-in-an-unreached-function": """
        from keras.applications.resnet50 import preprocess_input
        from keras.utils import img_to_array, load_img

        def show(path):  # a debugging helper the pipeline never calls
            cv2.imshow("img", cv2.imread(path))

        def batches():
            paths, _, _ = files_and_labels("two")
            x = np.stack([img_to_array(load_img(p, target_size=(32, 32))) for p in paths[:16]])
            for k in range(0, 16, 8):
                yield preprocess_input(x[k:k + 8]), np.zeros(8)
        """,
}


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_converted_or_unread_bgr_stays_silent(pipeline, name):
    spec = pipeline(
        HEALTHY[name],
        extra={"order_helpers": "def to_rgb(img):\n    return img[..., ::-1]\n"},
    )
    body_uses_caffe_by_hand = name == "caffe-means-by-hand-on-bgr"
    assert order_findings(spec, "vgg16" if body_uses_caffe_by_hand else "resnet50") == []


def test_the_frames_helper_alone_is_a_colour_read(pipeline):
    # The shared HEAD reads BGR frames: without a conversion the same helper makes the bug case fire,
    # so every healthy twin above is silent because of its conversion, not for want of a read.
    from pipecheck.validators.input_range.order_source import scan_order
    from pipecheck.validators.sources import load_source

    scan = scan_order(load_source(pipeline(CAFFE_GREEN_FRAMES), ()))
    assert [text for _, _, text in scan.reads] == ["ok, frame = cap.read()"] and not scan.reorders


def test_a_conversion_inside_the_model_keeps_it_silent(pipeline):
    # The loader keeps OpenCV's BGR; the model (another module) turns it into RGB before preprocess_input.
    body = """
        def batches():
            x = np.stack([cv2.resize(f, (32, 32)) for f, _ in frames()]).astype("float32")
            for k in range(0, 48, 8):
                yield x[k:k + 8], np.eye(2)[np.zeros(8, int)]
        """
    head = """
        import keras
        from keras.applications.mobilenet_v2 import MobileNetV2, preprocess_input
        from stand_ins import pretrained

        def _head(inputs, x):
            x = pretrained(MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None, pooling="avg"))(x)
            return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
        """
    converting = """
        def model():
            inputs = keras.Input((32, 32, 3))
            rgb = keras.layers.Lambda(lambda t: t[..., ::-1])(inputs)
            return _head(inputs, preprocess_input(rgb))
        """
    plain = """
        def model():
            inputs = keras.Input((32, 32, 3))
            return _head(inputs, preprocess_input(inputs))
        """
    spec = pipeline(body, extra={"order_model_rgb": head + converting, "order_model_plain": head + plain})
    assert order_findings(spec, "mobilenet_v2", model="order_model_rgb:model") == []
    (f,) = order_findings(spec, "mobilenet_v2", model="order_model_plain:model")
    assert f.evidence["evidence"] == "source" and f.evidence["preprocess_input"] and f.severity is Severity.WARNING


def test_opencv_rgb_read_flag_is_not_bgr(pipeline):
    from pipecheck.validators.input_range.order_source import scan_order
    from pipecheck.validators.sources import load_source

    body = """
    def batches():
        paths, _, _ = files_and_labels("two")
        rgb = [cv2.imread(p, cv2.IMREAD_COLOR_RGB) for p in paths[:8]]
        bgr = [cv2.imread(p, cv2.IMREAD_COLOR_BGR) for p in paths[:8]]
        yield rgb, bgr
    """
    scan = scan_order(load_source(pipeline(body), ()))
    assert [text for _, _, text in scan.reads] == ["bgr = [cv2.imread(p, cv2.IMREAD_COLOR_BGR) for p in paths[:8]]"]


# -- rules met in real pipelines (a hunt through public OpenCV loaders), read without running them --------
RULES = {
    # silent: a reordering the first version did not see (tf.unstack in a public predict script)
    "tf-unstack-restack": (
        False,
        """
        import tensorflow as tf

        def load(path):
            b, g, r = tf.unstack(tf.constant(cv2.imread(path), tf.float32), axis=-1)
            return preprocess_input(tf.stack([r, g, b], axis=-1))
        """,
    ),
    "cv2-split-dstack": (
        False,
        """
        def load(path):
            b, g, r = cv2.split(cv2.imread(path))
            return preprocess_input(np.dstack([r, g, b]).astype("float32"))
        """,
    ),
    "channels-picked-one-by-one": (
        False,
        """
        def load(path):
            img = cv2.imread(path)
            return preprocess_input(np.dstack((img[:, :, 2], img[:, :, 1], img[:, :, 0])).astype("float32"))
        """,
    ),
    "from-cv2-import-cvtColor": (
        False,
        """
        def load(path):
            from cv2 import COLOR_BGR2RGB, cvtColor, imread

            return preprocess_input(cvtColor(imread(path), COLOR_BGR2RGB).astype("float32"))
        """,
    ),
    # fires: keiohtani/facial_recognition saves the last webcam frame; the others go to the model
    "debug-imwrite-next-to-the-model-path": (
        True,
        """
        def load(path):
            cap = cv2.VideoCapture(path)
            feats = []
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                feats.append(preprocess_input(cv2.resize(frame, (32, 32)).astype("float32")))
            cv2.imwrite("last_frame.jpg", frame)
            return np.stack(feats)
        """,
    ),
    # fires: clecocel/face-rating converts to gray for the face detector and plots in RGB; the crop stays BGR
    "gray-and-display-conversions-only": (
        True,
        """
        import types

        plt = types.SimpleNamespace(imshow=lambda img: None)  # matplotlib.pyplot, not installed here

        def faces(img):
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            return [img[0:32, 0:32]] if gray.mean() >= 0 else []

        def show(img):
            plt.imshow(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))

        def load(path):
            return np.stack([preprocess_input(f.astype("float32")) for f in faces(cv2.imread(path))])
        """,
    ),
    "pandas-column-and-cv2-flip": (
        True,
        """
        def load(table):
            x = [cv2.flip(cv2.imread(p), -1) for p in table.iloc[:, 0]]
            boxes = np.asarray(table.iloc[:, 1:5])[:, 0]
            return preprocess_input(np.stack(x).astype("float32")), boxes
        """,
    ),
    # silent: OpenCV reads that carry no colour to the model (a stranger's review of this check)
    "mask-read-then-gray": (
        False,
        """
        from PIL import Image

        def load(pairs):
            for image_path, mask_path in pairs:
                img = np.asarray(Image.open(image_path).convert("RGB"), "float32")
                mask = cv2.imread(mask_path)
                mask = cv2.cvtColor(mask, cv2.COLOR_BGR2GRAY) > 0
                yield preprocess_input(img[None]), mask[None]
        """,
    ),
    "mask-channel-and-depth-map": (
        False,
        """
        import tensorflow as tf

        def load(triples):
            for image_path, mask_path, depth_path in triples:
                img = tf.io.decode_png(tf.io.read_file(image_path), channels=3)
                mask = cv2.imread(mask_path)[:, :, 0]
                depth = cv2.imread(depth_path, cv2.IMREAD_ANYDEPTH)
                yield preprocess_input(tf.cast(img, tf.float32)[None]), (mask[None], depth[None])
        """,
    ),
    "gray-scan-into-three-channels": (
        False,
        """
        def load(path):
            g = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY)
            return preprocess_input(np.stack([g, g, g], axis=-1).astype("float32"))
        """,
    ),
    "debug-imshow-of-a-read": (
        False,
        """
        from keras.utils import img_to_array, load_img

        def load(path):
            img = cv2.imread(path)
            cv2.imshow("sample", img)
            return preprocess_input(img_to_array(load_img(path)))
        """,
    ),
    "method-take-named-order-array-index-channels-first": (
        False,
        """
        RGB = [2, 1, 0]

        def load(path, how):
            img = cv2.imread(path)
            if how == 0:
                img = img.take([2, 1, 0], axis=-1)
            elif how == 1:
                img = img[:, :, RGB]
            elif how == 2:
                img = img[..., np.array([2, 1, 0])]
            else:
                img = img.transpose(2, 0, 1)[::-1].transpose(1, 2, 0)
            return preprocess_input(img.astype("float32"))
        """,
    ),
    # fires: or-ed flags still read colour
    "or-ed-flags": (
        True,
        """
        def load(path):
            return preprocess_input(cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION).astype("float32"))
        """,
    ),
    "from-cv2-import-imread": (
        True,
        """
        def load(path):
            from cv2 import imread

            return preprocess_input(imread(path).astype("float32"))
        """,
    ),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_rules_from_real_opencv_loaders(pipeline, name):
    import importlib

    from pipecheck.validators.input_range import backbone_info
    from pipecheck.validators.input_range.order_source import channel_order_from_source, scan_order

    fires, body = RULES[name]
    spec = pipeline("from keras.applications.mobilenet_v2 import preprocess_input\n" + textwrap.dedent(body), "load")
    module, fn = spec.split(":")
    scan = scan_order(getattr(importlib.import_module(module), fn))
    found = channel_order_from_source(scan, backbone_info("mobilenet_v2"), "mobilenet_v2")
    assert (found is not None) == fires, (scan.reads, scan.reorders)


def test_each_way_of_reordering_is_seen_alone():
    # The combined healthy case above could pass on one rule; each must be a reordering by itself.
    import ast

    from pipecheck.validators.input_range.order_source import _reorderings

    for text in (
        "img = img.take([2, 1, 0], axis=-1)",
        "img = img[:, :, RGB]",
        "img = img[..., np.array([2, 1, 0])]",
        "img = img.transpose(2, 0, 1)[::-1]",
        "b, g, r = tf.unstack(t, axis=-1)",
        "b, g, r = cv2.split(img)",
        "x = tf.gather(x, [2, 1, 0], axis=-1)",
        "img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)",
        "img = cv2.cvtColor(img, code)",
    ):
        assert len(list(_reorderings(ast.parse(text)))) == 1, text
    for text in (
        "img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)",
        "plt.imshow(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))",
        "img = cv2.flip(img, -1)",
        "col = df.iloc[:, 0]",
        "box = boxes[:, 4]",
        "first = x[..., 0]",
        "items = sorted(items)[::-1]",
        "parts = np.split(x, 3)",
    ):
        assert list(_reorderings(ast.parse(text))) == [], text


def test_a_notebook_cell_is_read_like_a_file(monkeypatch):
    # Jupyter keeps a cell's code in linecache under a made-up file name: the conversion is found there.
    import linecache
    import types

    from pipecheck.validators.input_range.order_source import scan_order

    cell = textwrap.dedent(
        """
        from realworld.pipelines._cv2 import cv2

        def load(path):
            img = cv2.imread(path)
            return convert(img)

        def convert(img):
            return img[..., ::-1]
        """
    )
    name = "/tmp/ipykernel_4242/1234567.py"
    monkeypatch.setitem(linecache.cache, name, (len(cell), None, cell.splitlines(True), name))
    namespace = types.ModuleType("__main__").__dict__
    exec(compile(cell, name, "exec"), namespace)
    scan = scan_order(namespace["load"])
    assert [t for _, _, t in scan.reads] == ["img = cv2.imread(path)"] and scan.reorders
