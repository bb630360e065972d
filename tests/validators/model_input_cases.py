"""Models that preprocess inside, written the way their sources write them, and the raw batches they eat.

Each factory keeps its source's layer stack and shrinks only the input size; ``weights=None`` (no
download), marked as the pretrained weights the sources load with ``stand_ins.pretrained``. Used by
test_model_input.py through ``--model model_input_cases:<factory>``.
"""

from __future__ import annotations

import numpy as np
from input_range_sources import photos
from stand_ins import pretrained

SIZE = 32


def raw_batches(size: int = SIZE):
    """What ``image_dataset_from_directory`` yields: float32 RGB in [0, 255], integer labels."""
    x = photos(size)
    y = np.arange(len(x)) % 2
    for start in range(0, len(x), 4):
        yield x[start : start + 4], y[start : start + 4]


def tutorial_batches_preprocessed(size: int = SIZE):
    """The same batches with mobilenet_v2.preprocess_input already applied in the data pipeline."""
    from keras.applications.mobilenet_v2 import preprocess_input

    for x, y in raw_batches(size):
        yield np.asarray(preprocess_input(x.copy())), y


def rescaled_batches(size: int = SIZE):
    """The same batches divided by 255 in the data pipeline (seed 001's ``rescale=1./255``)."""
    for x, y in raw_batches(size):
        yield x / 255.0, y


def vgg_encoder_with_a_batchnorm_head(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """A VGG16 (no BatchNormalization of its own; ImageNet weights in real use) wrapped in an encoder
    model whose head adds a fresh BatchNormalization, called after a RandomFlip. The encoder is not a
    keras.applications model and the walk finds no backbone inside it past VGG's first conv: the
    head's fresh statistics must not make the backbone count as untrained."""
    import keras

    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=input_shape)
    head = keras.layers.BatchNormalization()(keras.layers.GlobalAveragePooling2D()(base.output))
    encoder = keras.Model(base.input, head, name="encoder")
    inputs = keras.Input(shape=input_shape)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(encoder(keras.layers.RandomFlip()(inputs)))
    return keras.Model(inputs, outputs)


def tf_transfer_learning_tutorial(input_shape=(SIZE, SIZE, 3)):
    """https://www.tensorflow.org/tutorials/images/transfer_learning ("Create the base model from the
    pre-trained convnets" and "Build the model"): augmentation, then mobilenet_v2.preprocess_input on the
    model's input, then the frozen base called with training=False. Healthy: the batches stay raw."""
    import keras
    import tensorflow as tf

    data_augmentation = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomRotation(0.2),
        ]
    )
    preprocess_input = tf.keras.applications.mobilenet_v2.preprocess_input
    base_model = pretrained(tf.keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights=None))
    base_model.trainable = False
    inputs = keras.Input(shape=input_shape)
    x = data_augmentation(inputs)
    x = preprocess_input(x)
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.0001),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def keras_io_xception_rescaling(input_shape=(SIZE * 3, SIZE * 3, 3)):
    """https://keras.io/guides/transfer_learning/ ("An end-to-end example"): Xception's [-1, 1] range
    made inside the model by ``Rescaling(scale=1 / 127.5, offset=-1)``. Healthy on raw batches."""
    import keras

    base_model = pretrained(keras.applications.Xception(weights=None, input_shape=input_shape, include_top=False))
    base_model.trainable = False
    inputs = keras.Input(shape=input_shape)
    scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
    x = scale_layer(inputs)
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1)(x)
    return keras.Model(inputs, outputs)


def lambda_preprocess_resnet(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """A common pattern (e.g. StackOverflow answers on ResNet50 fine-tuning): ``Lambda(preprocess_input)``
    as the first layer of a Sequential. Healthy on raw batches."""
    import keras
    from keras.applications.resnet50 import preprocess_input

    return pretrained(
        keras.Sequential(
            [
                keras.Input(shape=input_shape),
                keras.layers.Lambda(preprocess_input),
                keras.applications.ResNet50(include_top=False, weights=None, input_shape=input_shape, pooling="avg"),
                keras.layers.Dense(num_classes, activation="softmax"),
            ]
        )
    )


def rescaling_before_resnet(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """The seed-001 bug moved into the model: ``Rescaling(1/255)`` in front of ResNet50, which expects
    caffe-mode input. The data are raw; the backbone receives [0, 1]."""
    import keras

    return pretrained(
        keras.Sequential(
            [
                keras.Input(shape=input_shape),
                keras.layers.Rescaling(1.0 / 255),
                keras.applications.ResNet50(include_top=False, weights=None, input_shape=input_shape, pooling="avg"),
                keras.layers.Dense(num_classes, activation="softmax"),
            ]
        )
    )


def keras_guide_resnet50_from_scratch(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """https://keras.io/guides/preprocessing_layers/ ("Image data augmentation"): ``Rescaling(1.0 / 255)`` then
    ``keras.applications.ResNet50(weights=None, ...)`` trained from scratch. Healthy: with no ImageNet
    weights there are no ImageNet input statistics to match, so [0, 1] input is a choice, not a bug."""
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    outputs = keras.applications.ResNet50(weights=None, input_shape=input_shape, classes=num_classes)(x)
    return keras.Model(inputs, outputs)


def supcon_classifier(input_shape=(SIZE, SIZE, 3), num_classes=2, mark_pretrained=False):
    """https://keras.io/examples/vision/supervised-contrastive-learning/: an encoder model (the data
    augmentation Sequential: adapted Normalization, RandomFlip, RandomRotation, RandomWidth, RandomHeight,
    then ResNet50V2) nested in the classifier. The stage runs inside the encoder up to ResNet50V2."""
    import keras
    import tensorflow as tf

    x_train = np.concatenate([x for x, _ in raw_batches(input_shape[0])])
    data_augmentation = keras.Sequential(
        [
            keras.layers.Normalization(),
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomRotation(0.02),
            tf.keras.layers.RandomWidth(0.2),  # tf.keras's, as the example imports them (Keras 3: legacy layers)
            tf.keras.layers.RandomHeight(0.2),
        ]
    )
    data_augmentation.layers[0].adapt(x_train)
    resnet = keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=input_shape, pooling="avg")
    if mark_pretrained:
        pretrained(resnet)
    inputs = keras.Input(shape=input_shape)
    encoder = keras.Model(inputs=inputs, outputs=resnet(data_augmentation(inputs)), name="cifar10-encoder")
    inputs = keras.Input(shape=input_shape)
    features = keras.layers.Dropout(0.5)(encoder(inputs))
    outputs = keras.layers.Dense(num_classes, activation="softmax")(keras.layers.Dense(32, activation="relu")(features))
    return keras.Model(inputs=inputs, outputs=outputs, name="cifar10-classifier")


def efficientnet_itself(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """EfficientNetB0 as the whole model (keras.io "Image classification via fine-tuning with
    EfficientNet", built with ``input_tensor=`` after augmentation): its own Rescaling and Normalization
    layers are the backbone's, not a preprocessing step of the user's. Healthy on raw batches."""
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.RandomFlip()(inputs)
    return pretrained(
        keras.applications.EfficientNetB0(include_top=True, weights=None, input_tensor=x, classes=num_classes)
    )


# --- keras-hub (issue 15 item 1): a preprocessor in the model, built from configs, no weights download ---
# keras-hub's converters as its presets publish them (preprocessor.json of each preset, Kaggle/HF "keras/..."):
# resnet_v2_50_imagenet converts with scale 1/127.5, offset -1 ([-1, 1], what keras.applications ResNet50V2
# expects); resnet_50_imagenet with the ImageNet mean/std (torch mode).
KERAS_HUB_TF_SCALE, KERAS_HUB_TF_OFFSET = [1 / 127.5] * 3, [-1.0] * 3
KERAS_HUB_TORCH_SCALE = [1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)]
KERAS_HUB_TORCH_OFFSET = [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]


def _keras_hub_resnet_v2_task(input_shape, num_classes, scale, offset):
    """keras_hub.models.ResNetImageClassifier as the resnet_v2_50_imagenet preset's task.json builds it
    (ResNetBackbone config: one 7x7 input conv of 64, stacks of 3/4/6/3 bottleneck blocks with
    pre-activation; ResNetImageClassifierPreprocessor wrapping a ResNetImageConverter, bicubic,
    crop_to_aspect_ratio), from the config with random weights; the converter's size follows the input
    (the preset's is 224). keras-hub keeps the preprocessor outside the graph: fit/predict apply it."""
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        use_pre_activation=True,
        image_shape=tuple(input_shape),
    )
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=tuple(input_shape[:2]),
        scale=scale,
        offset=offset,
        interpolation="bicubic",
        crop_to_aspect_ratio=True,
    )
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    return pretrained(
        keras_hub.models.ResNetImageClassifier(backbone=backbone, num_classes=num_classes, preprocessor=preprocessor)
    )


def keras_hub_resnet_v2_task(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """The resnet_v2_50_imagenet task with its own [-1, 1] converter: healthy on raw [0, 255] batches
    (--backbone resnet50v2); with batches the data pipeline already scaled to [-1, 1], tf mode runs twice."""
    return _keras_hub_resnet_v2_task(input_shape, num_classes, KERAS_HUB_TF_SCALE, KERAS_HUB_TF_OFFSET)


def keras_hub_resnet_v2_task_torch_converter(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """The same v2 task given the v1 preset's preprocessor (resnet_50_imagenet: ImageNet mean/std): a
    converter copied from the wrong preset. The backbone receives torch-mode input where it expects [-1, 1]."""
    return _keras_hub_resnet_v2_task(input_shape, num_classes, KERAS_HUB_TORCH_SCALE, KERAS_HUB_TORCH_OFFSET)


def keras_hub_classifier_keras_backbone(input_shape=(SIZE, SIZE, 3), num_classes=2):
    """keras_hub.models.ImageClassifier around a keras.applications MobileNetV2 (its docs: "backbone: A
    keras_hub.models.Backbone instance or a keras.Model") with an ImageClassifierPreprocessor whose
    ImageConverter gives MobileNetV2's [-1, 1]. Healthy on raw batches (--backbone mobilenet_v2)."""
    import keras
    import keras_hub

    backbone = pretrained(keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights=None))
    converter = keras_hub.layers.ImageConverter(image_size=tuple(input_shape[:2]), scale=1 / 127.5, offset=-1)
    preprocessor = keras_hub.models.ImageClassifierPreprocessor(image_converter=converter)
    return keras_hub.models.ImageClassifier(backbone=backbone, num_classes=num_classes, preprocessor=preprocessor)


def _converter_layer_before_mobilenet(input_shape, scale, offset):
    import keras
    import keras_hub

    inputs = keras.Input(shape=input_shape)
    x = keras_hub.layers.ImageConverter(scale=scale, offset=offset)(inputs)
    base = pretrained(keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights=None))
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def keras_hub_converter_layer_mobilenet(input_shape=(SIZE, SIZE, 3)):
    """keras_hub.layers.ImageConverter called as the model's first layer (a keras.Layer, like Rescaling in the
    keras.io transfer-learning guide) with scale 1/127.5, offset -1 before MobileNetV2. Healthy on raw."""
    return _converter_layer_before_mobilenet(input_shape, 1 / 127.5, -1.0)


def keras_hub_converter_layer_0_1_mobilenet(input_shape=(SIZE, SIZE, 3)):
    """The ImageConverter docs' own first example, ``scale=1. / 255`` ("scale them to [0, 1]"), put before
    MobileNetV2, which expects [-1, 1]: the wrong scale for the backbone."""
    return _converter_layer_before_mobilenet(input_shape, 1 / 255, None)


def learned_resizer_densenet121(input_shape=(SIZE, SIZE, 3), num_classes=2, mark_pretrained=False):
    """https://keras.io/examples/vision/learnable_resizer/: ``Rescaling(1/255)``, then a learned resizer
    (a nested conv net with BatchNormalization: a bilinear resize plus a learned residual), then
    ``DenseNet121(weights=None)`` trained from scratch. The walk stops at the resizer (weights, not a
    backbone); DenseNet121's own statistics say whether ImageNet preprocessing applies."""
    import keras
    from stand_ins import pretrained

    inputs = keras.Input(shape=input_shape)
    naive = keras.layers.Resizing(input_shape[0], input_shape[1])(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(3, 1, padding="same")(x)
    resizer = keras.Model(inputs, keras.layers.Add()([naive, x]), name="learnable_resizer")
    densenet = keras.applications.DenseNet121(weights=None, input_shape=input_shape, classes=num_classes)
    if mark_pretrained:
        pretrained(densenet)
    outer = keras.Input(shape=input_shape)
    return keras.Model(outer, densenet(resizer(keras.layers.Rescaling(1.0 / 255)(outer))))
