# Source: StackOverflow question 48385830, as kept by the DeepLocalize benchmark:
#   Wardat-ISU/DeepLocalize, Benchmark/StackOverflow/48385830/Buggy Code/48385830.py
# Original: Nielsen's 784-30-10 MNIST network in Keras: Dense(30) -> Dense(10), both with
#   RandomNormal(stddev=1) kernels and biases and NO activation; SGD(lr=3.0), loss
#   'mean_squared_error', batch 10; inputs /255.
# Bug: the activations are missing (a linear model with a linear output) while Nielsen's learning
#   rate 3.0 is kept: the loss blows up instead of learning (the fix adds sigmoid/softmax and
#   categorical_crossentropy).
# Made small: 32x32x3 inputs flattened (3072 values in place of 784), the /255 as Rescaling(1/255),
#   the six-class sample build (Dense(num_classes) in place of Dense(10)).
import keras
from keras.initializers import RandomNormal
from keras.layers import Dense, Flatten, Rescaling
from keras.models import Sequential
from keras.optimizers import SGD

SOURCE = "StackOverflow 48385830 via Wardat-ISU/DeepLocalize Benchmark/StackOverflow/48385830 (Buggy Code)"
FACTORY = "build"
DATA = "six_class"
HEALTHY = False
MUST_RAISE = {"training.nan"}
MUST_NOT_RAISE: set[str] = set()


def build(num_classes, input_shape):
    keras.utils.set_random_seed(0)
    model = Sequential()
    model.add(keras.Input(input_shape))
    model.add(Rescaling(1.0 / 255))
    model.add(Flatten())
    model.add(Dense(30, kernel_initializer=RandomNormal(stddev=1), bias_initializer=RandomNormal(stddev=1)))
    model.add(Dense(num_classes, kernel_initializer=RandomNormal(stddev=1), bias_initializer=RandomNormal(stddev=1)))
    model.compile(optimizer=SGD(learning_rate=3.0), loss="mean_squared_error", metrics=["accuracy"])
    return model
