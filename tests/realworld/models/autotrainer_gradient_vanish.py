# Source: shiningrain/AUTOTRAINER (ICSE 2021), AutoTrainer/demo_case/Gradient_Vanish_Case/model.h5
#   and config.pkl (architecture read from the .h5's model_config; training config from the pickle:
#   Adam lr 0.001, binary_crossentropy, batch 128, dataset simplednn_circle).
# Original: 8 x Dense(5, activation='sigmoid', kernel_initializer=VarianceScaling(2.0, fan_in,
#   uniform) = he_uniform) -> Dense(1, sigmoid); Adam(0.001), binary_crossentropy; sklearn circles
#   (2 classes, 2 features).
# Bug: a deep stack of sigmoids: the gradient reaching the first layers vanishes (AUTOTRAINER's
#   "gradient vanish" demo; its repair adds ReLU/BatchNorm).
# Made small: the image (32x32x3) flattened in place of the 2 features, scaled by Rescaling(1/255);
#   the two-class build. Widths unchanged (already 5).
import keras
from keras.layers import Dense, Flatten, Input, Rescaling
from keras.models import Sequential

SOURCE = "shiningrain/AUTOTRAINER AutoTrainer/demo_case/Gradient_Vanish_Case (model.h5, config.pkl)"
FACTORY = "build"
DATA = "two_class"
HEALTHY = False
MUST_RAISE = {"training.vanishing_gradients"}
MUST_NOT_RAISE: set[str] = set()


def build(num_classes, input_shape):
    keras.utils.set_random_seed(0)
    init = keras.initializers.VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform")
    model = Sequential([Input(input_shape), Rescaling(1.0 / 255), Flatten()])
    for _ in range(8):
        model.add(Dense(5, activation="sigmoid", kernel_initializer=init))
    model.add(Dense(1, activation="sigmoid", kernel_initializer=init))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model
