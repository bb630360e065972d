# Source: StackOverflow question 47352366, as kept by the DeepLocalize benchmark:
#   Wardat-ISU/DeepLocalize, Benchmark/StackOverflow/47352366/Buggy Code/untitled36.py
#   (fixed twin: ".../Correct Code/untitled36.py", case so47352366_fixed).
# Original: MNIST CNN in Keras: Reshape(28, 28, 1) -> Conv2D(32, 5, same, relu, bias 0.1) ->
#   MaxPooling2D -> Conv2D(64, 5, same, relu, bias 0.1) -> MaxPooling2D -> Dense(1024, relu, bias
#   0.1) -> Dropout(0.5) -> Flatten -> Dense(10, activation="relu"); categorical_crossentropy, 'adam';
#   inputs in [0, 1] (input_data.read_data_sets scales by 1/255).
# Bug: ReLU on the output layer. The loss expects a probability distribution; ReLU outputs are
#   unnormalised, unbounded and die at 0 (accuracy stays low). The fix is activation="softmax".
# Made small: widths 32/64/1024 -> 8/16/64, RGB 32-px input in place of the 784-vector reshaped to
#   28x28x1 (so no Reshape), the [0, 1] scaling as Rescaling(1/255), the six-class sample build.
import keras
from keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Rescaling, Reshape
from keras.models import Sequential

SOURCE = "StackOverflow 47352366 via Wardat-ISU/DeepLocalize Benchmark/StackOverflow/47352366 (Buggy Code)"
FACTORY = "build"
DATA = "six_class"
HEALTHY = False
MUST_RAISE = {"training.logits_as_probabilities"}
MUST_NOT_RAISE: set[str] = set()

OUTPUT_ACTIVATION = "relu"


def build(num_classes, input_shape, output_activation=None):
    bias_initializer = keras.initializers.Constant(value=0.1)
    neurons_nb_layer_1, neurons_nb_layer_2, neurons_nb_layer_3 = 8, 16, 64
    side = input_shape[0] // 4
    model = Sequential()
    model.add(keras.Input(input_shape))
    model.add(Rescaling(1.0 / 255))
    model.add(Conv2D(filters=neurons_nb_layer_1, kernel_size=(5, 5), padding="same", activation="relu",
                     bias_initializer=bias_initializer))
    model.add(MaxPooling2D(padding="same"))
    model.add(Conv2D(filters=neurons_nb_layer_2, kernel_size=(5, 5), padding="same", activation="relu",
                     bias_initializer=bias_initializer))
    model.add(MaxPooling2D(padding="same"))
    model.add(Reshape((1, side * side * neurons_nb_layer_2)))
    model.add(Dense(units=neurons_nb_layer_3, activation="relu", bias_initializer=bias_initializer))
    model.add(Dropout(rate=0.5))
    model.add(Flatten())
    model.add(Dense(units=num_classes, activation=output_activation or OUTPUT_ACTIVATION))
    model.compile(loss=keras.losses.categorical_crossentropy, optimizer="adam", metrics=["accuracy"])
    return model
