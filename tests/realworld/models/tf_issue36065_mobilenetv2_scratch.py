# Source: tensorflow/tensorflow issue 36065, "tf.keras MobileNetV2 with weights=None fails to train"
#   (https://github.com/tensorflow/tensorflow/issues/36065); related: keras-team/keras issue 6839
#   (BatchNorm momentum 0.9997 vs 0.99 when training MobileNet from scratch).
# Original: the TF transfer-learning tutorial's Cats vs Dogs model with the base trained from scratch:
#   base_model = MobileNetV2(input_shape=(160, 160, 3), include_top=False, weights=None), trainable;
#   Sequential([base_model, GlobalAveragePooling2D(), Dense(1)]); RMSprop(lr=0.0001),
#   BinaryCrossentropy(from_logits=True); images scaled to [-1, 1] in the input pipeline; 10 epochs
#   of ~63 steps (2000 images, batch 32). Training accuracy rises, validation stays at 50%.
# Bug: MobileNetV2's BatchNormalization layers use momentum 0.999: in a run of ~630 steps the moving
#   statistics used at inference keep most of their initial values, so inference-mode outputs are
#   meaningless while training-mode ones improve.
# Made small: alpha=0.35, 32-px input, the [-1, 1] scaling as Rescaling(1/127.5, offset=-1), the
#   two-class build. --run-steps 630 tells train-check the length of the original run.
import tensorflow as tf

SOURCE = "tensorflow/tensorflow#36065 (MobileNetV2 weights=None fails to train)"
FACTORY = "build"
DATA = "two_class"
HEALTHY = False
MUST_RAISE = {"training.bn_momentum_high"}
MUST_NOT_RAISE: set[str] = set()
EXTRA_ARGS = ("--run-steps", "630")


def build(num_classes, input_shape):
    base_model = tf.keras.applications.MobileNetV2(input_shape=input_shape, include_top=False, weights=None,
                                                   alpha=0.35)
    model = tf.keras.Sequential([
        tf.keras.Input(input_shape),
        tf.keras.layers.Rescaling(1.0 / 127.5, offset=-1),
        base_model,
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(1),
    ])
    base_learning_rate = 0.0001
    model.compile(optimizer=tf.keras.optimizers.RMSprop(learning_rate=base_learning_rate),
                  loss=tf.keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    return model
